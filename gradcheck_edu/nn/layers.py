"""Layers with hand-written backprop: each backward sits next to its forward.

Every layer has ``forward(x)``, ``backward(dout) -> dx`` (which fills ``grads``), and dicts
``params`` and ``grads``. The local derivative is written in one comment line above the code
that applies it, so the calculus can be checked by eye. Gradients are named ``d<name>``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Layer", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "BatchNorm1d"]


def reuse(old: np.ndarray | None, shape: tuple, dtype) -> np.ndarray:
    """``old`` if it has this shape and dtype, else a new empty array: a work array kept
    between calls (a fresh large array per call costs more than the pass that fills it)."""
    if old is not None and old.shape == shape and old.dtype == dtype:
        return old
    return np.empty(shape, dtype)


class Layer:
    """Base class: no parameters, identity in both directions."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Layer):
    """``out = x @ W + b`` with ``W`` of shape (in, out).

    Parameters
    ----------
    n_in, n_out : int
    init : {"he", "xavier"}
        He (``std = sqrt(2 / n_in)``, for ReLU) or Xavier/Glorot
        (``std = sqrt(2 / (n_in + n_out))``, for tanh and sigmoid). Biases start at 0.
    rng : numpy Generator or int
    dtype : float dtype
    gain : float
        Multiplies the standard deviation (an output layer may start small, see :class:`MLP`).
    """

    def __init__(self, n_in: int, n_out: int, init: str = "he", rng=None, dtype=np.float64,
                 gain: float = 1.0):
        super().__init__()
        rng = np.random.default_rng(rng)
        if init == "he":
            std = gain * np.sqrt(2.0 / n_in)
        elif init == "xavier":
            std = gain * np.sqrt(2.0 / (n_in + n_out))
        else:
            raise ValueError(f"init must be 'he' or 'xavier', got {init!r}")
        self.params = {"W": (rng.standard_normal((n_in, n_out)) * std).astype(dtype),
                       "b": np.zeros(n_out, dtype=dtype)}
        self.grads = {"W": np.zeros_like(self.params["W"]), "b": np.zeros_like(self.params["b"])}

    def forward(self, x, training=True):
        self.x = x
        out = x @ self.params["W"]
        out += self.params["b"]  # out = x W + b, adding b in place
        return out

    def backward(self, dout, need_dx=True):
        """Fill ``grads`` and return ``dx``; ``need_dx=False`` skips ``dx`` (returns None),
        as a network's first layer may: nothing upstream needs the gradient of the data."""
        # out = x W + b:  dW = x^T dout,  db = sum_n dout,  dx = dout W^T
        np.matmul(self.x.T, dout, out=self.grads["W"])
        np.sum(dout, axis=0, out=self.grads["b"])
        return dout @ self.params["W"].T if need_dx else None

    def __repr__(self):
        n_in, n_out = self.params["W"].shape
        return f"Linear({n_in}, {n_out})"


class ReLU(Layer):
    """``max(x, 0)``.

    ``inplace=True`` (how :class:`~gradcheck_edu.nn.MLP` builds it, as
    ``torch.nn.ReLU(inplace=True)``) writes the output over the input and, in backward, ``dx``
    over ``dout``: one pass each and no new array. Only for inputs nothing else keeps.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace
        self.mask = None

    def forward(self, x, training=True):
        self.mask = np.greater(x, 0, out=reuse(self.mask, x.shape, bool))
        return np.multiply(x, self.mask, out=x if self.inplace else None)

    def backward(self, dout):
        # d relu(x)/dx = 1 if x > 0 else 0
        return np.multiply(dout, self.mask, out=dout if self.inplace else None)

    def __repr__(self):
        return "ReLU(inplace=True)" if self.inplace else "ReLU()"


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, ``slope * x`` otherwise (slope 0.01)."""

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x, training=True):
        self.mask = x > 0
        return np.where(self.mask, x, self.slope * x)

    def backward(self, dout):
        # d/dx = 1 if x > 0 else slope
        return dout * np.where(self.mask, 1.0, self.slope).astype(dout.dtype, copy=False)


class Tanh(Layer):
    """``tanh(x)``."""

    def forward(self, x, training=True):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        # d tanh(x)/dx = 1 - tanh(x)^2
        return dout * (1 - self.out**2)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, computed without overflow."""

    def forward(self, x, training=True):
        self.out = 0.5 * (1 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), never overflows
        return self.out

    def backward(self, dout):
        # d sigma(x)/dx = sigma(x) (1 - sigma(x))
        return dout * self.out * (1 - self.out)


class Dropout(Layer):
    """Inverted dropout: zero each unit with probability ``p`` and scale the rest by 1/(1-p).

    At evaluation (``training=False``) it is the identity. For a gradient check with dropout on,
    freeze the mask: ``freeze(seed)`` makes every forward use the same mask (drawn once per
    input shape from ``seed``, an int or a sequence of ints such as ``(seed, layer_number)``),
    so two evaluations at the same input agree; ``unfreeze()`` returns to a fresh mask per call.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(rng)
        self.frozen_seed = None
        self._frozen: dict[tuple, np.ndarray] = {}

    def freeze(self, seed=0) -> None:
        self.frozen_seed, self._frozen = seed, {}

    def frozen_mask(self, shape: tuple, dtype=np.float64) -> np.ndarray:
        """The mask every forward of an input of ``shape`` uses while frozen (a ValueError
        if not frozen): zeros and ``1 / (1 - p)``, shape ``shape``."""
        if self.frozen_seed is None:
            raise ValueError("the dropout mask is not frozen: call freeze(seed) first")
        return self._mask(tuple(shape), np.dtype(dtype))

    def unfreeze(self) -> None:
        self.frozen_seed, self._frozen = None, {}

    def _mask(self, shape, dtype):
        if self.frozen_seed is None:
            return (self.rng.random(shape) >= self.p).astype(dtype) / (1 - self.p)
        if shape not in self._frozen:
            rng = np.random.default_rng(self.frozen_seed)
            self._frozen[shape] = (rng.random(shape) >= self.p).astype(dtype) / (1 - self.p)
        return self._frozen[shape]

    def forward(self, x, training=True):
        if not training or self.p == 0:
            self.mask = None
            return x
        self.mask = self._mask(x.shape, x.dtype)
        return x * self.mask

    def backward(self, dout):
        # out = x * mask:  dx = dout * mask
        return dout if self.mask is None else dout * self.mask

    def __repr__(self):
        return f"Dropout(p={self.p})"


class BatchNorm1d(Layer):
    """Batch normalization over the batch axis, with learned ``gamma``, ``beta``.

    Training: normalize with the batch mean and (biased) variance and update the running
    statistics ``running_mean``, ``running_var`` with ``momentum``. Evaluation: use the running
    statistics. As ``torch.nn.BatchNorm1d``: ``running_var`` is updated with the *unbiased*
    batch variance (times ``N / (N - 1)``), and training mode needs at least 2 samples.
    """

    def __init__(self, n: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float64):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.params = {"gamma": np.ones(n, dtype=dtype), "beta": np.zeros(n, dtype=dtype)}
        self.grads = {"gamma": np.zeros(n, dtype=dtype), "beta": np.zeros(n, dtype=dtype)}
        self.running_mean = np.zeros(n, dtype=dtype)
        self.running_var = np.ones(n, dtype=dtype)

    def forward(self, x, training=True):
        if training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"batch norm in training mode needs at least 2 samples per "
                                 f"batch, got {n}: use a larger batch, or training=False (the "
                                 "running statistics)")
            mean, var = x.mean(axis=0), x.var(axis=0)
            m = self.momentum
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            # As torch: the running variance uses the unbiased batch variance, var * N / (N - 1)
            # (normalizing the batch itself uses the biased var, as it must for the gradient).
            self.running_var[...] = (1 - m) * self.running_var + m * var * (n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.xhat = (x - mean) * self.inv_std
        self.training = training
        return self.params["gamma"] * self.xhat + self.params["beta"]

    def backward(self, dout):
        # out = gamma * xhat + beta:  dgamma = sum_n dout * xhat,  dbeta = sum_n dout
        self.grads["gamma"][...] = np.sum(dout * self.xhat, axis=0)
        self.grads["beta"][...] = dout.sum(axis=0)
        dxhat = dout * self.params["gamma"]
        if not self.training:
            return dxhat * self.inv_std
        # xhat = (x - mean(x)) / std(x):  dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std
        return (dxhat - dxhat.mean(axis=0) - self.xhat * np.mean(dxhat * self.xhat, axis=0)) \
            * self.inv_std

    def __repr__(self):
        return f"BatchNorm1d({self.params['gamma'].size})"
