"""A class's grades, drawn: the score distribution of a question, and what went wrong per row.

matplotlib is imported inside the functions only (any backend, Agg included). The numbers come
from :mod:`gradcheck_edu.class_report` (its ``summary`` and the points per submission).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .style import new_axes

__all__ = ["plot_score_distribution", "plot_row_outcomes", "KIND_COLORS"]

KIND_COLORS = {"passed": "tab:green", "scale": "tab:orange", "sign": "tab:red",
               "transpose": "tab:purple", "zero": "tab:gray", "regularization": "tab:brown",
               "subset": "tab:pink", "unknown": "tab:olive", "shape": "tab:cyan",
               "raised": "black", "timeout": "darkred", "not answered": "lightgray"}
"""One colour per outcome of a row: passed, the checker's pattern kinds, what stopped the row."""


def plot_score_distribution(points: Sequence[float], max_points: float, title: str = "",
                            ax=None):
    """A histogram of one question's points over the submissions, one bar per score reached.

    Parameters
    ----------
    points : sequence of float
        The points of each submission on the question.
    max_points : float
        The question's maximum (the x axis runs from 0 to it).
    title : str
        Drawn above the axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, figsize=(4.8, 3.0))
    values = np.round(np.asarray(points, dtype=float), 6)
    scores, counts = np.unique(values, return_counts=True)
    width = max(max_points, 1.0) / 25
    ax.bar(scores, counts, width=width, color="tab:blue")
    ax.set_xlim(-2 * width, max(max_points, float(scores.max(initial=0))) + 2 * width)
    ax.set_xlabel("points")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title or f"{len(values)} submissions, mean {values.mean():.3g} / {max_points:g}",
                 fontsize=10)
    return fig


def plot_row_outcomes(rows: Mapping[str, Mapping], title: str = "", ax=None):
    """One horizontal bar per row: the share of the submissions graded on it that passed it,
    then the share that failed it by each kind of mistake (stacked, one colour per kind).

    Parameters
    ----------
    rows : mapping row -> {"passed": n, "kinds": {kind: n}}
        A question's ``rows`` in the class report's summary.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(rows)
    fig, ax = new_axes(ax, figsize=(6.4, 0.9 + 0.45 * max(len(names), 1)))
    total = np.array([max(rows[n]["passed"] + sum(rows[n]["kinds"].values()), 1) for n in names])
    kinds = ["passed"] + sorted({k for r in rows.values() for k in r["kinds"]})
    left = np.zeros(len(names))
    for kind in kinds:
        counts = np.array([rows[n]["passed"] if kind == "passed" else rows[n]["kinds"].get(kind, 0)
                           for n in names], dtype=float)
        if not counts.any():
            continue
        ax.barh(names, counts / total, left=left, color=KIND_COLORS.get(kind, "tab:olive"),
                label=kind)
        left += counts / total
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of the submissions")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig
