"""Which activations count as dead or saturated: one rule for the checks and the plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bands import SIGMOID_SATURATION, TANH_SATURATION

__all__ = ["RELU_KINDS", "saturated", "activation_kind"]

RELU_KINDS = ("relu", "leakyrelu")


def activation_kind(name: Any) -> str | None:
    """A layer kind as the rules name it: lower case, no underscores (``"leaky_relu"`` ->
    ``"leakyrelu"``); None stays None."""
    return None if name is None else str(name).lower().replace("_", "")


def saturated(kind: str, a: np.ndarray) -> np.ndarray | None:
    """Where a tanh (beyond +-0.99) or sigmoid (beyond 0.01 / 0.99) output is saturated, as a
    boolean array of ``a``'s shape; None for other kinds.

    The limits are :data:`~gradcheck_edu.diagnose.bands.TANH_SATURATION` and
    :data:`~gradcheck_edu.diagnose.bands.SIGMOID_SATURATION`.

    >>> saturated("tanh", np.array([0.5, -0.995])).tolist(), saturated("relu", np.zeros(2))
    ([False, True], None)
    """
    if kind == "tanh":
        return np.abs(a) > TANH_SATURATION
    if kind == "sigmoid":
        return (a < SIGMOID_SATURATION) | (a > 1 - SIGMOID_SATURATION)
    return None
