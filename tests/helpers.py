"""Shared test data."""

import numpy as np


def loss_data(loss, n=12, d=3, c=4, seed=0):
    """Random (X, y) of n rows and d features, with targets of the kind ``loss`` takes:
    integer labels in [0, c), 0/1 targets of shape (n, c), or real targets of shape (n, c)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "softmax_cross_entropy":
        return X, rng.integers(0, c, n)
    if loss == "binary_cross_entropy":
        return X, rng.integers(0, 2, (n, c)).astype(float)
    return X, rng.standard_normal((n, c))
