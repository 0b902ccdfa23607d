"""The checklist's training items, and how they explain each other.

One story: when an item fails and another item is its likely cause, both lines say so and the
verdicts agree. A tiny set the model cannot memorize, with correct gradients and a workable
learning rate, is judged by evidence: a larger variant of the model trained the same way. If
the larger one memorizes it, the model is too small (``capacity`` fails, ``overfit`` names it
as the cause); if not, the overfit failure stands and capacity is not blamed. A failed
learning rate or misaligned labels make the items that depend on them unjudged, with the
reason. Any item that ran with another learning rate, model or subset says so on a ``ran:``
line.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..nn.train import train
from .capacity import check_regularization, diagnose_capacity
from .chance import input_blind_loss
from .curves import check_learning_rate
from .lr_finder import lr_range_test
from .protocol import larger_variant, loss_name, n_outputs, with_lr
from .result import CheckResult
from .training_checks import check_labels, overfit_tiny

__all__ = ["skipped", "not_judged", "training_items", "median_update_ratios"]


def skipped(name: str, why: str) -> CheckResult:
    """An item that was not run (``passed`` None), and why."""
    return CheckResult(name, None, f"not run: {why}")


def not_judged(item: CheckResult, why: str) -> CheckResult:
    """The item as measured, with its verdict withdrawn (``passed`` None) and why."""
    return CheckResult(item.name, None, f"{item.message}; not judged: {why}",
                       numbers=item.numbers, ran=item.ran)


def _add_ran(item: CheckResult, line: str) -> None:
    item.ran = f"{item.ran}\n{line}" if item.ran else line


def median_update_ratios(history: Any) -> dict:
    """Per weight, the median over the epochs of the update/weight ratio of each epoch's last
    step (non-finite epochs left out; a weight with none is NaN)."""
    out = {}
    for k, values in history.update_ratios.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        out[k] = float(np.median(v)) if v.size else float("nan")
    return out


def _blind_loss(y: np.ndarray, model: Any) -> float:
    """The lowest loss an input-blind model reaches on ``y``, for this model's loss."""
    name = loss_name(model)
    return input_blind_loss(y, name, n_outputs(model) if name != "mse" else None)


def _final_loss(history: Any) -> float:
    curve = history.data_loss or history.train_loss
    return float(curve[-1]) if curve else float("nan")


def training_items(results: dict, extras: dict, probe: Any, make_model: Callable,
                   make_optimizer: Callable, X: np.ndarray, y: np.ndarray, X_val: Any,
                   y_val: Any, epochs: int, batch_size: int, seed: int, start: float,
                   make_larger_model: Callable | None = None) -> None:
    """labels, overfit, learning_rate, capacity and the validation part of regularization."""
    finder = lr_range_test(make_model(), X, y, make_optimizer(), batch_size=batch_size,
                           seed=seed)
    opt, trained = make_optimizer(), make_model()
    lr = getattr(opt, "lr", None)
    history = train(trained, X, y, opt, epochs=epochs, batch_size=batch_size, X_val=X_val,
                    y_val=y_val, seed=seed, progress=False)
    extras.update(lr_finder=finder, history=history)
    lr_item = check_learning_rate(history.train_loss, lr=lr, start=start,
                                  update_ratios=median_update_ratios(history),
                                  suggestion=finder.suggestion, diverged_at=finder.diverged_at)
    make_opt, swap = make_optimizer, ""
    if lr_item.passed is False:  # labels and overfit would only repeat it
        make_opt = with_lr(make_optimizer, finder.suggestion)
        swap = (f"at lr {finder.suggestion:.2g}, the LR range test's suggestion, instead of "
                f"your {lr:.3g}: your rate fails the learning_rate item, and this check would "
                "only repeat that")
        lr_item.message += ("; labels and overfit ran at the LR range test's suggestion "
                            "instead, capacity is not judged")
    labels = check_labels(make_model, X, y, make_opt, seed=seed)
    overfit = overfit_tiny(make_model, X, y, make_opt, batch_size=batch_size, seed=seed)
    if swap:
        _add_ran(labels, swap)
        _add_ran(overfit, swap)
    results.update(labels=labels, learning_rate=lr_item, overfit=overfit)
    if labels.passed is False or lr_item.passed is False:
        _blame_the_first_failure(results, finder.suggestion)
        return
    if make_larger_model is None:
        make_larger_model = larger_variant(probe, seed=seed)
    _capacity(results, extras, history, y, trained, make_model=make_model,
              make_larger=make_larger_model, make_optimizer=make_optimizer, X=X,
              epochs=epochs, batch_size=batch_size, seed=seed)
    _validation(results, history, y, trained)


def _blame_the_first_failure(results: dict, suggestion: float) -> None:
    """Misaligned labels or a failed learning rate make the later items repeat that failure:
    the items that depend on it are not judged (passed None, with the reason)."""
    bad_labels = results["labels"].passed is False
    why = "the labels do not match the inputs" if bad_labels else "the learning rate failed"
    if bad_labels:
        results["labels"].message += ("; overfit, learning_rate and capacity are not judged "
                                      "until this is fixed")
    if bad_labels and results["learning_rate"].passed is not None:
        results["learning_rate"] = not_judged(results["learning_rate"], why + "; a loss "
                                               "curve on unlearnable labels says nothing about "
                                               "the learning rate")
    if results["overfit"].passed is False:
        results["overfit"] = not_judged(results["overfit"], why + (
            ", and memorizing noise is slower" if bad_labels else
            f", and even at the LR range test's suggestion {suggestion:.2g} the loss did not "
            "reach ~0") + " (fix that first)")
    results["capacity"] = skipped("capacity", f"{why}; the training curve says nothing "
                                  "about capacity until that is fixed")
    results["regularization"].message += f"; validation not judged: {why}"


def _describe(make_larger: Callable) -> str:
    sizes = getattr(make_larger, "layer_sizes", None)
    return f"MLP({list(sizes)})" if sizes is not None else "the larger model (make_larger_model)"


def _capacity(results: dict, extras: dict, history: Any, y: np.ndarray, trained: Any,
              make_model: Callable, make_larger: Callable | None, make_optimizer: Callable,
              X: np.ndarray, epochs: int, batch_size: int, seed: int) -> None:
    """The capacity item, by evidence when a larger variant can be built; and what it means
    for a failed overfit."""
    chance = _blind_loss(y, trained)
    curve = history.data_loss or history.train_loss
    overfit = results["overfit"]
    if make_larger is None:
        capacity = diagnose_capacity(curve, chance_loss=chance)
        capacity.ran = ("no larger variant of this model to compare with (pass "
                        "make_larger_model): judged from the training curve alone")
        if overfit.passed is False and capacity.passed is False:
            results["overfit"] = not_judged(overfit, "likely cause: capacity (the model "
                                             "underfits the full set too; see capacity)")
            capacity.message += "; also why the tiny-set overfit failed"
        results["capacity"] = capacity
        return
    larger = _describe(make_larger)
    bigger = train(make_larger(), X, y, make_optimizer(), epochs=epochs, batch_size=batch_size,
                   seed=seed, progress=False)
    extras["larger_history"] = bigger
    capacity = diagnose_capacity(curve, chance_loss=chance, larger_loss=_final_loss(bigger),
                                 larger=larger)
    capacity.ran = (f"{larger}, trained like yours (same optimizer and learning rate, "
                    f"{epochs} epochs in batches of {batch_size}), to compare the training "
                    "losses the two reach")
    if overfit.passed is False:
        _explain_overfit(results, capacity, make_larger, larger, make_optimizer, X, y,
                         batch_size, seed)
    results["capacity"] = capacity


def _explain_overfit(results: dict, capacity: CheckResult, make_larger: Callable, larger: str,
                     make_optimizer: Callable, X: np.ndarray, y: np.ndarray, batch_size: int,
                     seed: int) -> None:
    """A failed tiny-set overfit with correct gradients and a workable learning rate: does a
    larger model memorize the same samples? Then it is capacity, on both lines."""
    overfit = results["overfit"]
    again = overfit_tiny(make_larger, X, y, make_optimizer, batch_size=batch_size, seed=seed)
    numbers = overfit.numbers
    capacity.numbers["larger_overfit"] = again.numbers
    mine = f"{numbers['tiny_set_final_loss']:.3g} and {numbers['single_batch_final_loss']:.3g}"
    theirs = (f"{again.numbers['tiny_set_final_loss']:.3g} and "
              f"{again.numbers['single_batch_final_loss']:.3g}")
    if again.passed:
        results["overfit"] = not_judged(
            overfit, f"likely cause: capacity. The gradients are right and the learning rate "
            f"works, and {larger} memorizes the same samples (loss {theirs}); see capacity")
        _add_ran(results["overfit"], f"{larger} on the same samples, to tell capacity from a "
                 "bug")
        if capacity.passed:
            capacity.passed = False
            capacity.numbers["diagnosis"] = "underfitting"
            capacity.fix = ("use a bigger model (more units or layers), train longer, or lower "
                            "the regularization")
            capacity.message = (f"underfitting: the model cannot memorize a tiny set (loss "
                                f"{mine}) that {larger} memorizes (loss {theirs}); on the full "
                                f"set, {capacity.message}")
        capacity.message += "; this is also why the tiny-set overfit failed"
        return
    overfit.message += (f"; {larger} does not memorize them either (loss {theirs}), so it is "
                        "not capacity: with right gradients and a workable learning rate, look "
                        "at these samples and the loss")
    overfit.fix = ("check the inputs and labels of the samples and the loss function; if they "
                   "are right, raise the steps")
    _add_ran(overfit, f"{larger} on the same samples, to tell capacity from other causes")


def _validation(results: dict, history: Any, y: np.ndarray, trained: Any) -> None:
    """The regularization item after training: strength at the end, and overfitting."""
    if not history.val_loss:
        return
    chance = _blind_loss(y, trained)
    train_total = (np.add(history.data_loss, history.reg_loss) if history.data_loss
                   else history.train_loss)
    data, reg = ((history.data_loss[-1], history.reg_loss[-1]) if history.data_loss
                 else (history.train_loss[-1], 0.0))
    results["regularization"] = check_regularization(
        data, reg, train_loss=train_total, val_loss=history.val_loss, chance_loss=chance,
        when="after training")
