"""The whole debugging checklist in one call.

::

    [ ] Data loads correctly            [ ] Activations are healthy (no dead/saturated)
    [ ] Labels match inputs             [ ] Learning rate is appropriate (LR finder)
    [ ] Loss decreases on tiny dataset  [ ] Model has sufficient capacity (training loss)
    [ ] Gradients flow (gradient check) [ ] Regularization prevents overfitting (validation)

The checks follow the debugging hierarchy: data first, then the implementation (loss at chance,
gradients, activations), then hyperparameters, then the architecture. A later check that would
only repeat an earlier failure (training on NaN data, or with a learning rate that diverges) is
not run: its ``passed`` is None and its message says which item to fix first.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..nn.train import train
from .curves import check_regularization, diagnose_capacity, loss_curve_symptoms
from .data import check_data, check_leakage, expected_initial_loss
from .model_checks import (
    _default_optimizer,
    _loss_name,
    _n_outputs,
    check_activations,
    check_gradients,
    check_initial_loss,
    check_labels,
    lr_range_test,
    overfit_tiny,
)
from .result import CheckResult

__all__ = ["checklist", "ChecklistReport", "ITEMS"]

ITEMS = ("data", "labels", "initial_loss", "overfit", "gradients", "activations",
         "learning_rate", "capacity", "regularization")


class ChecklistReport:
    """The checklist's findings: ``items`` in checklist order, each a :class:`CheckResult`."""

    def __init__(self, items: list[CheckResult], extras: dict[str, Any]):
        self.items = items
        self.extras = extras  # history, lr_finder, activations for the plots

    def __getitem__(self, name: str) -> CheckResult:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def failed(self) -> list[str]:
        return [item.name for item in self.items if item.passed is False]

    @property
    def passed(self) -> bool:
        """True when no item failed and every item ran."""
        return all(item.passed for item in self.items)

    def __str__(self) -> str:
        lines = ["Debugging checklist"] + [str(item) for item in self.items]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<div><b>Debugging checklist</b>" + "".join(
            item._repr_html_() for item in self.items) + "</div>"

    def plot(self):
        """The figures behind the checklist: training curves, LR finder, activations."""
        from ..plots import plot_checklist

        return plot_checklist(self)


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, f"not run: {why}")


def checklist(make_model: Callable[[], Any], X: Any, y: Any, X_val: Any = None,
              y_val: Any = None, make_optimizer: Callable[[], Any] | None = None,
              epochs: int = 30, batch_size: int = 32, seed: int = 0) -> ChecklistReport:
    """Run the debugging checklist on a fresh model from ``make_model()``.

    Parameters
    ----------
    make_model : callable
        Returns a fresh, untrained model (``params``, ``loss``, ``loss_and_grads``, ...).
    X, y : arrays
        Training data (never modified).
    X_val, y_val : arrays, optional
        Validation data, for overfitting and leakage.
    make_optimizer : callable, optional
        Returns an optimizer with ``step(params, grads)`` and ``lr`` (default: Adam, 1e-3).
    epochs, batch_size : int
        The training run behind the learning-rate, capacity and regularization items.

    Returns
    -------
    ChecklistReport
        ``print(report)`` shows the boxes; ``report["capacity"].numbers`` the measurements.
    """
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    results: dict[str, CheckResult] = {}
    extras: dict[str, Any] = {}

    data = check_data(X, y)
    if X_val is not None:
        leak = check_leakage(X, X_val)
        if not leak.passed:
            data = CheckResult("data", False, f"{data.message}; {leak.message}"
                               if not data.passed else leak.message,
                               "; ".join(f for f in (data.fix, leak.fix) if f),
                               {**data.numbers, **leak.numbers})
    results["data"] = data
    if not data.passed:
        why = "the data check failed; fix the data first (every later check would inherit it)"
        for name in ITEMS[1:]:
            results[name] = _skipped(name, why)
        return ChecklistReport([results[n] for n in ITEMS], extras)

    # Implementation checks on the untrained model.
    model = make_model()
    results["initial_loss"] = check_initial_loss(model, X, y)
    results["activations"] = check_activations(model, X)
    results["gradients"] = check_gradients(model, X, y, optimizer=make_optimizer(), seed=seed,
                                           flag_vanishing=results["activations"].passed
                                           is not False)
    extras["activations"] = results["activations"].numbers.get("layers", [])
    data_loss, reg_loss = (model.loss_parts(X, y) if hasattr(model, "loss_parts")
                           else (model.loss(X, y), 0.0))
    regularization = check_regularization(data_loss, reg_loss)
    blocked = [n for n in ("initial_loss", "gradients", "activations") if
               results[n].passed is False]
    if not regularization.passed:
        blocked.append("regularization")
    if blocked:
        why = (f"{', '.join(blocked)} failed; fix that first (training would only show the "
               "same problem)")
        for name in ("labels", "overfit", "learning_rate", "capacity"):
            results[name] = _skipped(name, why)
        results["regularization"] = regularization
        return ChecklistReport([results[n] for n in ITEMS], extras)

    # Hyperparameters: one training run with the given optimizer, and the LR range test.
    opt = make_optimizer()
    finder = lr_range_test(make_model(), X, y, make_optimizer(), batch_size=batch_size,
                           seed=seed)
    extras["lr_finder"] = finder
    trained = make_model()
    history = train(trained, X, y, opt, epochs=epochs, batch_size=batch_size, X_val=X_val,
                    y_val=y_val, seed=seed, progress=False)
    extras["history"] = history
    lr = getattr(opt, "lr", None)
    lr_item = loss_curve_symptoms(history.train_loss, start=data_loss + reg_loss)
    if lr_item.passed and lr is not None and finder.diverged_at is not None \
            and lr >= finder.diverged_at:
        lr_item = CheckResult("learning_rate", False,
                              f"lr {lr:.3g} is beyond {finder.diverged_at:.2g}, where the loss "
                              "diverged in the LR range test", "lower the learning rate to about "
                              "the suggestion", dict(lr_item.numbers, symptom="too high"))
    lr_item.numbers.update(lr=lr, suggestion=finder.suggestion)
    lr_item.message += (f" (lr {lr if lr is not None else float('nan'):.3g}; the LR range test "
                        f"suggests {finder.suggestion:.2g})")
    make_opt = make_optimizer
    results["labels"] = check_labels(make_model, X, y, make_optimizer, seed=seed)
    if lr_item.numbers.get("symptom") in ("explodes", "oscillates", "too high"):
        def make_opt():  # the remaining checks train with the suggested learning rate
            o = make_optimizer()
            o.lr = finder.suggestion
            return o

        if not results["labels"].passed:  # maybe only the learning rate was in the way
            results["labels"] = check_labels(make_model, X, y, make_opt, seed=seed)
    if not results["labels"].passed:
        make_opt = make_optimizer
        lr_item = _skipped("learning_rate", "the labels do not match the inputs; a loss curve "
                           "on unlearnable labels says nothing about the learning rate")
    results["learning_rate"] = lr_item
    results["overfit"] = overfit_tiny(make_model, X, y, make_opt, batch_size=batch_size,
                                      seed=seed)
    name = _loss_name(trained)
    chance = expected_initial_loss(y, name, n_classes=_n_outputs(trained)
                                   if name == "softmax_cross_entropy" else None)
    if lr_item.passed is False:
        results["capacity"] = _skipped("capacity", "the learning rate failed; the training "
                                       "curve says nothing about capacity until it is fixed")
    elif not results["labels"].passed:
        results["capacity"] = _skipped("capacity", "the labels do not match the inputs; no "
                                       "model can fit them")
    else:
        results["capacity"] = diagnose_capacity(history.train_loss, history.val_loss or None,
                                                chance_loss=chance)
    if results["overfit"].passed is False and results["capacity"].passed is False and \
            results["gradients"].passed:
        results["overfit"] = CheckResult(
            "overfit", None, f"{results['overfit'].message}; the gradients are right and the "
            "model underfits the full set too, so this is the capacity problem below",
            numbers=results["overfit"].numbers)
    if history.val_loss and history.train_loss and np.isfinite(history.train_loss[-1]):
        gap = (history.val_loss[-1] - history.train_loss[-1]) / max(history.train_loss[-1],
                                                                    1e-12)
        regularization = check_regularization(data_loss, reg_loss, val_gap=gap)
    dropout_first = _dropout_before_batchnorm(trained)
    if dropout_first:
        regularization.message += ("; warning: dropout comes before batch norm, which shifts "
                                   "the variance between training and evaluation")
    results["regularization"] = regularization
    return ChecklistReport([results[n] for n in ITEMS], extras)


def _dropout_before_batchnorm(model: Any) -> bool:
    kinds = [type(layer).__name__ for layer in getattr(model, "layers", [])]
    seen_dropout = False
    for kind in kinds:
        if kind == "Dropout":
            seen_dropout = True
        elif kind == "BatchNorm1d" and seen_dropout:
            return True
    return False
