"""Figures for the lessons. matplotlib is imported here only, never by ``import gradcheck_edu``.

Every function draws on ``ax`` when given (or a new figure) and returns the Figure; numbers
shown on a plot come from the library, never typed in. ``numerics`` draws the finite
differences and gradient checks, ``training`` the training diagnostics and data samples,
``pattern`` draws the pattern of a mismatch, ``style`` holds the shared colours.
"""

from .numerics import (
    error_table,
    plot_error_vs_eps,
    plot_gradient_check,
    plot_mismatch_heatmap,
    plot_secants,
    plot_taylor,
    plot_taylor_pair,
)
from .pattern import plot_pattern
from .style import DEFAULT_EPS, METHOD_STYLE, VERDICT_COLORS
from .training import (
    plot_activation_comparison,
    plot_activation_histograms,
    plot_checklist,
    plot_curve_comparison,
    plot_lr_finder,
    plot_runs,
    plot_samples,
    plot_training_curves,
)

__all__ = [
    "plot_secants",
    "error_table",
    "plot_error_vs_eps",
    "plot_taylor",
    "plot_taylor_pair",
    "plot_gradient_check",
    "plot_mismatch_heatmap",
    "plot_pattern",
    "plot_lr_finder",
    "plot_activation_histograms",
    "plot_activation_comparison",
    "plot_curve_comparison",
    "plot_training_curves",
    "plot_checklist",
    "plot_runs",
    "plot_samples",
    "DEFAULT_EPS",
    "METHOD_STYLE",
    "VERDICT_COLORS",
]
