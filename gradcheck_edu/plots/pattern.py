"""The pattern of a mismatch, drawn: analytic against numerical for one parameter.

matplotlib is imported inside :func:`plot_pattern` only (any backend, Agg included).
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from ..theta import flatten
from .style import new_axes

__all__ = ["plot_pattern"]


def _arrays(report: Any, name: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The analytic and numerical gradients of parameter ``name`` of a report, flat, and its
    shape."""
    if name not in report.per_parameter:
        raise ValueError(f"the report has no parameter {name!r}; it has "
                         f"{list(report.per_parameter)}")
    a_flat, spec = flatten(report.analytic)
    n_flat, _ = flatten(report.numerical)
    part = spec.slice(name)  # directional reports hold (n_directions,) per parameter
    return a_flat[part], n_flat[part], tuple(spec.shapes[spec.names.index(name)])


def plot_pattern(report: Any, name: str, ax=None):
    """Analytic against numerical for one parameter, with the pattern of its mismatch drawn.

    Each checked component is a point (numerical, analytic). A right gradient puts every point
    on the line y = x. The pattern of the parameter's row (``report.per_parameter[name]
    .pattern``) is drawn over it: a line of slope k (scale, sign), the points paired with the
    transposed numerical gradient or with ``numerical + c x parameter`` (transpose,
    regularization; they fall on y = x), the components where analytic or numerical is 0
    (zero), or the rows, columns or entries that hold the mismatch (subset, in red).

    Parameters
    ----------
    report : GradientCheckReport
        From :func:`~gradcheck_edu.gradient_check`, ``check_model``, ``check_layer`` or
        ``directional_check`` (points are then directional derivatives).
    name : str
        A parameter of the report (a key of ``report.per_parameter``).
    ax : matplotlib Axes, optional
        Drawn on when given, else on a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    a, n, shape = _arrays(report, name)
    pattern = report.per_parameter[name].pattern
    fig, ax = new_axes(ax, figsize=(6.4, 5.0))
    seen = np.isfinite(n)
    ax.scatter(n[seen], a[seen], s=18, color="tab:blue", alpha=0.8, zorder=3,
               label=f"components ({int(seen.sum())} checked)")
    values = np.concatenate([a[seen], n[seen], [0.0]])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    line = np.array([lo - pad, hi + pad])
    ax.plot(line, line, "--", color="0.4", lw=1, label="right: analytic = numerical")
    if pattern is not None:
        _draw(ax, pattern, a, n, seen, line)
        title = f"{name}: {pattern.kind}"
        ax.set_title(title + "\n" + textwrap.fill(str(pattern), 80), fontsize=8, loc="left")
    else:
        ax.set_title(f"{name}: passed, no pattern to read", fontsize=9, loc="left")
    ax.set_xlabel("numerical (finite differences)")
    ax.set_ylabel("analytic (your backward)")
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.legend(fontsize=8, loc="best")
    return fig


def _draw(ax, pattern: Any, a: np.ndarray, n: np.ndarray, seen: np.ndarray,
          line: np.ndarray) -> None:
    """The fitted pattern over the points."""
    kind = pattern.kind
    predicted = None if pattern.predicted is None else np.ravel(pattern.predicted)
    if kind in ("scale", "sign"):
        k = pattern.factor
        x = np.array([np.min(n[seen]), np.max(n[seen])])  # where the points are
        x = x + np.array([-0.05, 0.05]) * max(float(x[1] - x[0]), 1e-300)
        ax.plot(x, k * x, color="tab:red", lw=1.5,
                label=f"pattern: analytic = {k:.4g} x numerical")
    elif kind in ("transpose", "regularization") and predicted is not None:
        paired = np.isfinite(predicted)
        what = (f"numerical {pattern.detail}" if kind == "transpose"
                else f"numerical + ({pattern.factor:.4g}) x parameter")
        ax.scatter(predicted[paired], a[paired], s=26, marker="x", color="tab:red", zorder=4,
                   label=f"pattern: analytic vs {what}")
    elif kind in ("zero", "subset") and pattern.involved is not None:
        mask = np.ravel(pattern.involved)
        label = (f"pattern: the mismatch, in {pattern.where}" if kind == "subset"
                 else f"pattern: {pattern.detail} is 0 here")
        ax.scatter(n[mask], a[mask], s=44, facecolors="none", edgecolors="tab:red", zorder=4,
                   label=label)
