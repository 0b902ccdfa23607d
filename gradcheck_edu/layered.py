"""Structure-aware central differences for layered models: a full check in a fraction of 2n calls.

A full central-difference check of a model with ``n`` parameters costs ``2n`` loss evaluations.
For a stack of dense layers most of that work is repeated: perturbing ``W_l[i, j]`` changes only
column ``j`` of layer ``l``'s pre-activation, so layer ``l+1``'s pre-activation changes by the
rank-1 term ``da_l[:, j] (outer) W_{l+1}[j, :]``. This module reuses the activations cached before
layer ``l``, applies that rank-1 update, batches many perturbations into one broadcast
computation, and recomputes only what changes. It evaluates exactly the same central difference
``(L(theta + h e_k) - L(theta - h e_k)) / 2h`` at the same points as the generic path; only the
floating-point operations differ. Where the output layer is linear, each ``L(theta +- h e_k) -
L(theta)`` is computed from the increments of the outputs (``_data_loss_change``), so the
difference keeps the digits that subtracting two rounded losses near 2.3 would lose: against
backprop what remains is the O(h^2) truncation, not round-off.

A model opts in by describing itself with ``model.layer_structure()``::

    {"layers": [{"W": "W1", "b": "b1", "activation": "tanh"},
                {"W": "W2", "b": "b2", "activation": None}],
     "loss": "softmax_cross_entropy",   # or "binary_cross_entropy" (with logits), "mse"
     "l2": 0.0}                          # total loss = data loss + l2/2 * sum ||W||_F^2

where ``"W"``/``"b"`` name arrays of ``model.params`` (``out = x @ W + b``), and the activation is
``None``, ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``("leaky_relu", slope)``. The description is
verified: the loss it implies must equal ``model.loss(X, y)`` at the current parameters, or the
generic path is used. This module never imports a model class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LayeredLoss", "structure_of"]

# Perturbations are evaluated in chunks whose widest work array holds about this many bytes: small
# enough to stay in cache, large enough to amortize Python overhead. Peak extra memory is a few
# times this, whatever the number of parameters.
_CHUNK_BYTES = 8 * 2**20


def _activation(spec: Any):
    """The activation as a function ``act(z, out=None)`` (``out=z`` works in place)."""
    if spec is None or spec == "identity":
        return lambda z, out=None: z if out is None else np.copyto(out, z) or out
    if spec == "relu":
        return lambda z, out=None: np.maximum(z, 0.0, out=out)
    if spec == "tanh":
        return lambda z, out=None: np.tanh(z, out=out)
    if spec == "sigmoid":
        def sigmoid(z, out=None):  # 1 / (1 + exp(-z)) = (1 + tanh(z/2)) / 2: no overflow
            out = np.multiply(z, 0.5, out=out)
            np.tanh(out, out=out)
            out += 1.0
            out *= 0.5
            return out
        return sigmoid
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "leaky_relu":
        slope = float(spec[1])

        def leaky_relu(z, out=None):
            negative = z <= 0
            out = np.copyto(out, z) or out if out is not None else z.copy()
            np.multiply(out, slope, out=out, where=negative)
            return out
        return leaky_relu
    raise ValueError(f"unsupported activation {spec!r}")


def _tanh_series(a: np.ndarray) -> tuple[np.ndarray, ...]:
    """tanh(z + D) - tanh(z) = c1 D + c2 D^2 + c3 D^3 + O(D^4), with a = tanh(z)."""
    s = 1 - a * a
    return s, -a * s, -s * (1 - 3 * a * a) / 3


def _sigmoid_series(a: np.ndarray) -> tuple[np.ndarray, ...]:
    """sigma(z + D) - sigma(z) = c1 D + c2 D^2 + c3 D^3 + O(D^4), with a = sigma(z)."""
    s = a * (1 - a)
    return s, s * (1 - 2 * a) / 2, s * (1 - 6 * a + 6 * a * a) / 6


_TAYLOR = {"tanh": _tanh_series, "sigmoid": _sigmoid_series}


def _data_loss(kind: str, out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean data loss for a batch of outputs ``out`` (..., N, C); returns shape (...)."""
    if kind == "softmax_cross_entropy":
        m = out.max(axis=-1, keepdims=True)
        lse = np.log(np.sum(np.exp(out - m), axis=-1)) + m[..., 0]
        picked = np.take_along_axis(out, np.broadcast_to(y[:, None], out.shape[:-1] + (1,)),
                                    axis=-1)[..., 0]
        return np.mean(lse - picked, axis=-1)
    axes = (-2, -1)
    if kind == "binary_cross_entropy":
        return np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))), axis=axes)
    if kind == "mse":
        return np.mean((out - y) ** 2, axis=axes)
    raise ValueError(f"unsupported loss {kind!r}")


def _cross_entropy_inplace(out: np.ndarray, y: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Softmax cross-entropy of a (P, N, C) batch of logits, overwriting ``out``.

    The same value as :func:`_data_loss`, arranged for speed: the log-sum-exp is shifted by the
    unperturbed row maxima ``shift`` (N,) instead of recomputing them (any shift is exact while
    exp does not overflow), and the short reductions over C go through BLAS.
    """
    P, N, C = out.shape
    out -= shift[:, None]
    picked = out.reshape(P, N * C)[:, np.arange(N) * C + y]
    np.exp(out, out=out)
    lse = np.log(out @ np.ones(C))
    return (lse - picked) @ np.full(N, 1.0 / N)


def _data_loss_change(kind: str, base: np.ndarray, probs: np.ndarray, inc: np.ndarray,
                      y: np.ndarray) -> np.ndarray:
    """Change of the mean data loss when the outputs ``base`` (N, C) move by ``inc`` (P, N, C).

    Computed from the increments themselves, never as a difference of two losses, so the result
    is accurate relative to the change (a difference of two losses near 2.3 loses everything
    below 2.3 * 1e-16). ``probs`` is softmax(base) or sigmoid(base), as the loss needs; ``inc``
    is overwritten. Returns shape (P,).
    """
    if kind == "softmax_cross_entropy":
        # lse(z + d) - lse(z) = log(sum_c p_c e^{d_c}) = log1p(sum_c p_c (e^{d_c} - 1))
        P, N, C = inc.shape
        picked = inc.reshape(P, N * C)[:, np.arange(N) * C + y]
        np.expm1(inc, out=inc)
        inc *= probs
        change = np.log1p(inc @ np.ones(C))
        change -= picked
        return change @ np.full(N, 1.0 / N)
    if kind == "binary_cross_entropy":
        # softplus(x + d) - softplus(x) = log1p(sigma(x) (e^d - 1)); the -x y term moves by -d y
        change = np.log1p(probs * np.expm1(inc)) - inc * y
        return np.mean(change, axis=(-2, -1))
    if kind == "mse":
        # (x + d - y)^2 - (x - y)^2 = d (2 (x - y) + d)
        return np.mean(inc * (2 * (base - y) + inc), axis=(-2, -1))
    raise ValueError(f"unsupported loss {kind!r}")


def structure_of(model: Any) -> dict | None:
    """The model's layer structure if it describes one this module supports, else None."""
    describe = getattr(model, "layer_structure", None)
    if not callable(describe):
        return None
    try:
        structure = describe()
    except NotImplementedError:
        return None
    if structure is None:
        return None
    try:
        for layer in structure["layers"]:
            _activation(layer.get("activation"))
        _data_loss(structure["loss"], np.zeros((1, 1)), np.zeros(1, dtype=np.int64))
    except (KeyError, TypeError, ValueError):
        return None
    return structure


class LayeredLoss:
    """The loss of a described dense network, with batched perturbation of single parameters.

    Parameters
    ----------
    structure : dict
        See the module docstring.
    params : dict of name -> float64 ndarray
        The model's parameters (read, never written).
    X : ndarray, shape (N, d_0)
    y : ndarray
        Integer labels (N,) for softmax cross-entropy, targets shaped like the output otherwise.
    """

    def __init__(self, structure: dict, params: dict, X: Any, y: Any):
        self.kind = structure["loss"]
        self.l2 = float(structure.get("l2", 0.0))
        self.layers, self.kinds = [], []
        for layer in structure["layers"]:
            W, b = params[layer["W"]], params[layer["b"]]
            self.layers.append((layer["W"], layer["b"], W, b, _activation(layer.get("activation"))))
            self.kinds.append(layer.get("activation"))
        self.X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        self.y = y.astype(np.int64) if self.kind == "softmax_cross_entropy" else y.astype(float)
        # Cached forward pass: A[k] is the input of layer k, Z[k] its pre-activation.
        self.A, self.Z = [self.X], []
        for _, _, W, b, act in self.layers:
            self.Z.append(self.A[-1] @ W + b)
            self.A.append(act(self.Z[-1]))
        self.reg = 0.5 * self.l2 * sum(float(np.sum(W * W)) for _, _, W, _, _ in self.layers)
        self.value = float(_data_loss(self.kind, self.A[-1], self.y)) + self.reg
        self._shift = self.A[-1].max(axis=1)
        self.data_value = self.value - self.reg
        # With a linear output layer, a perturbation's effect on the outputs is carried as an
        # increment and the loss change computed from it (see _data_loss_change).
        self._increments = self.kinds[-1] in (None, "identity")
        out = self.A[-1]
        if self.kind == "softmax_cross_entropy":
            e = np.exp(out - self._shift[:, None])
            self._probs = e / e.sum(axis=1, keepdims=True)
        elif self.kind == "binary_cross_entropy":
            self._probs = 0.5 * (1 + np.tanh(0.5 * out))
        else:
            self._probs = None
        self._work = np.empty(0)
        self._coef: dict[int, tuple[np.ndarray, ...]] = {}

    def _loss(self, out: np.ndarray) -> np.ndarray:
        """Data loss of a (P, N, C) batch of outputs, which may be overwritten."""
        # exp(out - shift) cannot overflow while every logit stays within 500 of the shift
        if self.kind == "softmax_cross_entropy" and out.max() - self._shift.min() < 500:
            return _cross_entropy_inplace(out, self.y, self._shift)
        return _data_loss(self.kind, out, self.y)

    def _change_from_increment(self, inc: np.ndarray) -> np.ndarray:
        """Change of the data loss when the cached outputs move by ``inc`` (P, N, C), which may
        be overwritten."""
        if np.abs(inc).max(initial=0.0) > 1.0:  # far from a small step: evaluate it directly
            inc += self.A[-1]
            return self._loss(inc) - self.data_value
        return _data_loss_change(self.kind, self.A[-1], self._probs, inc, self.y)

    def names(self) -> list[str]:
        return [name for wn, bn, *_ in self.layers for name in (wn, bn)]

    def _batch_size(self, layer: int) -> int:
        n = self.X.shape[0]
        # Work arrays are (P, N, width) for the layers after the perturbed one.
        after = self.layers[min(layer + 1, len(self.layers) - 1):]
        widest = max(W.shape[1] for _, _, W, _, _ in after)
        return max(1, _CHUNK_BYTES // (n * widest * 8))

    def _buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        """A reused work array: fresh large arrays cost page faults on every chunk."""
        size = int(np.prod(shape))
        if self._work.size < size:
            self._work = np.empty(size)
        return self._work[:size].reshape(shape)

    def perturbed(self, name: str, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Loss with ``params[name].flat[flat[p]]`` moved by ``delta[p]``, for each p:
        ``value + change(name, flat, delta)``."""
        return self.value + self.change(name, flat, delta)

    def change(self, name: str, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Change of the loss when ``params[name].flat[flat[p]]`` moves by ``delta[p]``.

        Where the network allows it (a linear output layer reached by a rank-1 update or the
        series), the change is computed from the increments themselves, so it is accurate
        relative to its own size, not to the loss's: a central difference formed from two
        changes keeps digits that a difference of two losses rounds away.

        Parameters
        ----------
        name : str
            A weight or bias of one of the layers.
        flat : ndarray of int, shape (P,)
            Flat (C-order) indices into that parameter.
        delta : ndarray, shape (P,)

        Returns
        -------
        ndarray, shape (P,)
        """
        k = next((k for k, (wn, bn, *_) in enumerate(self.layers) if name in (wn, bn)), None)
        if k is None:
            raise KeyError(f"{name!r} is not a parameter of the described layers")
        is_weight = name == self.layers[k][0]
        out = np.empty(flat.size)
        if self._taylor_applies(k):
            # Group the perturbations by the column they move; one rank-1 expansion per column.
            cols = flat % self.layers[k][2].shape[1] if is_weight else flat
            order = np.argsort(cols, kind="stable")
            bounds = np.flatnonzero(np.diff(cols[order])) + 1
            for group in np.split(order, bounds):
                out[group] = self._perturbed_column(k, is_weight, int(cols[group[0]]),
                                                    flat[group], delta[group])
            return out
        step = self._batch_size(k)
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            out[sl] = self._perturbed_chunk(k, is_weight, flat[sl], delta[sl])
        return out

    def _taylor_applies(self, k: int) -> bool:
        """A smooth activation after layer k+1, and a layer after it to absorb the expansion."""
        return k + 2 < len(self.layers) and self.kinds[k + 1] in _TAYLOR

    def _coefficients(self, k: int) -> tuple[np.ndarray, ...]:
        """Taylor coefficients of layer k's activation at its cached output (cached)."""
        if k not in self._coef:
            self._coef[k] = _TAYLOR[self.kinds[k]](self.A[k + 1])
        return self._coef[k]

    def _perturbed_column(self, k: int, is_weight: bool, j: int, flat: np.ndarray,
                          delta: np.ndarray) -> np.ndarray:
        """Loss changes for perturbations that all move column j of layer k's pre-activation.

        Layer k+1's pre-activation moves by D = da (outer) w, w = W_{k+1}[j, :]. Its smooth
        activation moves by c1 D + c2 D^2 + c3 D^3 (Taylor, with the coefficients at the cached
        point); while |D| <= 1e-4 the next term is below 1e-16 of the activation, i.e. under
        float64 resolution. Layer k+2's pre-activation then moves by
        da M1 + da^2 M2 + da^3 M3 with M_q = (c_q * w**q) @ W_{k+2}: three small products per
        column instead of a pass through the wide layer for every perturbation.
        """
        _, _, W, _, act = self.layers[k]
        if is_weight:
            rows = flat // W.shape[1]
            z_col = self.Z[k][:, j][None, :] + delta[:, None] * self.A[k][:, rows].T
            reg = self.l2 * delta * (W.ravel()[flat] + 0.5 * delta)  # (l2/2)((W+d)^2 - W^2)
        else:
            z_col = self.Z[k][:, j][None, :] + delta[:, None]
            reg = np.zeros(flat.size)
        da = act(z_col) - self.A[k + 1][:, j][None, :]
        w = self.layers[k + 1][2][j]
        if np.abs(da).max(initial=0.0) * np.abs(w).max(initial=0.0) > 1e-4:
            return self._perturbed_chunk(k, is_weight, flat, delta)  # too far for the series
        W_after = self.layers[k + 2][2]
        c1, c2, c3 = self._coefficients(k + 1)
        M1, M2, M3 = (c1 * w) @ W_after, (c2 * w**2) @ W_after, (c3 * w**3) @ W_after
        z = self._buffer((flat.size,) + self.Z[k + 2].shape)
        np.multiply(da[:, :, None], M3, out=z)
        z += M2
        z *= da[:, :, None]
        z += M1
        z *= da[:, :, None]  # Horner: da (M1 + da (M2 + da M3))
        if k + 2 == len(self.layers) - 1 and self._increments:
            return self._change_from_increment(z) + reg
        z += self.Z[k + 2]
        a = self.layers[k + 2][4](z, out=z)
        for _, _, W_m, b_m, act_m in self.layers[k + 3:]:
            a = a @ W_m
            a += b_m
            a = act_m(a, out=a)
        return self._loss(a) - self.data_value + reg

    def _perturbed_chunk(self, k: int, is_weight: bool, flat: np.ndarray,
                         delta: np.ndarray) -> np.ndarray:
        _, _, W, b, act = self.layers[k]
        P = flat.size
        if is_weight:
            rows, cols = np.divmod(flat, W.shape[1])
            # z_k[:, j] moves by delta * a_{k-1}[:, i]: one column per perturbation, (P, N)
            z_col = self.Z[k][:, cols].T + delta[:, None] * self.A[k][:, rows].T
            reg = self.l2 * delta * (W.ravel()[flat] + 0.5 * delta)  # (l2/2)((W+d)^2 - W^2)
        else:
            cols = flat
            z_col = self.Z[k][:, cols].T + delta[:, None]
            reg = np.zeros(P)
        last = len(self.layers) - 1
        if k == last and self._increments:
            # the output column j moves by exactly what z_col adds to Z[:, j]
            inc = self._buffer((P,) + self.A[-1].shape)
            inc[:] = 0.0
            step = delta[:, None] * self.A[k][:, rows].T if is_weight else delta[:, None]
            inc[np.arange(P)[:, None], np.arange(inc.shape[1])[None, :], cols[:, None]] = step
            return self._change_from_increment(inc) + reg
        a_col = act(z_col)
        if k == last:
            out = self._buffer((P,) + self.A[-1].shape)
            out[:] = self.A[-1]
            out[np.arange(P)[:, None], np.arange(out.shape[1])[None, :], cols[:, None]] = a_col
            return self._loss(out) - self.data_value + reg
        # Rank-1 update of the next pre-activation: z_{k+1} += da_k[:, j] (outer) W_{k+1}[j, :]
        da = a_col - self.A[k + 1][:, cols].T
        W_next = self.layers[k + 1][2]
        a = self._buffer((P,) + self.Z[k + 1].shape)
        np.multiply(da[:, :, None], W_next[cols][:, None, :], out=a)
        if k + 1 == last and self._increments:
            return self._change_from_increment(a) + reg
        a += self.Z[k + 1]
        self.layers[k + 1][4](a, out=a)
        for _, _, W_m, b_m, act_m in self.layers[k + 2:]:
            a = a @ W_m
            a += b_m
            a = act_m(a, out=a)
        return self._loss(a) - self.data_value + reg
