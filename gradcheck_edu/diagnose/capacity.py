"""Capacity and regularization: is the model too small, too free, or held back too hard?

Capacity is judged by evidence: the final training loss of the model against that of a larger
variant trained the same way for the same budget. A fixed fraction of the loss at chance
cannot tell a too-small model from a hard problem; a larger model that does clearly better
can. Without a larger model to compare with, the curve alone is read (and the message says
so). Overfitting is judged from the validation curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .bands import CAPACITY_GAIN, CURVE_UNDERFIT, GAP_FLOOR, REG_RATIO, VAL_GAP, VAL_RISE, Band
from .curves import as_curve
from .result import CheckResult

__all__ = ["diagnose_capacity", "check_regularization"]


def _overfitting(train: np.ndarray, val: np.ndarray, band: Band,
                 chance_loss: float | None = None) -> dict | None:
    """Gap and rise of the validation curve, or None when there is too little to compare.

    The gap is relative to the final training loss, or to ``GAP_FLOOR`` times the loss at
    chance when that is larger; overfitting is a gap above ``band`` with a validation loss
    that rose from its minimum by more than ``VAL_RISE`` of it.
    """
    train, val = train[np.isfinite(train)], val[np.isfinite(val)]
    if train.size == 0 or val.size == 0:
        return None
    final, final_val, best_val = float(train[-1]), float(val[-1]), float(np.min(val))
    floor = GAP_FLOOR * chance_loss if chance_loss is not None else 0.0
    gap = (final_val - final) / max(final, floor, 1e-12)
    rise = final_val - best_val
    return {"final_train_loss": final, "final_val_loss": final_val, "best_val_loss": best_val,
            "gap": gap, "val_rise": rise,
            "overfitting": bool(not band.contains(gap) and rise > VAL_RISE * best_val)}


def _gap_text(o: dict, band: Band) -> str:
    return (f"validation loss {o['final_val_loss']:.3g} vs training {o['final_train_loss']:.3g} "
            f"(gap {o['gap']:.0%}; {band.healthy()})")


def _overfitting_result(o: dict, band: Band) -> CheckResult:
    return CheckResult("regularization", False,
                       f"overfitting: {_gap_text(o, band)}, and rising from its minimum "
                       f"{o['best_val_loss']:.3g}",
                       "get more data, add regularization (L2, dropout), or stop early at "
                       "the validation minimum", dict(o, diagnosis="overfitting"))


def diagnose_capacity(train_loss: Any, val_loss: Any = None, chance_loss: float | None = None,
                      underfit_ratio: float = CURVE_UNDERFIT.high,
                      overfit_gap: float = VAL_GAP.high, larger_loss: float | None = None,
                      larger: str = "a larger model", max_gain: float = CAPACITY_GAIN.high
                      ) -> CheckResult:
    """Underfitting, overfitting or healthy, from per-epoch training (and validation) losses.

    Underfitting, with evidence: given ``larger_loss``, the final training loss a larger
    variant of the model reached when trained the same way for the same budget, the model is
    too small when the larger one ends lower by more than ``max_gain`` times the loss at
    chance (band :data:`~gradcheck_edu.diagnose.bands.CAPACITY_GAIN`, 10%).

    Underfitting from the curve alone (no ``larger_loss``): the final training loss is still
    above ``underfit_ratio`` times the loss at chance (or the first epoch's loss when
    ``chance_loss`` is not given; band ``CURVE_UNDERFIT``). That reads a curve; it cannot tell
    a too-small model from a hard problem, and the message says it was judged so.

    Overfitting: the validation loss ends more than ``overfit_gap`` (relative, band
    ``VAL_GAP``) above the training loss and has risen from its minimum.

    The result is named after the checklist item the diagnosis belongs to: underfitting (and
    healthy) is the ``"capacity"`` item, a too-small model; overfitting is the
    ``"regularization"`` item: the model has capacity to spare and needs more data or more
    regularization.

    Parameters
    ----------
    train_loss, val_loss : sequence of float
        Per-epoch losses (``val_loss`` optional).
    chance_loss : float, optional
        The loss of an input-blind model.
    underfit_ratio, overfit_gap, max_gain : float
        The bands' limits (defaults from :mod:`gradcheck_edu.diagnose.bands`).
    larger_loss : float, optional
        The larger variant's final training loss.
    larger : str
        What the larger variant is, for the message (``"MLP([2, 64, 2])"``).

    Returns
    -------
    CheckResult; ``numbers["diagnosis"]`` is ``"underfitting"``, ``"overfitting"`` or
    ``"healthy"`` (passed None, with the reason, when the curve is too short or not finite).

    Examples
    --------
    >>> diagnose_capacity([1.1, 1.0, 0.95, 0.94], chance_loss=1.0986).numbers["diagnosis"]
    'underfitting'
    >>> r = diagnose_capacity([0.6, 0.4, 0.3], chance_loss=0.693, larger_loss=0.05)
    >>> r.passed, f"{r.numbers['gain']:.2f}"
    (False, '0.36')
    >>> r = diagnose_capacity([1.0, 0.3, 0.1, 0.02], [1.0, 0.5, 0.7, 1.2])
    >>> r.name, r.numbers["diagnosis"]
    ('regularization', 'overfitting')
    """
    train = as_curve(train_loss)
    if train.size == 0 or not np.isfinite(train[-1]):
        return CheckResult("capacity", None, "not run: the training loss is not finite (fix "
                           "the learning rate first)", "", {"diagnosis": None})
    if chance_loss is None and train.size < 2:
        return CheckResult("capacity", None, "not run: one epoch gives no reference; pass "
                           "chance_loss or train longer", "", {"diagnosis": None})
    reference = float(chance_loss) if chance_loss is not None else float(train[0])
    final = float(train[-1])
    numbers: dict[str, Any] = {"final_train_loss": final, "reference_loss": reference}
    fix = ("use a bigger model (more units or layers), train longer, or lower the "
           "regularization")
    if larger_loss is not None and np.isfinite(larger_loss):
        band = CAPACITY_GAIN.with_limits(high=max_gain)
        gain = (final - float(larger_loss)) / reference
        numbers.update(larger_loss=float(larger_loss), gain=gain)
        what = (f"the training loss ends at {final:.3g}; {larger}, trained the same way, "
                f"reaches {float(larger_loss):.3g}: lower by {gain:.1%} of the loss at chance "
                f"{reference:.3g} ({band.healthy()})")
        if not band.contains(gain):
            numbers["diagnosis"] = "underfitting"
            return CheckResult("capacity", False, f"underfitting: {what}", fix, numbers)
    else:
        band = CURVE_UNDERFIT.with_limits(high=underfit_ratio)
        what = (f"the training loss ends at {final:.3g}, {final / reference:.0%} of the loss at "
                f"chance {reference:.3g} (judged from the curve alone; {band.healthy()})")
        if not band.contains(final / reference):
            numbers["diagnosis"] = "underfitting"
            return CheckResult("capacity", False, f"underfitting: {what}", fix + "; first "
                               "make sure the model can overfit a tiny set", numbers)
    gap_band = VAL_GAP.with_limits(high=overfit_gap)
    o = (_overfitting(train, as_curve(val_loss), gap_band, chance_loss)
         if val_loss is not None else None)
    if o is not None and o["overfitting"]:
        return _overfitting_result(dict(numbers, **o), gap_band)
    numbers["diagnosis"] = "healthy"
    if o is not None:
        numbers.update(o)
        what += f"; validation {o['final_val_loss']:.3g}"
    return CheckResult("capacity", True, what, "", numbers)


def check_regularization(data_loss: float, reg_loss: float, max_ratio: float = REG_RATIO.high,
                         train_loss: Any = None, val_loss: Any = None,
                         overfit_gap: float = VAL_GAP.high, chance_loss: float | None = None,
                         when: str = "") -> CheckResult:
    """Regularization: not so strong it hides the data, strong enough to prevent overfitting.

    A regularization term larger than the data loss (``reg_loss > max_ratio * data_loss``,
    band :data:`~gradcheck_edu.diagnose.bands.REG_RATIO`) dominates the gradient: the weights
    are pulled to zero and the data barely matters. Check with ``l2 = 0`` first, then add
    regularization until validation stops improving. With per-epoch ``train_loss`` and
    ``val_loss`` curves, overfitting also fails: the validation loss ends more than
    ``overfit_gap`` (relative, band ``VAL_GAP``) above the training loss and has risen from
    its minimum. Given ``chance_loss``, the gap is relative to at least ``GAP_FLOOR`` (5%) of
    it, so that two losses both far below chance are not called overfitting.

    Parameters
    ----------
    data_loss, reg_loss : float
        The two parts of the loss, measured together (``when`` says when: "at
        initialization", "after training").
    max_ratio, overfit_gap : float
    train_loss, val_loss : sequence of float, optional
    chance_loss : float, optional
    when : str

    Returns
    -------
    CheckResult named ``"regularization"``; ``numbers["diagnosis"]`` is ``"too strong"``,
    ``"overfitting"`` or ``"healthy"``.

    Examples
    --------
    >>> check_regularization(1.1, 670.0).passed
    False
    >>> check_regularization(1.1, 0.01).passed
    True
    >>> print(check_regularization(float("nan"), 0.1).passed)
    None
    >>> check_regularization(0.02, 0.0, train_loss=[1.0, 0.3, 0.02],
    ...                      val_loss=[1.0, 0.6, 1.2]).numbers["diagnosis"]
    'overfitting'
    """
    data_loss, reg_loss = float(data_loss), float(reg_loss)
    if not (math.isfinite(data_loss) and math.isfinite(reg_loss)):
        return CheckResult("regularization", None, (
            f"not judged: the losses are not finite (data loss {data_loss}, regularization loss "
            f"{reg_loss}); a NaN says nothing about regularization"),
            "find where the loss becomes NaN/Inf first (the learning rate, log(0), overflow)",
            {"data_loss": data_loss, "reg_loss": reg_loss, "diagnosis": "not judged"})
    ratio = reg_loss / max(data_loss, 1e-12)
    band = REG_RATIO.with_limits(high=max_ratio)
    numbers: dict[str, Any] = {"data_loss": data_loss, "reg_loss": reg_loss, "ratio": ratio}
    when = f" {when}" if when else ""
    msg = (f"regularization loss {reg_loss:.3g} is {ratio:.2g}x the data loss {data_loss:.3g}"
           f"{when} ({band.healthy()})")
    if not band.contains(ratio):
        numbers["diagnosis"] = "too strong"
        return CheckResult("regularization", False, f"{msg}: it hides the data gradient",
                           "lower the L2 strength (check with l2 = 0 first, then raise it until "
                           "validation stops improving)", numbers)
    gap_band = VAL_GAP.with_limits(high=overfit_gap)
    o = None
    if train_loss is not None and val_loss is not None:
        o = _overfitting(as_curve(train_loss), as_curve(val_loss), gap_band, chance_loss)
    if o is not None and o["overfitting"]:
        result = _overfitting_result(dict(numbers, **o), gap_band)
        result.message = f"{msg}; {result.message}"
        return result
    numbers["diagnosis"] = "healthy"
    if o is not None:
        numbers.update(o)
        msg += f"; {_gap_text(o, gap_band)}"
    return CheckResult("regularization", True, msg, "", numbers)
