"""The cached forward pass of a described network, and how increments travel through it.

A described layer ``k`` computes, from its input ``A[k]`` (``A[0] = X``)::

    Z[k] = A[k] @ W + b                                 the pre-activation
    Y[k] = gamma * (Z[k] - mean) / sqrt(var + eps) + beta   with batch norm (batch statistics);
                                                        Y[k] = Z[k] without
    H[k] = act(Y[k])
    A[k+1] = H[k] * mask                                with a frozen dropout mask; H[k] without

:class:`Network` runs this once and keeps every array. A perturbation of one parameter moves one
column of one layer: :meth:`Network.moved_column` gives that column, :meth:`Network.column_output`
its change at the layer's output, and :meth:`Network.propagate` carries a change of a layer's
pre-activation (``P`` perturbations at once) through the layers after it to the loss. Batch norm
and dropout act on each column separately, so all of this stays per column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .activations import activation, is_smooth, series
from .batchnorm import Rank1BatchNorm
from .losses import cross_entropy_inplace, data_loss, data_loss_change
from .products import matmul_rows

__all__ = ["Network", "DenseLayer", "CHUNK_BYTES"]

# Perturbations are evaluated in chunks whose widest work array holds about this many bytes: small
# enough to stay in cache, large enough to amortize Python overhead (2 MB, the L2 cache of the
# project's machine, was 10 to 20% faster than 8 MB on MLP([64, 128, 128, 10]) and on batch-norm
# models). Every work array is bounded by it, so peak extra memory is a few times this, whatever
# the number of parameters.
CHUNK_BYTES = 2 * 2**20


@dataclass
class DenseLayer:
    """One described layer: names and arrays of its parameters, activation, batch norm, mask."""

    names: dict           # role ("W", "b", "gamma", "beta") -> name in params
    W: np.ndarray         # (in, out)
    b: np.ndarray         # (out,)
    act: Callable
    kind: Any             # the activation spec
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    eps: float = 0.0
    mask: np.ndarray | None = None  # (N, out): zeros and 1 / (1 - p)

    @property
    def batchnorm(self) -> bool:
        return self.gamma is not None


def _layer(spec: dict, params: dict, n: int) -> DenseLayer:
    names = {"W": spec["W"], "b": spec["b"]}
    W, b = params[spec["W"]], params[spec["b"]]
    layer = DenseLayer(names, W, b, activation(spec.get("activation")), spec.get("activation"))
    bn = spec.get("batchnorm")
    if bn is not None:
        names.update(gamma=bn["gamma"], beta=bn["beta"])
        layer.gamma, layer.beta = params[bn["gamma"]], params[bn["beta"]]
        layer.eps = float(bn["eps"])
        if n < 2:
            raise ValueError("batch norm with batch statistics needs at least 2 samples")
    dropout = spec.get("dropout")
    if dropout is not None:
        layer.mask = np.asarray(dropout((n, W.shape[1])), dtype=np.float64)
        if layer.mask.shape != (n, W.shape[1]):
            raise ValueError(f"a dropout mask of shape {layer.mask.shape} for outputs of shape "
                             f"{(n, W.shape[1])}")
    return layer


class Network:
    """A described dense network, its cached forward pass, and increments through it.

    Parameters
    ----------
    structure : dict
        See :mod:`gradcheck_edu.layered`.
    params : dict of name -> float64 ndarray
        The model's parameters (read, never written).
    X : ndarray, shape (N, d_0)
    y : ndarray
        Integer labels (N,) for softmax cross-entropy, targets shaped like the output otherwise
        (shape (N,) is accepted for a single output, as the models accept it).
    chunk_bytes : int
        Memory budget of one work array (see :meth:`rows`).
    """

    def __init__(self, structure: dict, params: dict, X: Any, y: Any,
                 chunk_bytes: int = CHUNK_BYTES):
        self.kind = structure["loss"]
        self.l2 = float(structure.get("l2", 0.0))
        self.chunk_bytes = int(chunk_bytes)
        self.X = np.asarray(X, dtype=np.float64)
        n = self.X.shape[0]
        self.layers = [_layer(spec, params, n) for spec in structure["layers"]]
        last = self.layers[-1]
        if last.batchnorm or last.mask is not None:
            raise ValueError("the output layer takes neither batch norm nor dropout")
        y = np.asarray(y)
        if self.kind == "softmax_cross_entropy":
            self.y = y.astype(np.int64)
        else:
            self.y = y.astype(float)
            n_out = last.W.shape[1]
            if self.y.ndim == 1 and n_out == 1:  # one output: targets (N,) as the models take
                self.y = self.y.reshape(-1, 1)
            if self.y.shape != (n, n_out):
                raise ValueError(f"targets of shape {y.shape} for {n_out} outputs")
        self.A, self.Z, self.Y, self.H, self.xhat = [self.X], [], [], [], []
        for layer in self.layers:
            z = self.A[-1] @ layer.W
            z += layer.b  # as the model: x @ W, then + b in place
            self.Z.append(z)
            if layer.batchnorm:  # the model's arithmetic: biased variance, batch statistics
                xhat = (z - z.mean(axis=0)) * (1 / np.sqrt(z.var(axis=0) + layer.eps))
                self.xhat.append(xhat)
                self.Y.append(layer.gamma * xhat + layer.beta)
            else:
                self.xhat.append(None)
                self.Y.append(z)
            self.H.append(layer.act(self.Y[-1]))
            self.A.append(self.H[-1] if layer.mask is None else self.H[-1] * layer.mask)
        self.reg = 0.5 * self.l2 * sum(float(np.sum(layer.W * layer.W)) for layer in self.layers)
        out = self.A[-1]
        self.data_value = float(data_loss(self.kind, out, self.y))
        self.value = self.data_value + self.reg
        self.shift = out.max(axis=1)
        # The size of the terms the loss is computed from: its round-off is EPS times this.
        terms = float(np.abs(out).max(initial=0.0))
        if self.kind == "mse":
            dev = float(np.abs(out - self.y).max(initial=0.0))
            terms = dev * (2 * terms + dev)
        self.loss_scale = max(abs(self.value), terms)
        # With a linear output layer, a perturbation's effect on the outputs is carried as an
        # increment and the loss change computed from it (see data_loss_change).
        self.increments = last.kind in (None, "identity")
        if self.kind == "softmax_cross_entropy":
            e = np.exp(out - self.shift[:, None])
            self.probs = e / e.sum(axis=1, keepdims=True)
        elif self.kind == "binary_cross_entropy":
            self.probs = 0.5 * (1 + np.tanh(0.5 * out))
        else:
            self.probs = None
        self._work = [np.empty(0)] * 3
        self._T: dict[tuple[str, int], np.ndarray] = {}
        self._coef: dict[int, tuple[np.ndarray, ...]] = {}
        self._bn: dict[int, Rank1BatchNorm] = {}

    def names(self) -> list[str]:
        """The names of every described parameter, layer by layer."""
        return [name for layer in self.layers for name in layer.names.values()]

    def locate(self, name: str) -> tuple[int, str]:
        """(layer index, role: "W", "b", "gamma" or "beta") of a parameter; KeyError if none."""
        for k, layer in enumerate(self.layers):
            for role, n in layer.names.items():
                if n == name:
                    return k, role
        raise KeyError(f"{name!r} is not a parameter of the described layers")

    # ------------------------------------------------------------------ the loss
    def loss(self, out: np.ndarray) -> np.ndarray:
        """Data loss of a (P, N, C) batch of outputs, which may be overwritten."""
        # exp(out - shift) cannot overflow while every logit stays within 500 of the shift
        if self.kind == "softmax_cross_entropy" and out.max() - self.shift.min() < 500:
            return cross_entropy_inplace(out, self.y, self.shift)
        return data_loss(self.kind, out, self.y)

    def change_from_increment(self, inc: np.ndarray) -> np.ndarray:
        """Change of the data loss when the cached outputs move by ``inc`` (P, N, C), which may
        be overwritten; shape (P,)."""
        if np.abs(inc).max(initial=0.0) > 1.0:  # far from a small step: evaluate it directly
            inc += self.A[-1]
            return self.loss(inc) - self.data_value
        return data_loss_change(self.kind, self.A[-1], self.probs, inc, self.y)

    # ------------------------------------------------------------------ memory
    def rows(self, layer: int, extra: int = 0) -> int:
        """Perturbations per chunk when work arrays are (P, N, width) for layers ``layer`` on
        (and ``extra`` more floats per sample and perturbation): each fits ``chunk_bytes``."""
        n = self.X.shape[0]
        widest = max([lay.W.shape[1] for lay in self.layers[layer:]] + [extra, 1])
        return max(1, self.chunk_bytes // (n * widest * 8))

    def buffer(self, shape: tuple[int, ...], slot: int = 0) -> np.ndarray:
        """A reused work array (three slots): fresh large arrays cost page faults per chunk."""
        size = int(np.prod(shape))
        if self._work[slot].size < size:
            self._work[slot] = np.empty(size)
        return self._work[slot][:size].reshape(shape)

    def transposed(self, which: str, k: int) -> np.ndarray:
        """``A[k].T``, ``Z[k].T``, ``xhat[k].T`` or layer k's ``mask.T`` (which = "A", "Z",
        "xhat", "mask"), C-contiguous and cached: the columns of a batch as rows."""
        key = (which, k)
        if key not in self._T:
            arr = self.layers[k].mask if which == "mask" else getattr(self, which)[k]
            self._T[key] = np.ascontiguousarray(arr.T)
        return self._T[key]

    # ------------------------------------------------------------------ one column moves
    def moved_column(self, k: int, role: str, flat: np.ndarray, delta: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Layer k's ``Y`` column after each perturbation, the column, the change of the l2 term.

        Parameters
        ----------
        k : int
        role : {"W", "b", "gamma", "beta"}
        flat : ndarray of int, shape (P,)
            Flat indices into the parameter.
        delta : ndarray, shape (P,)
            The moves.

        Returns
        -------
        y_col : ndarray, shape (P, N)
            A fresh array.
        cols : ndarray of int, shape (P,)
        reg : ndarray, shape (P,)
        """
        layer = self.layers[k]
        reg = np.zeros(flat.size)
        d = delta[:, None]
        if role == "W":
            rows, cols = np.divmod(flat, layer.W.shape[1])
            z_col = self.transposed("A", k)[rows]  # z_k[:, j] moves by delta * a_{k-1}[:, i]
            z_col *= d
            z_col += self.transposed("Z", k)[cols]
            reg = self.l2 * delta * (layer.W.ravel()[flat] + 0.5 * delta)  # (l2/2) change of W^2
        elif role == "b":
            cols = flat
            z_col = self.transposed("Z", k)[cols]
            z_col += d
        elif role == "gamma":  # y = (gamma + delta) xhat + beta
            cols = flat
            y_col = self.transposed("xhat", k)[cols]
            y_col *= (layer.gamma[cols] + delta)[:, None]
            y_col += layer.beta[cols][:, None]
            return y_col, cols, reg
        else:  # beta: y = gamma xhat + (beta + delta)
            cols = flat
            y_col = self.transposed("xhat", k)[cols]
            y_col *= layer.gamma[cols][:, None]
            y_col += (layer.beta[cols] + delta)[:, None]
            return y_col, cols, reg
        if layer.batchnorm:  # each perturbed column with its own batch statistics
            self.normalize(k, z_col[:, :, None], layer.gamma[cols][:, None, None],
                           layer.beta[cols][:, None, None])
        return z_col, cols, reg

    def normalize(self, k: int, z: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> None:
        """Batch norm of layer k, in place, on (P, N, width) pre-activations, with each
        perturbation's own batch statistics (over axis 1): ``gamma``, ``beta`` broadcast."""
        layer = self.layers[k]
        z -= z.mean(axis=1, keepdims=True)
        sq = self.buffer(z.shape, 2)
        np.multiply(z, z, out=sq)
        z *= 1 / np.sqrt(sq.mean(axis=1, keepdims=True) + layer.eps)
        z *= gamma
        z += beta

    def column_output(self, k: int, y_col: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Change of layer k's output columns ``cols`` when its ``Y`` columns are ``y_col``
        (P, N): ``act(y_col) * mask - A[k+1]``, computed in ``y_col``."""
        layer = self.layers[k]
        a = layer.act(y_col, out=y_col)
        if layer.mask is not None:
            a *= self.transposed("mask", k)[cols]
        a -= self.transposed("A", k + 1)[cols]
        return a

    def propagate(self, m: int, dz: np.ndarray) -> np.ndarray:
        """Change of the data loss when layer m's pre-activation moves by ``dz`` (P, N, width),
        which is overwritten; shape (P,).

        The increments are carried layer by layer, ``dA = act(BN(Z + dZ)) * mask - A`` and
        ``dZ' = dA @ W``, down to the outputs, where the loss change is computed from them (linear
        output layer); otherwise the perturbed outputs' loss minus the cached loss.
        """
        last = len(self.layers) - 1
        if m == last and self.increments:
            return self.change_from_increment(dz)
        layer = self.layers[m]
        a = dz
        a += self.Z[m]
        if layer.batchnorm:
            self.normalize(m, a, layer.gamma, layer.beta)
        if m == last:
            return self.loss(layer.act(a, out=a)) - self.data_value
        return self.propagate_output(m, self._normalized_output(m, a))

    def propagate_output(self, m: int, da: np.ndarray) -> np.ndarray:
        """Change of the data loss when layer m's output moves by ``da`` (P, N, width), m not
        the last layer: ``dZ' = da @ W_{m+1}``, then :meth:`propagate`."""
        W_next = self.layers[m + 1].W
        # a buffer slot that ``da`` is not in
        slot = next(s for s in (0, 1) if not np.may_share_memory(self._work[s], da))
        dz = self.buffer(da.shape[:-1] + (W_next.shape[1],), slot)
        # one (P*N, width) product, in single-threaded row blocks (see products)
        matmul_rows(da.reshape(-1, da.shape[-1]), W_next, out=dz.reshape(-1, dz.shape[-1]))
        return self.propagate(m + 1, dz)

    def coefficients(self, k: int) -> tuple[np.ndarray, ...]:
        """Layer k's series coefficients at the cached point (see
        :func:`~gradcheck_edu.layered.activations.series`), times its dropout mask; cached."""
        if k not in self._coef:
            layer = self.layers[k]
            coef = series(layer.kind, self.Y[k], self.H[k])
            self._coef[k] = coef if layer.mask is None else tuple(c * layer.mask for c in coef)
        return self._coef[k]

    def rank1_output(self, m: int, da: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Change of layer m's output when its input column ``rows[p]`` moves by ``da[p]``
        (P, N), for a layer with batch norm; shape (P, N, width), in a work array.

        See :mod:`~gradcheck_edu.layered.batchnorm`: the batch statistics of the P perturbed
        batches from one product; through a smooth activation the change by its series where
        that holds, else ``act(y') * mask - A``.
        """
        layer = self.layers[m]
        if m not in self._bn:
            self._bn[m] = Rank1BatchNorm(self.Z[m], layer.gamma, layer.beta, layer.eps)
        bn = self._bn[m]
        w = layer.W[rows]
        shape = da.shape + (w.shape[1],)
        out = self.buffer(shape, 0)
        if is_smooth(layer.kind):
            work = self.buffer(shape, 2)
            change, ok = bn.increments(da, w, self.coefficients(m), out, work)
            if ok.all():
                return change
            far = np.flatnonzero(~ok)
            change[far] = self._normalized_output(m, bn.output(da[far], w[far],
                                                               work[:far.size]))
            return change
        return self._normalized_output(m, bn.output(da, w, out))

    def _normalized_output(self, m: int, y: np.ndarray) -> np.ndarray:
        """``act(y) * mask - A[m+1]``, in ``y`` (P, N, width)."""
        layer = self.layers[m]
        a = layer.act(y, out=y)
        if layer.mask is not None:
            a *= layer.mask
        a -= self.A[m + 1]
        return a
