"""Reading loss curves: learning-rate symptoms, capacity, and regularization."""

from __future__ import annotations

from typing import Any

import numpy as np

from .result import CheckResult

__all__ = ["loss_curve_symptoms", "check_update_ratios", "check_learning_rate",
           "diagnose_capacity", "check_regularization"]


def _curve(losses: Any) -> np.ndarray:
    return np.asarray(losses, dtype=np.float64).ravel()


def loss_curve_symptoms(losses: Any, explode_factor: float = 2.0, slow_fraction: float = 0.9,
                        jump_limit: float = 0.05, start: float | None = None) -> CheckResult:
    """Read a training-loss curve (per step or per epoch) for learning-rate symptoms.

    ===========================================  ========================
    symptom                                      likely cause
    ===========================================  ========================
    NaN/Inf, or ends far above its start         learning rate too high
    oscillates: goes up often, by large jumps    learning rate too high
    decreases very slowly / plateaus early       learning rate too low
    ===========================================  ========================

    The curve *oscillates* when more than 30% of its steps go up, the rises add up to more
    than half of the net decrease, and a typical rise is more than ``jump_limit`` (5%) of the
    loss level. The last condition tells large swings from the small noise of a curve that
    does not move (a too-low learning rate: its rises are tiny, but so is its progress).

    Parameters
    ----------
    losses : sequence of float
    explode_factor : float
        The curve "explodes" when it ends above ``explode_factor`` times its start.
    slow_fraction : float
        The curve is "too slow" when it ends above ``slow_fraction`` times its start.
    jump_limit : float
        A rise counts as large above this fraction of the mean loss.
    start : float, optional
        The loss before training (e.g. at initialization), when the curve's first point is
        already an average over the first epoch.

    Returns
    -------
    CheckResult named ``"learning_rate"``; ``numbers["symptom"]`` is ``"explodes"``,
    ``"oscillates"``, ``"too slow"`` or ``"healthy"`` (or None when the curve is too short).

    Examples
    --------
    >>> loss_curve_symptoms([2.3, 1.5, 0.9, 0.6, 0.4]).passed
    True
    >>> r = loss_curve_symptoms([2.3, 5.0, 40.0, float("nan")])
    >>> r.passed, r.numbers["symptom"]
    (False, 'explodes')
    """
    losses = _curve(losses)
    curve = losses if start is None else np.r_[start, losses]
    numbers: dict[str, Any] = {"start": float(curve[0]) if curve.size else None,
                               "symptom": None}
    if curve.size < 2:
        return CheckResult("learning_rate", None, "not run: the loss curve needs at least two "
                           "points (train for more epochs)", "", numbers)
    start = float(curve[0])
    if not np.all(np.isfinite(curve)) or curve[-1] > explode_factor * start:
        numbers["symptom"] = "explodes"
        return CheckResult("learning_rate", False,
                           f"the loss explodes (from {start:.3g} to {curve[-1]:.3g})",
                           "lower the learning rate (try 10x smaller), or clip gradients",
                           numbers)
    end = float(np.mean(losses[-max(1, len(losses) // 10):]))
    steps = np.diff(curve)
    ups = steps[steps > 0]
    up_fraction = ups.size / steps.size
    up_size = float(ups.sum())
    jump = float(ups.mean() / max(np.mean(np.abs(curve)), 1e-300)) if ups.size else 0.0
    numbers.update(end=end, up_fraction=up_fraction, up_size=up_size, jump=jump)
    if up_fraction > 0.3 and up_size > 0.5 * max(start - end, 0.0) and jump > jump_limit:
        numbers["symptom"] = "oscillates"
        return CheckResult("learning_rate", False,
                           f"the loss oscillates: {up_fraction:.0%} of steps go up, typically "
                           f"by {jump:.0%} of the loss, against a net change from {start:.3g} "
                           f"to {end:.3g}",
                           "lower the learning rate (try 3-10x smaller) or use a schedule",
                           numbers)
    if end > slow_fraction * start:
        numbers["symptom"] = "too slow"
        return CheckResult("learning_rate", False,
                           f"the loss barely moves (from {start:.3g} to {end:.3g})",
                           "raise the learning rate (try 10x larger), or run the LR finder",
                           numbers)
    numbers["symptom"] = "healthy"
    return CheckResult("learning_rate", True,
                       f"the loss falls steadily from {start:.3g} to {end:.3g}", "", numbers)


def check_update_ratios(ratios: dict, low: float = 1e-5, high: float = 1.0) -> CheckResult:
    """Judge the update/weight ratios ``||delta W|| / ||W||`` of one optimizer step.

    About 1e-3 is the rule of thumb for steady SGD training. The bands are wide because the
    first steps run higher (Adam moves every weight by about ``lr`` at first, so its ratio
    starts near ``lr / rms(W)``, 1e-2 to 0.5 for learning rates that train well). Too low:
    even the largest ratio is below ``low`` (a thousand steps change the weights by less than
    1%). Too high: some ratio is above ``high`` (one step changes a weight matrix by more than
    its own size, wiping out the initialization).

    Examples
    --------
    >>> check_update_ratios({"W1": 2e-3, "W2": 8e-3}).passed
    True
    >>> check_update_ratios({"W1": 1e-9, "W2": 3e-8}).numbers["symptom"]
    'too low'
    """
    values = [float(r) for r in ratios.values() if np.isfinite(r)]
    text = ", ".join(f"{k} {float(r):.1e}" for k, r in ratios.items())
    numbers: dict[str, Any] = {"update_ratios": dict(ratios), "symptom": None}
    if not values:
        return CheckResult("learning_rate", None, "no finite update/weight ratio to judge", "",
                           numbers)
    if max(values) > high:
        numbers["symptom"] = "too high"
        return CheckResult("learning_rate", False,
                           f"one step changes the weights by more than their size "
                           f"(update/weight ratios {text}; healthy is about 1e-3)",
                           "lower the learning rate (try 10-100x smaller)", numbers)
    if max(values) < low:
        numbers["symptom"] = "too low"
        return CheckResult("learning_rate", False,
                           f"the weights barely move (update/weight ratios {text}; healthy "
                           "is about 1e-3)", "raise the learning rate (try 10-100x larger)",
                           numbers)
    numbers["symptom"] = "healthy"
    return CheckResult("learning_rate", True, f"update/weight ratios {text}", "", numbers)


def check_learning_rate(losses: Any, lr: float | None = None, start: float | None = None,
                        update_ratios: dict | None = None, suggestion: float | None = None,
                        diverged_at: float | None = None) -> CheckResult:
    """The learning-rate item: the loss curve, the update ratios and the LR range test together.

    1. The curve's symptoms (:func:`loss_curve_symptoms`). Explosions and oscillations fail.
    2. A curve that barely moves is blamed on the learning rate only when something says the
       rate is too low: tiny update/weight ratios, or ``lr`` more than 100x below the LR range
       test's ``suggestion``. Otherwise the rate is moving the weights and the plateau is a
       capacity problem (the item passes with a note).
    3. A healthy curve still fails when the update ratios are out of band
       (:func:`check_update_ratios`) or ``lr`` is at or beyond where the LR range test
       diverged.
    """
    curve = loss_curve_symptoms(losses, start=start)
    ratios = check_update_ratios(update_ratios) if update_ratios else None
    numbers = dict(curve.numbers, lr=lr, suggestion=suggestion, diverged_at=diverged_at)
    if ratios is not None:
        numbers.update(update_ratios=ratios.numbers["update_ratios"],
                       ratio_symptom=ratios.numbers["symptom"])
    context = _lr_context(lr, suggestion, ratios)
    symptom = curve.numbers["symptom"]
    if symptom in ("explodes", "oscillates") or curve.passed is None:
        return CheckResult("learning_rate", curve.passed, curve.message + context, curve.fix,
                           numbers)
    if symptom == "too slow":
        too_low = (ratios is not None and ratios.numbers["symptom"] == "too low") or (
            lr is not None and suggestion is not None and lr * 100 < suggestion)
        if too_low:
            return CheckResult("learning_rate", False, curve.message + context, curve.fix,
                               numbers)
        numbers["symptom"] = "plateau"
        return CheckResult("learning_rate", True, curve.message + context + ": the rate moves "
                           "the weights, so the plateau is not the learning rate's fault (see "
                           "capacity)", "", numbers)
    if ratios is not None and ratios.passed is False:
        numbers["symptom"] = ratios.numbers["symptom"]
        return CheckResult("learning_rate", False, ratios.message + context, ratios.fix,
                           numbers)
    if lr is not None and diverged_at is not None and lr >= diverged_at:
        numbers["symptom"] = "too high"
        return CheckResult("learning_rate", False,
                           f"lr {lr:.3g} is beyond {diverged_at:.2g}, where the loss diverged "
                           "in the LR range test" + context,
                           "lower the learning rate to about the suggestion", numbers)
    return CheckResult("learning_rate", True, curve.message + context, "", numbers)


def _lr_context(lr: float | None, suggestion: float | None, ratios: CheckResult | None) -> str:
    parts = []
    if lr is not None:
        parts.append(f"lr {lr:.3g}")
    if suggestion is not None:
        parts.append(f"the LR range test suggests {suggestion:.2g}")
    if ratios is not None and ratios.passed is not None:
        parts.append(ratios.message)
    return f" ({'; '.join(parts)})" if parts else ""


# Gaps between losses far below chance are not overfitting: validation 0.02 against training
# 0.01 is a 100% gap, but both fit the data to 1-2% of the loss at chance.
GAP_FLOOR = 0.05


def _overfitting(train: np.ndarray, val: np.ndarray, overfit_gap: float,
                 chance_loss: float | None = None) -> dict | None:
    """Gap and rise of the validation curve, or None when there is too little to compare.

    The gap is relative to the final training loss, or to ``GAP_FLOOR`` times the loss at
    chance when that is larger.
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
            "overfitting": bool(gap > overfit_gap and rise > 0.1 * best_val)}


def _overfitting_result(o: dict) -> CheckResult:
    return CheckResult("regularization", False,
                       f"overfitting: validation loss {o['final_val_loss']:.3g} vs training "
                       f"{o['final_train_loss']:.3g}, and rising from its minimum "
                       f"{o['best_val_loss']:.3g}",
                       "get more data, add regularization (L2, dropout), or stop early at "
                       "the validation minimum", dict(o, diagnosis="overfitting"))


def diagnose_capacity(train_loss: Any, val_loss: Any = None, chance_loss: float | None = None,
                      underfit_ratio: float = 0.5, overfit_gap: float = 0.5) -> CheckResult:
    """Underfitting, overfitting or healthy, from per-epoch training (and validation) losses.

    Underfitting: the final training loss is still above ``underfit_ratio`` times the loss at
    chance (or times the first epoch's loss when ``chance_loss`` is not given): the model cannot
    fit even the training set. Overfitting: the validation loss ends more than ``overfit_gap``
    (relative, as in :func:`check_regularization`) above the training loss and has risen from
    its minimum.

    The result is named after the checklist item the diagnosis belongs to: underfitting (and
    healthy) is the ``"capacity"`` item, a too-small model; overfitting is the
    ``"regularization"`` item: the model has capacity to spare and needs more data or more
    regularization.

    Returns
    -------
    CheckResult; ``numbers["diagnosis"]`` is ``"underfitting"``, ``"overfitting"`` or
    ``"healthy"`` (passed None, with the reason, when the curve is too short or not finite).

    Examples
    --------
    >>> diagnose_capacity([1.1, 1.0, 0.95, 0.94], chance_loss=1.0986).numbers["diagnosis"]
    'underfitting'
    >>> r = diagnose_capacity([1.0, 0.3, 0.1, 0.02], [1.0, 0.5, 0.7, 1.2])
    >>> r.name, r.numbers["diagnosis"]
    ('regularization', 'overfitting')
    """
    train = _curve(train_loss)
    if train.size == 0 or not np.isfinite(train[-1]):
        return CheckResult("capacity", None, "not run: the training loss is not finite (fix "
                           "the learning rate first)", "", {"diagnosis": None})
    if chance_loss is None and train.size < 2:
        return CheckResult("capacity", None, "not run: one epoch gives no reference; pass "
                           "chance_loss or train longer", "", {"diagnosis": None})
    reference = float(chance_loss) if chance_loss is not None else float(train[0])
    final = float(train[-1])
    numbers: dict[str, Any] = {"final_train_loss": final, "reference_loss": reference}
    if final > underfit_ratio * reference:
        numbers["diagnosis"] = "underfitting"
        return CheckResult("capacity", False,
                           f"underfitting: the training loss ends at {final:.3g}, still "
                           f"{final / reference:.0%} of the loss at chance ({reference:.3g})",
                           "use a bigger model (more units or layers), train longer, or lower "
                           "the regularization; first make sure the model can overfit a tiny "
                           "set", numbers)
    o = (_overfitting(train, _curve(val_loss), overfit_gap, chance_loss)
         if val_loss is not None else None)
    if o is not None and o["overfitting"]:
        return _overfitting_result(dict(numbers, **o))
    numbers["diagnosis"] = "healthy"
    msg = f"the training loss reaches {final:.3g} ({final / reference:.0%} of chance)"
    if o is not None:
        numbers.update(o)
        msg += f", validation {o['final_val_loss']:.3g}"
    return CheckResult("capacity", True, msg, "", numbers)


def check_regularization(data_loss: float, reg_loss: float, max_ratio: float = 1.0,
                         train_loss: Any = None, val_loss: Any = None,
                         overfit_gap: float = 0.5, chance_loss: float | None = None
                         ) -> CheckResult:
    """Regularization: not so strong it hides the data, strong enough to prevent overfitting.

    A regularization term larger than the data loss (``reg_loss > max_ratio * data_loss``)
    dominates the gradient: the weights are pulled to zero and the data barely matters. Check
    with ``l2 = 0`` first, then add regularization until validation stops improving. With
    per-epoch ``train_loss`` and ``val_loss`` curves, overfitting also fails: the validation
    loss ends more than ``overfit_gap`` (relative) above the training loss and has risen from
    its minimum. Given ``chance_loss``, the gap is relative to at least ``GAP_FLOOR`` (5%) of
    it, so that two losses both far below chance are not called overfitting.

    Examples
    --------
    >>> check_regularization(1.1, 670.0).passed
    False
    >>> check_regularization(1.1, 0.01).passed
    True
    >>> check_regularization(0.02, 0.0, train_loss=[1.0, 0.3, 0.02],
    ...                      val_loss=[1.0, 0.6, 1.2]).numbers["diagnosis"]
    'overfitting'
    """
    data_loss, reg_loss = float(data_loss), float(reg_loss)
    ratio = reg_loss / max(data_loss, 1e-12)
    numbers: dict[str, Any] = {"data_loss": data_loss, "reg_loss": reg_loss, "ratio": ratio}
    if ratio > max_ratio:
        numbers["diagnosis"] = "too strong"
        return CheckResult("regularization", False,
                           f"the regularization loss {reg_loss:.3g} is {ratio:.3g}x the data "
                           f"loss {data_loss:.3g}: it hides the data gradient",
                           "lower the L2 strength (check with l2 = 0 first, then raise it until "
                           "validation stops improving)", numbers)
    msg = f"regularization loss {reg_loss:.3g} is {ratio:.2g}x the data loss {data_loss:.3g}"
    o = None
    if train_loss is not None and val_loss is not None:
        o = _overfitting(_curve(train_loss), _curve(val_loss), overfit_gap, chance_loss)
    if o is not None and o["overfitting"]:
        result = _overfitting_result(dict(numbers, **o))
        result.message = f"{msg}; {result.message}"
        return result
    numbers["diagnosis"] = "healthy"
    if o is not None:
        numbers.update(o)
        msg += (f"; validation loss {o['final_val_loss']:.3g} vs training "
                f"{o['final_train_loss']:.3g} (gap {o['gap']:.0%})")
    return CheckResult("regularization", True, msg, "", numbers)
