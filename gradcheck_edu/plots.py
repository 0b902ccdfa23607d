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
    "plot_training_curves",
    "plot_checklist",
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
    """For each method: errors over ``eps_values``, the fitted order (or None) and the best eps."""
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
        out[method] = {"errors": errors, "order": order, "best_eps": best,
                       "best_error": float(np.min(errors[finite])) if finite.any() else 0.0}
    return out


def plot_error_vs_eps(f: Callable, theta: Any, exact: Any,
                      methods=("forward", "backward", "central", "richardson", "complex"),
                      eps_values: Any = DEFAULT_EPS, dtype: Any = np.float64, ax=None):
    """Log-log error against eps per method, with the fitted truncation order in the legend,
    the best eps of each method marked, and a slope -1 guide on the round-off side."""
    fig, ax = _axes(ax, figsize=(7.2, 4.8))
    eps_values = np.asarray(eps_values, dtype=np.float64)
    table = error_table(f, theta, exact, methods, eps_values, dtype)
    floor = 1e-17
    for method, row in table.items():
        color, marker = METHOD_STYLE[method]
        errors = np.where(row["errors"] > 0, row["errors"], np.nan)
        order = "no truncation side to fit" if row["order"] is None else \
            f"fitted slope {row['order']:.2f}"
        if method == "complex":
            order += ", no round-off side"
        ax.loglog(eps_values, np.maximum(errors, floor), marker=marker, ms=3, lw=1.2,
                  color=color, label=f"{method}: {order}")
        if row["best_eps"] is not None:
            ax.plot(row["best_eps"], max(row["best_error"], floor), marker="*", ms=14,
                    color=color, markeredgecolor="black")
    # round-off guide: EPS * |f| / eps has slope -1
    guide = eps_values[(eps_values > 1e-14) & (eps_values < 1e-9)]
    f_scale = abs(float(np.sum(f(np.asarray(theta, dtype=np.float64)))))
    ax.loglog(guide, np.finfo(dtype).eps * max(f_scale, 1.0) / guide, color="gray", ls="--",
              lw=1, label="round-off ~ EPS·|f| / ε (slope −1)")
    ax.set_xlabel("step ε")
    ax.set_ylabel("|estimate − exact|")
    ax.set_title(f"Error against step ({np.dtype(dtype).name}); ★ = best ε")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_ylim(floor / 2, 10)
    return fig


def plot_taylor(result: Any, ax=None, label: str | None = None):
    """Taylor remainder against h, log-log, with reference slopes 1 and 2."""
    fig, ax = _axes(ax)
    h, r = np.asarray(result.steps), np.asarray(result.remainders)
    ax.loglog(h, np.maximum(r, 1e-300), "o-", color=VERDICT_COLORS[result.verdict],
              label=label or f"rate {result.rate:.2f}: {result.verdict.name}")
    anchor_h, anchor_r = h[0], max(r[0], 1e-300)
    ax.loglog(h, anchor_r * (h / anchor_h), color="gray", ls="--", lw=1, label="slope 1")
    ax.loglog(h, anchor_r * (h / anchor_h) ** 2, color="gray", ls=":", lw=1, label="slope 2")
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


def plot_gradient_check(report: Any, ax=None):
    """Per-parameter relative errors (log scale) over the verdict bands."""
    fig, ax = _axes(ax)
    rows = [r for r in report.per_parameter.values() if r.verdict is not None]
    names = [r.name for r in rows]
    values = [max(r.relative_error, 1e-17) for r in rows]
    t = report.thresholds or DEFAULT_THRESHOLDS
    bands = [(1e-17, t[0], Verdict.EXCELLENT), (t[0], t[1], Verdict.ACCEPTABLE),
             (t[1], t[2], Verdict.SUSPICIOUS), (t[2], 1.0, Verdict.WRONG)]
    for lo, hi, verdict in bands:
        ax.axhspan(lo, hi, color=VERDICT_COLORS[verdict], alpha=0.15)
        ax.text(len(names) - 0.5, np.sqrt(lo * hi) if lo > 1e-17 else hi / 30, verdict.name,
                ha="right", va="center", fontsize=8, color=VERDICT_COLORS[verdict])
    ax.bar(names, values, color=[VERDICT_COLORS[r.verdict] for r in rows], edgecolor="black")
    ax.set_yscale("log")
    ax.set_ylim(1e-13, 1.0)
    ax.set_ylabel("relative error")
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
    ax.set_xlabel("column")
    ax.set_ylabel("row")
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
        ax.hist(np.ravel(s["values"]), bins=40, color="tab:blue")
        ax.set_title(f"layer {s['layer']} {s['kind']}\ndead {s['dead']:.0%}, saturated "
                     f"{s['saturated']:.0%}", fontsize=9)
        ax.set_xlabel("activation")
    if title:
        fig.suptitle(title)
    return fig


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
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
    if "history" in extras:
        plot_training_curves(extras["history"], ax=axes[0])
    if "lr_finder" in extras:
        plot_lr_finder(extras["lr_finder"], ax=axes[1])
    stats = extras.get("activations", [])
    if stats:
        axes[2].hist(np.ravel(stats[0]["values"]), bins=40, color="tab:blue")
        axes[2].set_title(f"layer {stats[0]['layer']} activations: dead {stats[0]['dead']:.0%}")
    return fig
