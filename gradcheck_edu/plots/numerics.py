"""Figures of the numerics: secants, error against step, the Taylor test, gradient checks."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..finite_diff import (
    PrecisionWarning,
    central_difference,
    error_vs_eps,
    fit_order,
    forward_difference,
)
from ..verdicts import DEFAULT_THRESHOLDS, Verdict
from .style import DEFAULT_EPS, METHOD_STYLE, VERDICT_COLORS, new_axes

__all__ = ["plot_secants", "error_table", "plot_error_vs_eps", "plot_taylor",
           "plot_taylor_pair", "plot_gradient_check", "plot_mismatch_heatmap"]


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
    fig, ax = new_axes(ax, figsize=(10.4, 4.8))
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
    fig, ax = new_axes(ax)
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

    Every checked parameter gets a bar labelled with its relative error, and a failing one the
    kind of its mismatch pattern when the checker reads one ("sign", "scale", ...). Errors
    below ``floor`` (0 included) are drawn up to the floor, hatched, and labelled ``< floor``;
    so is a parameter whose gradient is zero (its relative error means nothing), labelled so.
    """
    fig, ax = new_axes(ax)
    rows = [r for r in report.per_parameter.values() if r.verdict is not None]
    names = [r.name for r in rows]
    zero = [r.decided_by == "zero gradient" for r in rows]
    errors = [0.0 if z else float(r.relative_error) for z, r in zip(zero, rows)]
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
    for bar, value, error, low, z, row in zip(bars, values, errors, below, zero, rows):
        if low:
            bar.set_hatch("//")
        text = "zero grad." if z else f"< {floor:.0e}" if low else f"{error:.1e}"
        if row.pattern is not None and row.pattern.kind != "unknown":
            text += f"\n{row.pattern.kind}"
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
    fig, ax = new_axes(ax, figsize=(5.6, 4.4))
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
