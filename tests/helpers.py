"""Shared test data and helpers."""

import numpy as np

from gradcheck_edu.nn import BatchNorm1d, Dropout


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


def model_state(model):
    """Every bit of an MLP's state: parameters, batch-norm statistics, dropout streams."""
    out = {k: v.tobytes() for k, v in model.params.items()}
    for i, layer in enumerate(model.layers):
        if isinstance(layer, BatchNorm1d):
            out[f"{i}.mean"] = layer.running_mean.tobytes()
            out[f"{i}.var"] = layer.running_var.tobytes()
        if isinstance(layer, Dropout):
            out[f"{i}.rng"] = repr(layer.rng.bit_generator.state)
    return out
