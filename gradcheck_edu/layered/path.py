"""The structure-aware path of :func:`~gradcheck_edu.check_model`: its entry and its spot check.

The loss changes themselves are computed by the rest of :mod:`gradcheck_edu.layered`; here they
are turned into an :class:`~gradcheck_edu.finite_diff.Estimate` (judged by the same
:func:`~gradcheck_edu.check.judge_parameter` as every other check) and checked against
``model.loss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..finite_diff import Estimate
from ..stencils import EPS, representable_steps, steps_for
from ..target import Target
from . import structure_of
from .perturbations import LayeredLoss

__all__ = ["structured_estimate", "spot_check", "STRUCTURED_ROUNDOFF"]

# The round-off of this path's central differences as a fraction of the generic path's (whose
# loss values are each rounded). Measured against the same central differences in extended
# precision (np.longdouble), for every activation and loss: this path is 2e-12 to 5e-11 from
# them where the generic path is 5e-10 to 1e-7 (a ratio of 1e-3 to 4e-3; see
# gradcheck_edu.layered). 1e-2 keeps a margin of 2.5 over the worst ratio measured.
STRUCTURED_ROUNDOFF = 1e-2


def structured_estimate(model: Any, f: Callable, X: Any, y: Any, eps: float | None, method: str,
                      indices: np.ndarray | None, strict: bool = False
                      ) -> tuple[Estimate | None, str]:
    """Central differences through :class:`~gradcheck_edu.layered.LayeredLoss`, and why not.

    (None, "") when the model offers no usable description or the description does not
    reproduce ``model.loss`` at the unperturbed parameters; (None, message) when it does not at a
    perturbed point (see :func:`spot_check`), or with ``strict`` a ValueError with the message.
    """
    structure = structure_of(model) if method == "central" else None
    params = model.params
    if structure is None or any(np.asarray(v).dtype != np.float64 for v in params.values()):
        return None, ""
    target = Target(f, params)
    leaf, flat = target.spec.components(indices)
    steps = steps_for(target, leaf, flat, eps, "central")
    f0 = target.base_value()
    try:
        layered = LayeredLoss(structure, params, X, y)
    except (KeyError, ValueError, TypeError, IndexError):
        return None, ""
    if set(layered.names()) != set(params) or not abs(layered.value - f0) <= 1e-12 * max(
            1.0, abs(f0)):
        return None, ""  # the description does not reproduce model.loss: generic path
    changes = np.empty((leaf.size, 2))
    moves = np.empty((leaf.size, 2))
    for k, spec_leaf in enumerate(target.spec.leaves):
        pos = np.flatnonzero(leaf == k)
        if pos.size == 0:
            continue
        x = np.asarray(target.arrays[k]).reshape(-1)[flat[pos]]
        # The step the float can represent, as in the generic path.
        h = representable_steps(target.arrays[k], x, steps[pos], target, k, flat[pos])
        # Both sides in one call: the work per column is shared. x - h may round; (x - h) - x
        # is exact, and is the move the generic path makes.
        moves[pos] = np.stack([h, (x - h) - x], 1)
        changes[pos] = layered.change(spec_leaf.name, flat[pos], moves[pos])
    mismatch = spot_check(target, leaf, flat, moves[:, 0], changes, f0, layered.loss_scale)
    if mismatch is not None:
        if strict:
            raise ValueError(f"fast=True: {mismatch}. Use fast='auto' (it falls back to the "
                             "generic path) or fast=False")
        return None, mismatch
    return Estimate.from_central_changes(target, leaf, flat, indices, moves, changes, f0,
                                         roundoff_scale=STRUCTURED_ROUNDOFF), ""


def spot_check(target: Target, leaf: np.ndarray, flat: np.ndarray, h: np.ndarray,
                changes: np.ndarray, f0: float, scale: float) -> str | None:
    """Check a fast path's loss changes against the model itself; None if they agree.

    The fast path computes the loss of the network the model *describes*; the description was
    compared with ``model.loss`` at the unperturbed parameters only. A model whose
    ``params[name]`` is not the array its layers read (replaced by a copy, say) passes that
    comparison, yet moving ``params[name]`` does not move its loss. So for each parameter, the
    component whose change is largest and one random component are perturbed in place and
    ``model.loss`` evaluated at ``+h`` and ``-h`` (4 loss evaluations per parameter): each change
    must match the fast path's within round-off (``64 EPS`` of the loss scale) plus 0.1%.
    Returns a message naming the first component that does not.
    """
    rng = np.random.default_rng(0)
    picks = []
    for k in np.unique(leaf):
        pos = np.flatnonzero(leaf == k)
        largest = int(pos[np.argmax(np.abs(changes[pos]).max(axis=1))])
        picks.extend(sorted({largest, int(pos[rng.integers(pos.size)])}))
    picks = np.asarray(picks, dtype=np.int64)
    values, _, _ = target.values(leaf[picks], flat[picks], h[picks], (1, -1), f0)
    real, fast = values - f0, changes[picks]
    loss_scale = np.maximum(np.abs(values).max(axis=1, keepdims=True), max(abs(f0), scale))
    bad = np.abs(real - fast) > 64 * EPS * loss_scale + 1e-3 * np.abs(fast)
    if not bad.any():
        return None
    j, side = (int(v[0]) for v in np.nonzero(bad))
    k, i = int(leaf[picks[j]]), int(flat[picks[j]])
    name = target.spec.leaves[k].name
    return (f"moving {target.label(k, i)} by {(1, -1)[side] * h[picks[j]]:+.1e} changes "
            f"model.loss by {real[j, side]:.6e}, but the network that model.layer_structure() "
            f"describes by {fast[j, side]:.6e}. The model does not compute with "
            f"model.params[{name!r}] as described: is it still the array the layer reads (not a "
            f"copy put in its place)?")
