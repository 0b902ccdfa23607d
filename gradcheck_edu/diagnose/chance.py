"""The loss at chance: where training should start, and the floor of an input-blind model."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["label_entropy", "expected_initial_loss", "input_blind_loss", "numeric_labels"]


def numeric_labels(y: Any, what: str) -> np.ndarray:
    """``y`` as an array of numbers, or the ValueError that says what to do (empty, strings).

    Shared by every diagnostic that reads labels (``what`` names the caller)."""
    y = np.asarray(y)
    if y.size == 0:
        raise ValueError(f"{what} needs at least one label, got none")
    if y.dtype.kind in "USO":
        raise ValueError(f"{what}: the labels are strings or objects, not numbers (e.g. "
                         f"{y.reshape(-1)[0].item()!r}); map them to integers 0..C-1, e.g. "
                         "classes, y = np.unique(y, return_inverse=True)")
    return y


def label_entropy(y: Any, n_classes: int | None = None) -> float:
    """Entropy (nats) of the label distribution: the lowest loss an input-blind model reaches.

    >>> print(f"{label_entropy([0, 0, 1, 1]):.4f}")
    0.6931
    """
    y = numeric_labels(y, "label_entropy")
    counts = np.bincount(y.astype(np.int64).ravel(), minlength=n_classes or 0)
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def expected_initial_loss(y: Any, loss: str = "softmax_cross_entropy",
                          n_classes: int | None = None) -> float:
    """The loss of a model that predicts uniformly: where training should start.

    ``-ln(1/C)`` for softmax cross-entropy over C classes (2.302 for 10); ``ln 2 = 0.693`` for
    binary cross-entropy with a model predicting 0.5, whatever the class balance (20% zeros and
    80% ones still give ``-0.2 ln 0.5 - 0.8 ln 0.5 = 0.693``); for MSE, the mean of ``y**2``
    (a model that outputs 0).

    These are the losses of an *uninformed* prediction. The lowest loss an input-blind model
    can reach is lower when the targets are skewed: the label entropy (:func:`label_entropy`)
    for classes, the variance of ``y`` (always predicting the mean) for MSE.

    Parameters
    ----------
    y : array_like
        Labels (class indices for softmax cross-entropy) or targets.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
    n_classes : int, optional
        Number of classes; by default ``max(y) + 1``.

    Examples
    --------
    >>> print(f"{expected_initial_loss(list(range(10))):.3f}")
    2.303
    >>> print(f"{expected_initial_loss([0, 1, 1, 1, 1], loss='binary_cross_entropy'):.3f}")
    0.693
    """
    y = numeric_labels(y, "expected_initial_loss")
    if loss == "softmax_cross_entropy":
        C = int(n_classes if n_classes is not None else y.max() + 1)
        if C < 2:
            raise ValueError("softmax cross-entropy needs at least 2 classes")
        return float(np.log(C))
    if loss == "binary_cross_entropy":
        return float(np.log(2.0))
    if loss == "mse":
        return float(np.mean(np.asarray(y, dtype=np.float64) ** 2))
    raise ValueError(f"unknown loss {loss!r}; use 'softmax_cross_entropy', "
                     "'binary_cross_entropy' or 'mse'")


def input_blind_loss(y: Any, loss: str = "softmax_cross_entropy",
                     n_classes: int | None = None) -> float:
    """The lowest loss a model that ignores the inputs can reach on ``y``.

    The label entropy for class labels (predict the class frequencies), the variance of ``y``
    for MSE (predict the mean). A model that ends no lower than this has learned nothing
    from the inputs.

    >>> print(f"{input_blind_loss([1.0, 3.0], loss='mse'):.3f}")
    1.000
    """
    y = numeric_labels(y, "input_blind_loss")
    if loss == "mse":
        return float(np.mean(np.var(np.asarray(y, dtype=np.float64), axis=0)))
    if loss not in ("softmax_cross_entropy", "binary_cross_entropy"):
        expected_initial_loss(y, loss)  # raises the unknown-loss error
    return label_entropy(y, n_classes)
