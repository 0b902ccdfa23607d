"""Loss changes for batches of single-parameter perturbations: by column, by series, or exactly.

:meth:`LayeredLoss.change` groups the perturbations of a parameter by the column of its layer they
move. Each column is carried to the next layer as a rank-1 update; through the layer after it,
when that one has no batch norm and an activation with a series, the change is carried by the
series (coefficients shared by the whole column), else every perturbation is propagated exactly
(:meth:`~gradcheck_edu.layered.network.Network.propagate`).
"""

from __future__ import annotations

import numpy as np

from .activations import has_series, is_smooth
from .network import Network

__all__ = ["LayeredLoss"]


class LayeredLoss(Network):
    """The loss of a described dense network, with batched perturbation of single parameters.

    Parameters
    ----------
    structure, params, X, y, chunk_bytes
        As for :class:`~gradcheck_edu.layered.network.Network`. ``value`` is the loss at the
        parameters, ``loss_scale`` the size of the terms it is computed from (its round-off is
        about EPS times that).
    """

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
            A weight, bias, or batch-norm scale or shift of one of the layers.
        flat : ndarray of int, shape (P,)
            Flat (C-order) indices into that parameter.
        delta : ndarray, shape (P,) or (P, S)
            One move per index, or S moves per index (the two sides of a central difference:
            work per column is then shared).

        Returns
        -------
        ndarray, the shape of ``delta``
        """
        k, role = self.locate(name)
        flat = np.asarray(flat, dtype=np.int64)
        delta = np.asarray(delta, dtype=np.float64)
        moves = delta.reshape(flat.size, -1)
        out = np.empty(moves.shape)
        if not self.series_applies(k):
            for side in range(moves.shape[1]):
                out[:, side] = self._exact(k, role, flat, moves[:, side])
            return out.reshape(delta.shape)
        # Group the perturbations by the column they move; one expansion per column.
        S = moves.shape[1]
        cols = flat % self.layers[k].W.shape[1] if role == "W" else flat
        order = np.argsort(cols, kind="stable")
        bounds = np.flatnonzero(np.diff(cols[order])) + 1
        for group in np.split(order, bounds):
            out[group] = self._column(k, role, int(cols[group[0]]),
                                      np.repeat(flat[group], S), moves[group].ravel()
                                      ).reshape(-1, S)
        return out.reshape(delta.shape)

    def series_applies(self, k: int) -> bool:
        """Whether changes of layer k's output reach layer k+2 by a series: layer k+1 has an
        activation with one and no batch norm, and there is a layer k+2 to absorb it."""
        return k + 2 < len(self.layers) and not self.layers[k + 1].batchnorm and \
            has_series(self.layers[k + 1].kind)

    def _column(self, k: int, role: str, j: int, flat: np.ndarray,
                delta: np.ndarray) -> np.ndarray:
        """Loss changes for perturbations that all move column j of layer k.

        Layer k+1's pre-activation moves by D = da (outer) w, w = W_{k+1}[j, :]; its output by
        (c1 D + c2 D^2 + c3 D^3) * mask, with the coefficients of
        :func:`~gradcheck_edu.layered.activations.series` at the cached point (tanh, sigmoid
        while max |D| <= 1e-4; ReLU, leaky ReLU while no entry of z + D crosses 0). Layer k+2's
        pre-activation then moves by da M1 + da^2 M2 + da^3 M3 with
        M_q = (c_q * mask * w**q) @ W_{k+2}: a few small products per column instead of a pass
        through the wide layer for every perturbation. Perturbations for which the series does
        not hold are evaluated exactly.
        """
        w = self.layers[k + 1].W[j]
        W_after = self.layers[k + 2].W
        coef = self.coefficients(k + 1)
        M = [(c * w ** (q + 1)) @ W_after for q, c in enumerate(coef)]
        smooth = is_smooth(self.layers[k + 1].kind)
        if smooth:
            w_max = float(np.abs(w).max(initial=0.0))
        else:
            # |da| r < 1 on every sample keeps every z + D on the side of 0 that z is on
            nz = w != 0
            z = self.Y[k + 1][:, nz]
            with np.errstate(divide="ignore"):
                r = (np.abs(w[nz]) / np.abs(z)).max(axis=1, initial=0.0)
        out = np.empty(flat.size)
        step = self.rows(k + 2)
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            y_col, cols, reg = self.moved_column(k, role, flat[sl], delta[sl])
            da = self.column_output(k, y_col, cols)
            if smooth:
                ok = np.abs(da).max(axis=1) * w_max <= 1e-4
            else:
                with np.errstate(invalid="ignore"):  # 0 * inf where z = 0 and da = 0: ignored
                    ok = np.fmax.reduce(np.abs(da) * r, axis=1) < 1
            res = out[sl]
            if not ok.all():
                far = ~ok
                res[far] = self._exact(k, role, flat[sl][far], delta[sl][far])
                da, reg = da[ok], reg[ok]
            if da.shape[0] == 0:
                continue
            dz = self.buffer((da.shape[0],) + self.Z[k + 2].shape)
            d = da[:, :, None]
            np.multiply(d, M[-1], out=dz)
            for Mq in M[-2::-1]:  # Horner: da (M1 + da (M2 + da M3))
                dz += Mq
                dz *= d
            res[ok] = self.propagate(k + 2, dz) + reg
        return out

    def _exact(self, k: int, role: str, flat: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Loss changes by a pass through the layers after k for each perturbation, in chunks:
        a rank-1 update of layer k+1's pre-activation, then ``propagate``."""
        out = np.empty(flat.size)
        step = self.rows(k + 1, extra=self.Z[k].shape[1] if k == len(self.layers) - 1 else 0)
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            out[sl] = self._exact_chunk(k, role, flat[sl], delta[sl])
        return out

    def _exact_chunk(self, k: int, role: str, flat: np.ndarray, delta: np.ndarray
                     ) -> np.ndarray:
        P = flat.size
        y_col, cols, reg = self.moved_column(k, role, flat, delta)
        if k == len(self.layers) - 1:
            # Only output column j moves: by exactly what y_col adds to Z[:, j] (linear), or to
            # act(y_col).
            moved = self.buffer((P,) + self.A[-1].shape)
            sample = np.arange(moved.shape[1])[None, :]
            if self.increments:
                moved[:] = 0.0
                y_col -= self.transposed("Z", k)[cols]
                moved[np.arange(P)[:, None], sample, cols[:, None]] = y_col
                return self.change_from_increment(moved) + reg
            moved[:] = self.A[-1]
            moved[np.arange(P)[:, None], sample, cols[:, None]] = self.layers[k].act(y_col)
            return self.loss(moved) - self.data_value + reg
        # Rank-1 update of the next pre-activation: z_{k+1} += da_k[:, j] (outer) W_{k+1}[j, :]
        da = self.column_output(k, y_col, cols)
        if self.layers[k + 1].batchnorm and k + 1 < len(self.layers) - 1:
            return self.propagate_output(k + 1, self.rank1_output(k + 1, da, cols)) + reg
        W_next = self.layers[k + 1].W
        dz = self.buffer((P,) + self.Z[k + 1].shape)
        np.multiply(da[:, :, None], W_next[cols][:, None, :], out=dz)
        return self.propagate(k + 1, dz) + reg
