"""Reading loss curves: learning-rate symptoms, capacity, and regularization."""

from __future__ import annotations

from typing import Any

import numpy as np

from .result import CheckResult

__all__ = ["loss_curve_symptoms", "diagnose_capacity", "check_regularization"]


def _finite_curve(losses: Any) -> np.ndarray:
    losses = np.asarray(losses, dtype=np.float64).ravel()
    if losses.size < 2:
        raise ValueError("need a loss curve with at least two points")
    return losses


def loss_curve_symptoms(losses: Any, explode_factor: float = 2.0,
                        slow_fraction: float = 0.9, start: float | None = None) -> CheckResult:
    """Read a training-loss curve (per step or per epoch) for learning-rate symptoms.

    ====================================  ========================
    symptom                               likely cause
    ====================================  ========================
    NaN/Inf, or ends far above its start  learning rate too high
    oscillates up and down strongly       learning rate too high
    decreases very slowly / plateaus      learning rate too low
    ====================================  ========================

    Parameters
    ----------
    losses : sequence of float
    explode_factor : float
        The curve "explodes" when it ends above ``explode_factor`` times its start.
    slow_fraction : float
        The curve is "too slow" when it ends above ``slow_fraction`` times its start.
    start : float, optional
        The loss before training (e.g. at initialization), when the curve's first point is
        already an average over the first epoch.

    Examples
    --------
    >>> loss_curve_symptoms([2.3, 1.5, 0.9, 0.6, 0.4]).passed
    True
    >>> r = loss_curve_symptoms([2.3, 5.0, 40.0, float("nan")])
    >>> r.passed, r.numbers["symptom"]
    (False, 'explodes')
    """
    losses = _finite_curve(losses)
    start = float(losses[0] if start is None else start)
    numbers: dict[str, Any] = {"start": float(start)}
    finite = np.isfinite(losses)
    if not finite.all() or losses[-1] > explode_factor * start:
        numbers["symptom"] = "explodes"
        return CheckResult("learning_rate", False,
                           f"the loss explodes (from {start:.3g} to {losses[-1]:.3g})",
                           "lower the learning rate (try 10x smaller), or clip gradients",
                           numbers)
    end = float(np.mean(losses[-max(1, len(losses) // 10):]))
    numbers["end"] = end
    steps = np.diff(losses)
    ups = steps > 0
    # Oscillation: many increases, and large ones compared with the overall progress.
    up_size = float(np.sum(steps[ups])) if ups.any() else 0.0
    numbers.update(up_fraction=float(ups.mean()), up_size=up_size)
    if ups.mean() > 0.3 and up_size > 0.5 * max(start - end, 1e-12):
        numbers["symptom"] = "oscillates"
        return CheckResult("learning_rate", False,
                           f"the loss oscillates: {ups.mean():.0%} of steps go up, by "
                           f"{up_size:.3g} in total against a net decrease of {start - end:.3g}",
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


def diagnose_capacity(train_loss: Any, val_loss: Any = None, chance_loss: float | None = None,
                      underfit_ratio: float = 0.5, overfit_gap: float = 0.5) -> CheckResult:
    """Underfitting, overfitting or healthy, from per-epoch training (and validation) losses.

    Underfitting: the final training loss is still above ``underfit_ratio`` times the loss at
    chance (or times the first epoch's loss when ``chance_loss`` is not given): the model cannot
    fit even the training set. Overfitting: the validation loss ends more than ``overfit_gap``
    (relative) above the training loss and has risen from its minimum.

    Returns
    -------
    CheckResult named ``"capacity"``; ``numbers["diagnosis"]`` is ``"underfitting"``,
    ``"overfitting"`` or ``"healthy"``.

    Examples
    --------
    >>> diagnose_capacity([1.1, 1.0, 0.95, 0.94], chance_loss=1.0986).numbers["diagnosis"]
    'underfitting'
    >>> diagnose_capacity([1.0, 0.3, 0.1, 0.02], [1.0, 0.5, 0.7, 1.2]).numbers["diagnosis"]
    'overfitting'
    """
    train = _finite_curve(train_loss)
    reference = float(chance_loss) if chance_loss is not None else float(train[0])
    final = float(train[-1])
    numbers: dict[str, Any] = {"final_train_loss": final, "reference_loss": reference}
    if not np.isfinite(final) or final > underfit_ratio * reference:
        numbers["diagnosis"] = "underfitting"
        return CheckResult("capacity", False,
                           f"underfitting: the training loss ends at {final:.3g}, still "
                           f"{final / reference:.0%} of the loss at chance ({reference:.3g})",
                           "use a bigger model (more units or layers), train longer, or lower "
                           "the regularization; first make sure the model can overfit a tiny "
                           "set", numbers)
    if val_loss is not None:
        val = _finite_curve(val_loss)
        final_val = float(val[-1])
        gap = (final_val - final) / max(final, 1e-12)
        rise = final_val - float(np.min(val))
        numbers.update(final_val_loss=final_val, gap=gap, val_rise=rise)
        if gap > overfit_gap and rise > 0.1 * float(np.min(val)):
            numbers["diagnosis"] = "overfitting"
            return CheckResult("capacity", False,
                               f"overfitting: validation loss {final_val:.3g} vs training "
                               f"{final:.3g}, and rising from its minimum {np.min(val):.3g}",
                               "add regularization (L2, dropout), get more data, or stop "
                               "early at the validation minimum", numbers)
    numbers["diagnosis"] = "healthy"
    msg = f"the training loss reaches {final:.3g} ({final / reference:.0%} of chance)"
    if val_loss is not None:
        msg += f", validation {numbers['final_val_loss']:.3g}"
    return CheckResult("capacity", True, msg, "", numbers)


def check_regularization(data_loss: float, reg_loss: float, max_ratio: float = 1.0,
                         val_gap: float | None = None) -> CheckResult:
    """Compare the regularization loss with the data loss.

    A regularization term larger than the data loss (``reg_loss > max_ratio * data_loss``)
    dominates the gradient: the weights are pulled to zero and the data barely matters. Check
    with ``l2 = 0`` first, then add regularization until validation stops improving.

    Examples
    --------
    >>> check_regularization(1.1, 670.0).passed
    False
    >>> check_regularization(1.1, 0.01).passed
    True
    """
    data_loss, reg_loss = float(data_loss), float(reg_loss)
    ratio = reg_loss / max(data_loss, 1e-12)
    numbers: dict[str, Any] = {"data_loss": data_loss, "reg_loss": reg_loss, "ratio": ratio}
    if ratio > max_ratio:
        return CheckResult("regularization", False,
                           f"the regularization loss {reg_loss:.3g} is {ratio:.3g}x the data "
                           f"loss {data_loss:.3g}: it hides the data gradient",
                           "lower the L2 strength (check with l2 = 0 first, then raise it until "
                           "validation stops improving)", numbers)
    msg = f"regularization loss {reg_loss:.3g} is {ratio:.2g}x the data loss {data_loss:.3g}"
    if val_gap is not None:
        numbers["val_gap"] = float(val_gap)
        msg += f"; validation/training gap {val_gap:.0%}"
    return CheckResult("regularization", True, msg, "", numbers)
