"""Reading loss curves and update ratios for the learning rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bands import UPDATE_RATIO
from .result import CheckResult

__all__ = ["loss_curve_symptoms", "check_update_ratios", "check_learning_rate", "as_curve"]


def as_curve(losses: Any) -> np.ndarray:
    """A loss curve (per step or per epoch) as a flat float64 array."""
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
    losses = as_curve(losses)
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


def check_update_ratios(ratios: dict, low: float = UPDATE_RATIO.low,
                        high: float = UPDATE_RATIO.high) -> CheckResult:
    """Judge update/weight ratios ``||delta W|| / ||W||`` per weight against one band.

    About 1e-3 is the rule of thumb for steady training. The band
    (:data:`~gradcheck_edu.diagnose.bands.UPDATE_RATIO`, 1e-4 to 1e-1) spans a decade below and
    two above it, because Adam moves every weight by about ``lr`` per step. Judge ratios from
    training (the checklist takes the median over its run), not the first step from
    initialization, which runs far higher. Too low: some ratio is below ``low`` (that weight
    barely moves). Too high: some ratio is above ``high`` (each step changes the weights by a
    large part of their size). The message states the band it judged by.

    Parameters
    ----------
    ratios : dict
        Weight name -> ratio (non-finite ratios are left out).
    low, high : float

    Returns
    -------
    CheckResult named ``"learning_rate"``; ``numbers["symptom"]`` is ``"too low"``,
    ``"too high"``, ``"healthy"`` or None (no finite ratio).

    Examples
    --------
    >>> check_update_ratios({"W1": 2e-3, "W2": 8e-3}).passed
    True
    >>> check_update_ratios({"W1": 1e-9, "W2": 3e-8}).numbers["symptom"]
    'too low'
    """
    band = UPDATE_RATIO.with_limits(low, high)
    values = [float(r) for r in ratios.values() if np.isfinite(r)]
    text = f"update/weight ratios {', '.join(f'{k} {float(r):.1e}' for k, r in ratios.items())}"
    text += f" ({band.healthy()})"
    numbers: dict[str, Any] = {"update_ratios": dict(ratios), "symptom": None}
    if not values:
        return CheckResult("learning_rate", None, "no finite update/weight ratio to judge", "",
                           numbers)
    if max(values) > high:
        numbers["symptom"] = "too high"
        return CheckResult("learning_rate", False, f"each step changes the weights by a large "
                           f"part of their size: {text}",
                           "lower the learning rate (try 10-100x smaller)", numbers)
    if min(values) < low:
        numbers["symptom"] = "too low"
        return CheckResult("learning_rate", False, f"the weights barely move: {text}",
                           "raise the learning rate (try 10-100x larger)", numbers)
    numbers["symptom"] = "healthy"
    return CheckResult("learning_rate", True, text, "", numbers)


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

    Parameters
    ----------
    losses : sequence of float
        The training loss per epoch (or step).
    lr : float, optional
        The learning rate the curve was trained with.
    start : float, optional
        The loss before training.
    update_ratios : dict, optional
        Weight name -> update/weight ratio during training (e.g. the median over epochs).
    suggestion, diverged_at : float, optional
        From the LR range test (:func:`~gradcheck_edu.diagnose.lr_range_test`).

    Returns
    -------
    CheckResult named ``"learning_rate"``; ``numbers["symptom"]`` names what was found.
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
        return CheckResult("learning_rate", False, f"{curve.message}, but {ratios.message}"
                           + _lr_context(lr, suggestion, None), ratios.fix, numbers)
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
