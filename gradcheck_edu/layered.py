"""Structure-aware central differences for layered models: a full check in a fraction of 2n calls.

A full central-difference check of a model with ``n`` parameters costs ``2n`` loss evaluations.
For a stack of dense layers most of that work is repeated: perturbing ``W_l[i, j]`` changes only
column ``j`` of layer ``l``'s pre-activation, so layer ``l+1``'s pre-activation changes by the
rank-1 term ``da_l[:, j] (outer) W_{l+1}[j, :]``. This module reuses the activations cached before
layer ``l``, applies that rank-1 update, batches many perturbations into one broadcast
computation, and recomputes only what changes. Through the activation after layer ``l+1`` the
change is carried by a series, with coefficients shared by all perturbations of a column: the
Taylor series of tanh and sigmoid (exact to float64 resolution while the move is below 1e-4), the
slopes of ReLU and leaky ReLU (exact while no pre-activation crosses 0); perturbations for which
it does not hold are evaluated exactly. Work arrays are chunked to ``chunk_bytes`` (8 MB), so
the extra memory stays a few tens of MB whatever the size of the model.

It evaluates exactly the same central difference ``(L(theta + h e_k) - L(theta - h e_k)) / 2h``
at the same points, with the same ``h``, as the generic path; only the floating-point operations
differ. With a linear output layer, each ``L(theta +- h e_k) - L(theta)`` is computed from the
increments of the activations and outputs (``_data_loss_change``), never as a difference of two
rounded losses near 2.3, so its central differences carry almost no round-off.

Agreement with the generic path. Measured against the same central differences computed in
extended precision (``np.longdouble``) at eps = 1e-6, for every activation and loss: this path is
2e-12 to 1e-11 from them on MLP([5, 7, 6, 4]) and within 5e-11 (the reference's own round-off) on
MLP([64, 128, 128, 10]) at batch 256; the generic path is 5e-10 to 7e-9 and 1e-8 to 1e-7 from
them. The generic path's error is the round-off of its loss values (about 0.4 EPS |L| each, rms,
so ``0.3 EPS |L| / h`` per component, whatever the model), and it is the whole of the difference
between the two paths: they agree to 1e-8 only where the gradient is large enough for that
round-off (small models, larger steps). Their verdicts are the same: a difference within the
round-off is given the verdict of the resolution (``check._verdict``), which depends on the steps
and loss values only.

A model opts in by describing itself with ``model.layer_structure()``::

    {"layers": [{"W": "W1", "b": "b1", "activation": "tanh"},
                {"W": "W2", "b": "b2", "activation": None}],
     "loss": "softmax_cross_entropy",   # or "binary_cross_entropy" (with logits), "mse"
     "l2": 0.0}                          # total loss = data loss + l2/2 * sum ||W||_F^2

where ``"W"``/``"b"`` name arrays of ``model.params`` (``out = x @ W + b``), and the activation is
``None``, ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``("leaky_relu", slope)``. The description is
not trusted: the loss it implies must equal ``model.loss(X, y)`` at the current parameters, and
for each parameter the largest and one random change it predicts must match ``model.loss``
itself at ``theta +- h e_k`` (see ``check._spot_check``), or the generic path is used. This module
never imports a model class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LayeredLoss", "structure_of"]

# Perturbations are evaluated in chunks whose widest work array holds about this many bytes: small
# enough to stay in cache, large enough to amortize Python overhead. Every work array is bounded by
# it, so peak extra memory is a few times this (under 100 MB), whatever the number of parameters.
CHUNK_BYTES = 8 * 2**20


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
        if 0.0 <= slope <= 1.0:
            def leaky_relu(z, out=None):  # max(z, slope z): the same products as the model's
                return np.maximum(z, np.multiply(z, slope), out=out)
            return leaky_relu

        def leaky_relu_any(z, out=None):
            return np.where(z > 0, z, slope * z) if out is None else np.copyto(
                out, np.where(z > 0, z, slope * z)) or out
        return leaky_relu_any
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


def _slopes(spec: Any, z: np.ndarray) -> np.ndarray | None:
    """The slope of a piecewise-linear activation on each side of 0 at ``z``, or None."""
    if spec == "relu":
        return (z > 0).astype(np.float64)
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "leaky_relu":
        return np.where(z > 0, 1.0, float(spec[1]))
    return None


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
        Integer labels (N,) for softmax cross-entropy, targets shaped like the output otherwise
        (shape (N,) is accepted for a single output, as the models accept it).
    chunk_bytes : int
        Memory budget of one work array; perturbations are processed in chunks that fit it.
        Peak extra memory is a few times this, whatever the number of parameters or perturbations.
    """

    def __init__(self, structure: dict, params: dict, X: Any, y: Any,
                 chunk_bytes: int = CHUNK_BYTES):
        self.kind = structure["loss"]
        self.l2 = float(structure.get("l2", 0.0))
        self.chunk_bytes = int(chunk_bytes)
        self.layers, self.kinds = [], []
        for layer in structure["layers"]:
            W, b = params[layer["W"]], params[layer["b"]]
            self.layers.append((layer["W"], layer["b"], W, b, _activation(layer.get("activation"))))
            self.kinds.append(layer.get("activation"))
        self.X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if self.kind == "softmax_cross_entropy":
            self.y = y.astype(np.int64)
        else:
            self.y = y.astype(float)
            n_out = self.layers[-1][2].shape[1]
            if self.y.ndim == 1 and n_out == 1:  # one output: targets (N,) as the models take
                self.y = self.y.reshape(-1, 1)
            if self.y.shape != (self.X.shape[0], n_out):
                raise ValueError(f"targets of shape {y.shape} for {n_out} outputs")
        # Cached forward pass: A[k] is the input of layer k, Z[k] its pre-activation.
        self.A, self.Z = [self.X], []
        for _, _, W, b, act in self.layers:
            self.Z.append(self.A[-1] @ W + b)
            self.A.append(act(self.Z[-1]))
        self.reg = 0.5 * self.l2 * sum(float(np.sum(W * W)) for _, _, W, _, _ in self.layers)
        self.value = float(_data_loss(self.kind, self.A[-1], self.y)) + self.reg
        self._shift = self.A[-1].max(axis=1)
        self.data_value = self.value - self.reg
        out = self.A[-1]
        # The size of the terms the loss is computed from: its round-off is EPS times this.
        terms = float(np.abs(out).max(initial=0.0))
        if self.kind == "mse":
            dev = float(np.abs(out - self.y).max(initial=0.0))
            terms = dev * (2 * terms + dev)
        self.loss_scale = max(abs(self.value), terms)
        # With a linear output layer, a perturbation's effect on the outputs is carried as an
        # increment and the loss change computed from it (see _data_loss_change).
        self._increments = self.kinds[-1] in (None, "identity")
        if self.kind == "softmax_cross_entropy":
            e = np.exp(out - self._shift[:, None])
            self._probs = e / e.sum(axis=1, keepdims=True)
        elif self.kind == "binary_cross_entropy":
            self._probs = 0.5 * (1 + np.tanh(0.5 * out))
        else:
            self._probs = None
        self._work = [np.empty(0), np.empty(0)]
        self._coef: dict[int, tuple[np.ndarray, ...]] = {}
        self._T: dict[tuple[str, int], np.ndarray] = {}

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

    # ------------------------------------------------------------------ memory
    def _rows(self, layer: int, extra: int = 0) -> int:
        """Perturbations per chunk when work arrays are (P, N, width) for layers ``layer`` on
        (and ``extra`` more floats per sample and perturbation): each fits ``chunk_bytes``."""
        n = self.X.shape[0]
        widest = max([W.shape[1] for _, _, W, _, _ in self.layers[layer:]] + [extra, 1])
        return max(1, self.chunk_bytes // (n * widest * 8))

    def _buffer(self, shape: tuple[int, ...], slot: int = 0) -> np.ndarray:
        """A reused work array (two slots): fresh large arrays cost page faults on every chunk."""
        size = int(np.prod(shape))
        if self._work[slot].size < size:
            self._work[slot] = np.empty(size)
        return self._work[slot][:size].reshape(shape)

    def _transposed(self, which: str, k: int) -> np.ndarray:
        """A[k].T or Z[k].T, C-contiguous (cached): the columns of a batch as rows."""
        key = (which, k)
        if key not in self._T:
            self._T[key] = np.ascontiguousarray((self.A if which == "A" else self.Z)[k].T)
        return self._T[key]

    # ------------------------------------------------------------------ perturbations
    def perturbed(self, name: str, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Loss with ``params[name].flat[flat[p]]`` moved by ``delta[p]``, for each p:
        ``value + change(name, flat, delta)``."""
        return self.value + self.change(name, flat, delta)

    def change(self, name: str, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Change of the loss when ``params[name].flat[flat[p]]`` moves by ``delta[p]``.

        Where the network allows it (a linear output layer), the change is computed from the
        increments themselves, so it is accurate relative to its own size, not to the loss's: a
        central difference formed from two changes keeps digits that a difference of two losses
        rounds away.

        Parameters
        ----------
        name : str
            A weight or bias of one of the layers.
        flat : ndarray of int, shape (P,)
            Flat (C-order) indices into that parameter.
        delta : ndarray, shape (P,) or (P, S)
            One move per index, or S moves per index (the two sides of a central difference:
            work per column is then shared).

        Returns
        -------
        ndarray, the shape of ``delta``
        """
        k = next((k for k, (wn, bn, *_) in enumerate(self.layers) if name in (wn, bn)), None)
        if k is None:
            raise KeyError(f"{name!r} is not a parameter of the described layers")
        is_weight = name == self.layers[k][0]
        flat = np.asarray(flat, dtype=np.int64)
        delta = np.asarray(delta, dtype=np.float64)
        moves = delta.reshape(flat.size, -1)
        out = np.empty(moves.shape)
        if not self._series_applies(k):
            for side in range(moves.shape[1]):
                out[:, side] = self._exact(k, is_weight, flat, moves[:, side])
            return out.reshape(delta.shape)
        # Group the perturbations by the column they move; one expansion per column.
        S = moves.shape[1]
        cols = flat % self.layers[k][2].shape[1] if is_weight else flat
        order = np.argsort(cols, kind="stable")
        bounds = np.flatnonzero(np.diff(cols[order])) + 1
        for group in np.split(order, bounds):
            out[group] = self._column(k, is_weight, int(cols[group[0]]),
                                      np.repeat(flat[group], S), moves[group].ravel()
                                      ).reshape(-1, S)
        return out.reshape(delta.shape)

    def _series_applies(self, k: int) -> bool:
        """An activation with a series after layer k+1, and a layer after it to absorb it."""
        return k + 2 < len(self.layers) and (
            self.kinds[k + 1] in _TAYLOR or _slopes(self.kinds[k + 1], np.zeros(0)) is not None)

    def _coefficients(self, k: int) -> tuple[np.ndarray, ...]:
        """Series coefficients of layer k's activation at the cached point (cached): (c1, c2,
        c3) for tanh and sigmoid, the slopes (c1,) for a piecewise-linear one."""
        if k not in self._coef:
            if self.kinds[k] in _TAYLOR:
                self._coef[k] = _TAYLOR[self.kinds[k]](self.A[k + 1])
            else:
                self._coef[k] = (_slopes(self.kinds[k], self.Z[k]),)
        return self._coef[k]

    def _moved_column(self, k: int, is_weight: bool, flat: np.ndarray, delta: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns of layer k's pre-activation after each perturbation, (P, N), the columns they
        are, and the change of the l2 term, (P,)."""
        W = self.layers[k][2]
        if is_weight:
            rows, cols = np.divmod(flat, W.shape[1])
            # z_k[:, j] moves by delta * a_{k-1}[:, i]
            z_col = self._transposed("A", k)[rows]
            z_col *= delta[:, None]
            z_col += self._transposed("Z", k)[cols]
            reg = self.l2 * delta * (W.ravel()[flat] + 0.5 * delta)  # (l2/2)((W+d)^2 - W^2)
        else:
            cols = flat
            z_col = self._transposed("Z", k)[cols]
            z_col += delta[:, None]
            reg = np.zeros(flat.size)
        return z_col, cols, reg

    def _column(self, k: int, is_weight: bool, j: int, flat: np.ndarray,
                delta: np.ndarray) -> np.ndarray:
        """Loss changes for perturbations that all move column j of layer k's pre-activation.

        Layer k+1's pre-activation moves by D = da (outer) w, w = W_{k+1}[j, :]. Its activation
        moves by c1 D + c2 D^2 + c3 D^3, with the coefficients at the cached point:

        * tanh, sigmoid: the Taylor series; while |D| <= 1e-4 the next term is below 1e-16 of
          the activation, i.e. under float64 resolution;
        * ReLU, leaky ReLU: c1 is the slope and the rest 0, exactly, as long as no entry of
          z + D crosses 0 (|D| < |z| everywhere).

        Layer k+2's pre-activation then moves by da M1 + da^2 M2 + da^3 M3 with
        M_q = (c_q * w**q) @ W_{k+2}: a few small products per column instead of a pass through
        the wide layer for every perturbation. Perturbations for which the series does not hold
        are evaluated exactly.
        """
        act = self.layers[k][4]
        w = self.layers[k + 1][2][j]
        W_after = self.layers[k + 2][2]
        coef = self._coefficients(k + 1)
        M = [(c * w ** (q + 1)) @ W_after for q, c in enumerate(coef)]
        smooth = len(coef) == 3
        if smooth:
            w_max = float(np.abs(w).max(initial=0.0))
        else:
            # |da| r < 1 on every sample keeps every z + D on the side of 0 that z is on
            nz = w != 0
            z = self.Z[k + 1][:, nz]
            with np.errstate(divide="ignore"):
                r = (np.abs(w[nz]) / np.abs(z)).max(axis=1, initial=0.0)
        a_col = self._transposed("A", k + 1)[j]
        out = np.empty(flat.size)
        step = self._rows(k + 2)
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            z_col, _, reg = self._moved_column(k, is_weight, flat[sl], delta[sl])
            da = act(z_col, out=z_col)
            da -= a_col
            if smooth:
                ok = np.abs(da).max(axis=1) * w_max <= 1e-4
            else:
                with np.errstate(invalid="ignore"):  # 0 * inf where z = 0 and da = 0: ignored
                    ok = np.fmax.reduce(np.abs(da) * r, axis=1) < 1
            res = out[sl]
            if not ok.all():
                far = ~ok
                res[far] = self._exact(k, is_weight, flat[sl][far], delta[sl][far])
                da, reg = da[ok], reg[ok]
            if da.shape[0] == 0:
                continue
            dz = self._buffer((da.shape[0],) + self.Z[k + 2].shape)
            d = da[:, :, None]
            np.multiply(d, M[-1], out=dz)
            for Mq in M[-2::-1]:  # Horner: da (M1 + da (M2 + da M3))
                dz += Mq
                dz *= d
            res[ok] = self._propagate(k + 2, dz) + reg
        return out

    def _propagate(self, m: int, dz: np.ndarray) -> np.ndarray:
        """Change of the data loss when layer m's pre-activation moves by ``dz`` (P, N, width),
        which is overwritten.

        The increments are carried layer by layer, ``dA = act(Z + dZ) - A`` and ``dZ' = dA @ W``,
        down to the outputs, where the loss change is computed from them (linear output layer);
        otherwise the perturbed outputs' loss minus the cached loss.
        """
        last = len(self.layers) - 1
        slot = 0
        while True:
            if m == last and self._increments:
                return self._change_from_increment(dz)
            a = dz
            a += self.Z[m]
            a = self.layers[m][4](a, out=a)
            if m == last:
                return self._loss(a) - self.data_value
            a -= self.A[m + 1]
            slot = 1 - slot
            W_next = self.layers[m + 1][2]
            dz = self._buffer(a.shape[:-1] + (W_next.shape[1],), slot)
            # one (P*N, width) product: faster than P stacked ones
            np.matmul(a.reshape(-1, a.shape[-1]), W_next, out=dz.reshape(-1, dz.shape[-1]))
            m += 1

    def _exact(self, k: int, is_weight: bool, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Loss changes by a pass through the layers after k for each perturbation, in chunks:
        a rank-1 update of layer k+1's pre-activation, then :meth:`_propagate`."""
        out = np.empty(flat.size)
        step = self._rows(k + 1, extra=self.Z[k].shape[1] if k == len(self.layers) - 1 else 0)
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            out[sl] = self._exact_chunk(k, is_weight, flat[sl], delta[sl])
        return out

    def _exact_chunk(self, k: int, is_weight: bool, flat: np.ndarray,
                     delta: np.ndarray) -> np.ndarray:
        act = self.layers[k][4]
        P = flat.size
        z_col, cols, reg = self._moved_column(k, is_weight, flat, delta)
        if k == len(self.layers) - 1:
            # Only output column j moves: by exactly what z_col adds to Z[:, j] (linear), or to
            # act(z_col).
            moved = self._buffer((P,) + self.A[-1].shape)
            sample = np.arange(moved.shape[1])[None, :]
            if self._increments:
                moved[:] = 0.0
                z_col -= self._transposed("Z", k)[cols]
                moved[np.arange(P)[:, None], sample, cols[:, None]] = z_col
                return self._change_from_increment(moved) + reg
            moved[:] = self.A[-1]
            moved[np.arange(P)[:, None], sample, cols[:, None]] = act(z_col)
            return self._loss(moved) - self.data_value + reg
        # Rank-1 update of the next pre-activation: z_{k+1} += da_k[:, j] (outer) W_{k+1}[j, :]
        da = act(z_col, out=z_col)
        da -= self._transposed("A", k + 1)[cols]
        W_next = self.layers[k + 1][2]
        dz = self._buffer((P,) + self.Z[k + 1].shape)
        np.multiply(da[:, :, None], W_next[cols][:, None, :], out=dz)
        return self._propagate(k + 1, dz) + reg
