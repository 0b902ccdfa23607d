"""Shared by the figure modules: colours per method and per verdict, and new axes."""

from __future__ import annotations

import numpy as np

from ..verdicts import Verdict

__all__ = ["METHOD_STYLE", "VERDICT_COLORS", "DEFAULT_EPS", "new_axes"]

DEFAULT_EPS = np.logspace(-16, -1, 61)
METHOD_STYLE = {"forward": ("tab:blue", "o"), "backward": ("tab:cyan", "v"),
                "central": ("tab:orange", "s"), "richardson": ("tab:green", "D"),
                "complex": ("tab:purple", "^")}
VERDICT_COLORS = {v: v.color for v in Verdict}  # one palette: the report's and the plots'



def new_axes(ax=None, figsize=(6.4, 4.4)):
    """``(figure, ax)``: a new figure with one axes of ``figsize`` when ``ax`` is None, else
    ``ax`` and its figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax
