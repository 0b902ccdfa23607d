"""Figures for the lessons. matplotlib is imported here only, never by ``import gradcheck_edu``.

Every function draws on ``ax`` when given (or a new figure) and returns the Figure; numbers
shown on a plot come from the library, never typed in.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .check import DEFAULT_THRESHOLDS, Verdict
from .finite_diff import (
    PrecisionWarning,
    central_difference,
    error_vs_eps,
    fit_order,
    forward_difference,
)

__all__ = [
    "plot_secants",
    "plot_error_vs_eps",
    "plot_taylor",
    "plot_taylor_pair",
    "plot_gradient_check",
    "plot_mismatch_heatmap",
    "plot_lr_finder",
    "plot_activation_histograms",
    "plot_activation_comparison",
    "plot_curve_comparison",
    "plot_training_curves",
    "plot_checklist",
    "plot_runs",
    "DEFAULT_EPS",
]

DEFAULT_EPS = np.logspace(-16, -1, 61)
METHOD_STYLE = {"forward": ("tab:blue", "o"), "backward": ("tab:cyan", "v"),
                "central": ("tab:orange", "s"), "richardson": ("tab:green", "D"),
                "complex": ("tab:purple", "^")}
VERDICT_COLORS = {Verdict.EXCELLENT: "#1a7f37", Verdict.ACCEPTABLE: "#8fbc5a",
                  Verdict.SUSPICIOUS: "#e0a030", Verdict.WRONG: "#c62828"}


def _axes(ax, figsize=(6.4, 4.4)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def plot_secants(f: Callable[[float], float], theta: float = 1.0, eps: float = 0.01,
                 exact: float | None = None, show_eps: float = 0.3):
    """The secant picture, in two panels.

    Left: the curve, its tangent at theta, the one-sided secant through theta and theta+h and
    the two-sided secant through theta-h and theta+h, drawn with a large ``show_eps`` so the
    triangles are visible. Right: the slopes at the real ``eps`` against the exact derivative
    (errors on a log scale), computed by ``forward_difference`` and ``central_difference``.
    """
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    h = show_eps
    f0 = f(theta)
    t = np.linspace(theta - 2.2 * h, theta + 2.2 * h, 300)
    ax.plot(t, [f(v) for v in t], color="black", lw=2, label="f(θ)")
    if exact is not None:
        ax.plot(t, f0 + exact * (t - theta), color="gray", ls=":", lw=2,
                label=f"tangent, slope {exact:g}")
    fwd_big = (f(theta + h) - f0) / h
    cen_big = (f(theta + h) - f(theta - h)) / (2 * h)
    ax.plot(t, f0 + fwd_big * (t - theta), color="tab:blue", lw=1.5,
            label=f"one-sided secant (θ, θ+h): slope {fwd_big:.3f}")
    ax.plot(t, f(theta - h) + cen_big * (t - theta + h), color="tab:orange", lw=1.5, ls="--",
            label=f"two-sided secant (θ−h, θ+h): slope {cen_big:.3f}")
    ax.plot([theta, theta + h, theta + h], [f0, f0, f(theta + h)], color="tab:blue", lw=1)
    ax.plot([theta - h, theta + h, theta + h], [f(theta - h), f(theta - h), f(theta + h)],
            color="tab:orange", lw=1, ls="--")
    ax.plot([theta - h, theta, theta + h], [f(theta - h), f0, f(theta + h)], "o", color="black")
    ax.set_xlabel("θ")
    ax.set_ylabel("f(θ)")
    ax.set_title(f"Secants at θ = {theta:g}, drawn with h = {h:g}")
    ax.legend(fontsize=8, loc="upper left")

    fwd = forward_difference(f, theta, eps=eps)
    cen = central_difference(f, theta, eps=eps)
    labels = [f"one-sided\n{fwd:.4f}", f"two-sided\n{cen:.4f}"]
    if exact is not None:
        errors = [abs(fwd - exact), abs(cen - exact)]
        bars = bx.bar(labels, errors, color=["tab:blue", "tab:orange"], edgecolor="black")
        for bar, err in zip(bars, errors):
            bx.text(bar.get_x() + bar.get_width() / 2, err * 1.3, f"error {err:.4f}",
                    ha="center", fontsize=10)
        bx.set_yscale("log")
        bx.set_ylim(min(errors) / 10, max(errors) * 10)
        bx.set_ylabel(f"|estimate − g(θ)|, g(θ) = {exact:g}")
    else:
        bx.bar(labels, [fwd, cen], color=["tab:blue", "tab:orange"])
    bx.set_title(f"At ε = {eps:g}: 1 vs 2 evaluations per component")
    return fig


def error_table(f: Callable, theta: Any, exact: Any, methods=("forward", "backward", "central",
                                                             "richardson", "complex"),
                eps_values: Any = DEFAULT_EPS, dtype: Any = np.float64) -> dict[str, dict]:
    """For each method: errors over ``eps_values``, the fitted truncation order (or None), the
    best eps and its error, and the fitted slope of the round-off side (or None).

    Keys of each row: ``errors``, ``order``, ``best_eps``, ``best_error``, ``roundoff_slope``.
    The complex step is skipped for dtypes other than float64.
    """
    out = {}
    theta_arr = np.array(theta, dtype=dtype)  # 0-d: f sees a number of the chosen precision
    for method in methods:
        if method == "complex" and np.dtype(dtype) != np.float64:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            errors = error_vs_eps(f, theta_arr.copy(), np.asarray(exact, dtype=np.float64),
                                  eps_values, method)
        try:
            order = fit_order(eps_values, errors)
        except ValueError:
            order = None
        finite = np.isfinite(errors) & (errors > 0)
        best = float(np.asarray(eps_values)[finite][np.argmin(errors[finite])]) \
            if finite.any() else None
        best_error = float(np.min(errors[finite])) if finite.any() else 0.0
        out[method] = {"errors": errors, "order": order, "best_eps": best,
                       "best_error": best_error,
                       "roundoff_slope": _roundoff_slope(eps_values, errors, best, best_error)}
    return out


def _roundoff_slope(eps_values: Any, errors: Any, best_eps: float | None,
                    best_error: float) -> float | None:
    """Log-log slope of the error on the round-off side: steps below the best one whose error
    is at least 30 times the best error (the mirror image of ``fit_order``'s selection), or
    None when fewer than three such steps exist (the complex step has no round-off side)."""
    if best_eps is None:
        return None
    eps = np.asarray(eps_values, dtype=np.float64)
    err = np.asarray(errors, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        side = np.isfinite(err) & (err > 0) & (eps < best_eps) & (err >= 30 * best_error)
    if side.sum() < 3:
        return None
    return float(np.polyfit(np.log(eps[side]), np.log(err[side]), 1)[0])


def plot_error_vs_eps(f: Callable, theta: Any, exact: Any,
                      methods=("forward", "backward", "central", "richardson", "complex"),
                      eps_values: Any = DEFAULT_EPS, dtype: Any = np.float64, ax=None):
    """Log-log error against eps per method, with the fitted truncation and round-off slopes in
    the legend, the best eps of each method marked, and the round-off estimate
    ``EPS * |f| / eps`` (slope -1) drawn over the steps where round-off dominates.

    Steps below the float's resolution at theta (``theta + eps == theta``) have no estimate and
    are left out; the x axis spans the steps that have one.
    """
    fig, ax = _axes(ax, figsize=(10.4, 4.8))
    eps_values = np.asarray(eps_values, dtype=np.float64)
    table = error_table(f, theta, exact, methods, eps_values, dtype)
    floor, top = 1e-17, 10.0
    for method, row in table.items():
        color, marker = METHOD_STYLE[method]
        errors = np.where(row["errors"] > 0, row["errors"], np.nan)
        label = "no truncation side in this range" if row["order"] is None else \
            f"slope {row['order']:.2f}"
        if row["roundoff_slope"] is not None:
            label += f", round-off side {row['roundoff_slope']:.2f}"
        elif method == "complex":
            label += ", no round-off side"
        ax.loglog(eps_values, np.maximum(errors, floor), marker=marker, ms=3, lw=1.2,
                  color=color, label=f"{method}: {label}")
        if row["best_eps"] is not None:
            ax.plot(row["best_eps"], max(row["best_error"], floor), marker="*", ms=14,
                    color=color, markeredgecolor="black")
    has_data = np.zeros(eps_values.shape, dtype=bool)
    for row in table.values():
        has_data |= np.isfinite(row["errors"])
    positive = [row["errors"][np.isfinite(row["errors"]) & (row["errors"] > 0)]
                for row in table.values()]
    bottom = max(floor, 0.1 * min((float(p.min()) for p in positive if p.size), default=floor))
    if has_data.any():
        lo, hi = eps_values[has_data].min(), eps_values[has_data].max()
        ax.set_xlim(lo / 2, hi * 2)
        if (eps_values < lo).any():
            ax.text(0.99, 0.02, f"ε < {lo:.0e}: no estimate, θ + ε == θ in "
                    f"{np.dtype(dtype).name}", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=8, color="dimgray")
        # the round-off estimate, EPS * |f| / eps, from the smallest step to the best step of
        # the methods that have a round-off side, where it is on the plot
        ends = [row["best_eps"] for row in table.values() if row["roundoff_slope"] is not None]
        f_scale = max(abs(float(np.sum(f(np.asarray(theta, dtype=np.float64))))), 1.0)
        guide = eps_values[(eps_values >= lo) & (eps_values <= min(ends, default=0.0))]
        level = np.finfo(dtype).eps * f_scale / guide
        guide, level = guide[level <= top], level[level <= top]
        if guide.size >= 2:
            ax.loglog(guide, level, color="gray", ls="--", lw=1.5,
                      label=f"round-off ≈ EPS·|f| / ε, EPS = {np.finfo(dtype).eps:.1e}")
    ax.set_xlabel("step ε")
    ax.set_ylabel("|estimate − exact|")
    ax.set_title(f"Error against step ({np.dtype(dtype).name}): fitted log-log slopes; "
                 "★ = best ε", fontsize=11)
    if ax.figure is fig and len(fig.axes) == 1:  # a figure of its own: legend beside the data
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7, loc="lower left")
    ax.set_ylim(bottom, top)
    return fig


def plot_taylor(result: Any, ax=None, label: str | None = None):
    """Taylor remainder against h, log-log, with reference slopes 1 and 2.

    The reference lines start just below the remainder at the smallest step, where the rate is
    fitted, and span three decades of h: the remainder runs parallel to one of them.
    """
    fig, ax = _axes(ax)
    h, r = np.asarray(result.steps), np.asarray(result.remainders)
    ax.loglog(h, np.maximum(r, 1e-300), "o-", color=VERDICT_COLORS[result.verdict],
              label=label or f"rate {result.rate:.2f}: {result.verdict.name}")
    positive = np.flatnonzero(r > 0)
    if positive.size:
        k = positive[np.argmin(h[positive])]
        anchor_h, anchor_r = h[k], r[k] / 4  # just below the data, so both lines show
        near = h[h <= 1e3 * anchor_h]
        ax.loglog(near, anchor_r * (near / anchor_h), color="gray", ls="--", lw=1,
                  label="slope 1")
        ax.loglog(near, anchor_r * (near / anchor_h) ** 2, color="gray", ls=":", lw=1.5,
                  label="slope 2")
    ax.set_xlabel("h")
    ax.set_ylabel("|f(θ+hv) − f(θ) − h ∇f·v|")
    ax.set_title("Taylor test")
    ax.legend(fontsize=9)
    return fig


def plot_taylor_pair(right: Any, wrong: Any):
    """A right and a wrong gradient side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained", sharey=True)
    plot_taylor(right, ax=axes[0], label=f"right gradient: rate {right.rate:.2f}")
    plot_taylor(wrong, ax=axes[1], label=f"wrong gradient: rate {wrong.rate:.2f}")
    axes[0].set_title("right gradient")
    axes[1].set_title("wrong gradient")
    return fig


def plot_gradient_check(report: Any, ax=None, floor: float = 1e-13):
    """Per-parameter relative errors (log scale) over the verdict bands.

    Every checked parameter gets a bar labelled with its relative error. Errors below
    ``floor`` (0 included) are drawn up to the floor, hatched, and labelled ``< floor``.
    """
    fig, ax = _axes(ax)
    rows = [r for r in report.per_parameter.values() if r.verdict is not None]
    names = [r.name for r in rows]
    errors = [float(r.relative_error) for r in rows]
    below = [e < floor for e in errors]
    values = [floor if low else (1.0 if np.isnan(e) else e) for low, e in zip(below, errors)]
    bottom = floor / 10
    t = report.thresholds or DEFAULT_THRESHOLDS
    bands = [(bottom, t[0], Verdict.EXCELLENT), (t[0], t[1], Verdict.ACCEPTABLE),
             (t[1], t[2], Verdict.SUSPICIOUS), (t[2], 1.0, Verdict.WRONG)]
    for lo, hi, verdict in bands:
        ax.axhspan(lo, hi, color=VERDICT_COLORS[verdict], alpha=0.15)
        ax.text(1.01, np.sqrt(lo * hi) if lo > bottom else hi / 30, verdict.name,
                transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=8,
                color=VERDICT_COLORS[verdict])
    bars = ax.bar(names, values, bottom=bottom, color=[VERDICT_COLORS[r.verdict] for r in rows],
                  edgecolor="black")
    for bar, value, error, low in zip(bars, values, errors, below):
        if low:
            bar.set_hatch("//")
        text = f"< {floor:.0e}" if low else f"{error:.1e}"
        x = bar.get_x() + bar.get_width() / 2
        if value > 1e-2:  # no room above: write it inside the top of the bar
            ax.text(x, value / 2, text, ha="center", va="top", fontsize=8, color="white")
        else:
            ax.text(x, value * 2, text, ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(bottom, 1.0)
    ax.set_ylabel("relative error of each parameter's gradient")
    ax.set_title(f"Gradient check: {report.verdict.name} "
                 f"(relative error {report.relative_error:.1e})")
    return fig


def plot_mismatch_heatmap(report: Any, name: str, ax=None):
    """|analytic − numerical| of one 2-D (or 1-D) parameter as a heat map."""
    fig, ax = _axes(ax, figsize=(5.6, 4.4))
    a = np.atleast_2d(np.asarray(report.analytic[name], dtype=np.float64))
    n = np.atleast_2d(np.asarray(report.numerical[name], dtype=np.float64))
    image = ax.imshow(np.abs(a - n), cmap="magma", aspect="auto")
    fig.colorbar(image, ax=ax, label="|analytic − numerical|")
    ax.set_title(f"{name}: where the gradient is wrong")
    from matplotlib.ticker import MaxNLocator

    for axis, size in ((ax.xaxis, a.shape[1]), (ax.yaxis, a.shape[0])):
        if size <= 16:
            axis.set_ticks(range(size))
        else:
            axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"column j of {name}")
    ax.set_ylabel(f"row i of {name}")
    return fig


def plot_activation_comparison(left: list, right: list,
                               titles: tuple[str, str] = ("healthy", "unhealthy"), bins: int = 40):
    """Two networks' activations side by side: one column per network, two rows per layer.

    Parameters
    ----------
    left, right : list of dict
        ``diagnose.activation_stats(model, X)`` of each network (the same layers).
    titles : (str, str)
        Column titles.

    The upper row of a layer is the histogram of its activation values (shared bins, counts on
    a log scale so the tail shows next to the spike at 0). The lower row shows each unit: the
    fraction of the samples on which it is active (ReLU: output > 0), or saturated
    (tanh, sigmoid), sorted; a ReLU unit active on no sample is dead, drawn in red.
    """
    import matplotlib.pyplot as plt

    from .diagnose.model_checks import RELU_KINDS, saturated

    if len(left) != len(right):
        raise ValueError(f"the two networks have {len(left)} and {len(right)} activation "
                         "layers; compare networks of the same architecture")
    n = max(len(left), 1)
    fig, axes = plt.subplots(2 * n, 2, figsize=(10, 5.2 * n), layout="constrained",
                             squeeze=False, height_ratios=[3, 2] * n)
    for k, pair in enumerate(zip(left, right)):
        values = [np.ravel(s["values"]) for s in pair]
        edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
        for col, (s, v, title) in enumerate(zip(pair, values, titles)):
            relu = s["kind"] in RELU_KINDS
            ax, bx = axes[2 * k, col], axes[2 * k + 1, col]
            ax.hist(v, bins=edges, color="tab:blue")
            ax.set_yscale("log")
            if s.get("dead") is None:
                health = "dead/saturated not judged"
            elif relu:
                health = f"dead {s['dead']:.0%} of units"
            else:
                health = f"saturated {s['saturated']:.0%} of values"
            ax.set_title(f"{title}\nlayer {s['layer']} {s['kind']}: {health}", fontsize=10)
            ax.set_xlabel("activation value")
            ax.set_ylabel("count (log scale)")
            a = np.asarray(s["values"])
            sat = saturated(s["kind"], a)
            if relu:
                per_unit = np.mean(a > 0, axis=0)
                what = "active (> 0)"
            elif sat is not None:
                per_unit = np.mean(sat, axis=0)
                what = "saturated"
            else:  # a nonlinearity we cannot judge: no per-unit panel
                bx.axis("off")
                continue
            per_unit = np.sort(per_unit)
            bx.bar(np.arange(per_unit.size), per_unit, width=1.0, color="tab:blue")
            n_dead = int(np.sum(per_unit == 0)) if relu else 0
            if n_dead:  # sorted: the dead units come first
                bx.axvspan(-0.5, n_dead - 0.5, color=VERDICT_COLORS[Verdict.WRONG], alpha=0.25)
                bx.text(0.01, 0.95, f"shaded: {n_dead} of {per_unit.size} units active on no "
                        "sample (dead)", transform=bx.transAxes, va="top", fontsize=8,
                        color=VERDICT_COLORS[Verdict.WRONG])
            bx.set_ylim(0, 1)
            bx.set_xlim(-0.5, per_unit.size - 0.5)
            bx.set_xlabel("unit (sorted)")
            bx.set_ylabel(f"fraction of samples\n{what}")
    return fig


def plot_curve_comparison(histories: list, titles: list[str], chance_loss: float | None = None):
    """Learning curves of several runs side by side, one panel each (``plot_training_curves``),
    with the y axes shared so the losses compare at a glance, and the loss at chance as a
    dotted line when ``chance_loss`` is given."""
    import matplotlib.pyplot as plt

    if len(histories) != len(titles):
        raise ValueError(f"{len(histories)} histories but {len(titles)} titles: give one title "
                         "per history")
    fig, axes = plt.subplots(1, len(histories), figsize=(5.2 * len(histories), 4),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, history, title in zip(axes[0], histories, titles):
        plot_training_curves(history, ax=ax)
        if chance_loss is not None:
            ax.axhline(chance_loss, color="gray", ls=":", lw=1.5,
                       label=f"loss at chance {chance_loss:.3g}")
            ax.legend(fontsize=9)
        ax.set_title(title)
    return fig


def plot_lr_finder(result: Any, ax=None):
    """LR range test: smoothed loss against the learning rate, with the suggestion marked."""
    fig, ax = _axes(ax)
    ax.semilogx(result.lrs, result.raw_losses, color="lightgray", lw=1, label="loss per step")
    ax.semilogx(result.lrs, result.losses, color="tab:blue", lw=2, label="smoothed")
    ax.axvline(result.suggestion, color="tab:green", ls="--",
               label=f"suggestion {result.suggestion:.2g}")
    if result.diverged_at is not None:
        ax.axvline(result.diverged_at, color="tab:red", ls=":",
                   label=f"diverged at {result.diverged_at:.2g}")
    top = np.nanmax(result.losses) if len(result.losses) else 1.0
    ax.set_ylim(0, 1.2 * top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test")
    ax.legend(fontsize=9)
    return fig


def plot_activation_histograms(stats: list, title: str = "", axes=None):
    """One histogram per activation layer, with its dead/saturated fractions."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, max(len(stats), 1), figsize=(3.6 * max(len(stats), 1), 3.2),
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    else:
        fig = axes[0].figure
    for ax, s in zip(axes, stats):
        _activation_histogram(s, ax)
    if title:
        fig.suptitle(title)
    return fig


def _activation_histogram(s: dict, ax) -> None:
    """One layer's activation values, titled with its dead/saturated fractions (when its
    nonlinearity is known)."""
    ax.hist(np.ravel(s["values"]), bins=40, color="tab:blue")
    health = ("dead/saturated not judged" if s["dead"] is None else
              f"dead {s['dead']:.0%}, saturated {s['saturated']:.0%}")
    ax.set_title(f"layer {s['layer']} {s['kind']}\n{health}", fontsize=9)
    ax.set_xlabel("activation")
    ax.set_ylabel("count")


def plot_training_curves(history: Any, ax=None):
    """Training and validation loss per epoch."""
    fig, ax = _axes(ax)
    epochs = np.arange(1, len(history.train_loss) + 1)
    ax.plot(epochs, history.train_loss, label="training loss", color="tab:blue")
    if history.val_loss:
        ax.plot(epochs[:len(history.val_loss)], history.val_loss, label="validation loss",
                color="tab:orange")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("Learning curves")
    ax.legend()
    return fig


def plot_checklist(report: Any):
    """The checklist's figures: learning curves, LR range test, activation histograms."""
    import matplotlib.pyplot as plt

    extras = report.extras
    panels = []  # one drawing function per panel that has data
    history, finder = extras.get("history"), extras.get("lr_finder")
    if history is not None and len(history.train_loss):
        panels.append(lambda ax: plot_training_curves(history, ax=ax))
    if finder is not None and len(finder.lrs):
        panels.append(lambda ax: plot_lr_finder(finder, ax=ax))
    for s in extras.get("activations", []):
        panels.append(lambda ax, s=s: _activation_histogram(s, ax))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.5), layout="constrained")
        ax.axis("off")
        first = next((i.name for i in report.items if i.passed is False), None)
        ax.text(0.5, 0.5, "nothing to plot: the checklist stopped before training"
                + (f" ({first} failed)" if first else ""), ha="center", va="center")
        return fig
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.7 * cols, 3.8 * rows),
                             layout="constrained", squeeze=False)
    for ax, draw in zip(axes.ravel(), panels):
        draw(ax)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    return fig


def plot_runs(runs: Any, metric: str = "val_loss", label: Any = None, ax=None):
    """One curve per run of a :class:`~gradcheck_edu.diagnose.RunLog` file: ``metric`` per epoch.

    Parameters
    ----------
    runs : list of dict or path-like
        From :func:`~gradcheck_edu.diagnose.load_runs`, or the log file itself.
    metric : str
        A per-epoch metric the runs logged (``"train_loss"``, ``"val_loss"``, ...).
    label : callable, optional
        ``label(run) -> str`` for the legend; default: the run's name, else its
        hyperparameters.
    """
    from .diagnose.runlog import load_runs

    if not isinstance(runs, (list, tuple)):
        runs = load_runs(runs)
    fig, ax = _axes(ax)

    def default_label(run):
        params = ", ".join(f"{k}={v}" for k, v in run.get("hyperparams", {}).items())
        return run.get("name") or params or "run"

    label = label or default_label
    drawn = 0
    for run in runs:
        values = []
        for m in run.get("metrics", []):
            try:
                values.append(float(m[metric]))  # "nan" as logged by RunLog reads back as NaN
            except (KeyError, TypeError, ValueError):
                values.append(np.nan)
        if np.isfinite(values).any():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=label(run))
            drawn += 1
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of {drawn} run{'s' if drawn != 1 else ''}")
    if drawn:
        ax.legend(fontsize=8)
    return fig
