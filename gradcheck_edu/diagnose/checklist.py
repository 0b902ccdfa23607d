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

import html
from typing import Any, Callable

import numpy as np

from ..nn.train import train
from .curves import check_learning_rate, check_regularization, diagnose_capacity
from .data import check_data, check_leakage, input_blind_loss
from .model_checks import (
    _default_optimizer,
    _loss_name,
    _loss_parts,
    _n_outputs,
    check_activations,
    check_gradients,
    check_initial_loss,
    check_labels,
    lr_range_test,
    overfit_tiny,
)
from .result import CheckResult

__all__ = ["checklist", "ChecklistReport", "ITEMS", "layer_order_warnings"]

ITEMS = ("data", "labels", "initial_loss", "overfit", "gradients", "activations",
         "learning_rate", "capacity", "regularization")


class ChecklistReport:
    """The checklist's findings: ``items`` in checklist order, each a :class:`CheckResult`.

    ``passed`` is True only when every item ran and passed; ``failed`` lists the items that
    found a problem and ``not_run`` those that could not run (``passed`` None: their message
    says why). ``warnings`` are findings that fail no item (e.g. dropout before batch norm).
    """

    def __init__(self, items: list[CheckResult], extras: dict[str, Any],
                 warnings: list[str] | None = None):
        self.items = items
        self.extras = extras  # history, lr_finder, activations for the plots
        self.warnings = list(warnings or [])

    def __getitem__(self, name: str) -> CheckResult:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def failed(self) -> list[str]:
        return [item.name for item in self.items if item.passed is False]

    @property
    def not_run(self) -> list[str]:
        return [item.name for item in self.items if item.passed is None]

    @property
    def passed(self) -> bool:
        """True when no item failed and every item ran."""
        return all(item.passed for item in self.items)

    def __str__(self) -> str:
        lines = ["Debugging checklist"] + [str(item) for item in self.items]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        warnings = "".join(f'<p style="color:#b26a00"><b>warning</b>: {html.escape(w)}</p>'
                           for w in self.warnings)
        return "<div><b>Debugging checklist</b>" + "".join(
            item._repr_html_() for item in self.items) + warnings + "</div>"

    def plot(self):
        """The figures behind the checklist: training curves, LR finder, activations."""
        from ..plots import plot_checklist

        return plot_checklist(self)


def layer_order_warnings(model_or_layers: Any) -> list[str]:
    """Warn when a dropout layer comes before a batch-norm layer.

    In training, dropout scales the units it keeps by ``1/(1-p)``, which changes the variance
    of everything downstream; batch norm learns its running variance from that. At evaluation
    dropout is off, the variance is different, and batch norm normalizes with the wrong
    statistics (the "variance shift"). A linear layer in between passes the shift on, so
    ``Dropout -> Linear -> BatchNorm1d`` counts too. Dropout after the last batch-norm layer
    is safe: in an ``MLP(..., batchnorm=True, dropout=p)`` that is the case with one hidden
    layer, not with two or more (the first hidden layer's dropout feeds the second's batch
    norm).

    Takes a model with a list ``layers`` (layer kinds from class names containing "dropout"
    and "batchnorm") or the list itself.
    """
    layers = getattr(model_or_layers, "layers", model_or_layers)
    if not isinstance(layers, (list, tuple)):
        return []
    kinds = [type(layer).__name__.lower() for layer in layers]
    dropouts = [i for i, k in enumerate(kinds) if "dropout" in k]
    norms = [i for i, k in enumerate(kinds) if "batchnorm" in k]
    if not dropouts or not norms or dropouts[0] > norms[-1]:
        return []
    i = dropouts[0]
    j = next(j for j in norms if j > i)
    return [f"dropout (layer {i}) comes before batch norm (layer {j}): batch norm learns "
            "its running variance with dropout on and normalizes with it when dropout is off "
            "(variance shift); put dropout only after the last batch-norm layer"]


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, f"not run: {why}")


def _data_item(X: np.ndarray, y: np.ndarray, X_val: Any, y_val: Any, task: str) -> CheckResult:
    """check_data on the training set, and on the validation set with a leakage check."""
    data = check_data(X, y, task=task)
    if X_val is None:
        return data
    parts = [("", data), ("validation set: ", check_data(X_val, y_val, task=task)),
             ("", check_leakage(X, X_val))]
    failed = [(prefix, r) for prefix, r in parts if not r.passed]
    numbers = dict(data.numbers, validation=parts[1][1].numbers, leakage=parts[2][1].numbers)
    numbers["blocking"] = any(r.numbers.get("blocking", False) for _, r in failed)
    if not failed:
        return CheckResult("data", True, f"{data.message}; validation set clean, no leakage",
                           "", numbers)
    return CheckResult("data", False, "; ".join(p + r.message for p, r in failed),
                       "; ".join(r.fix for _, r in failed), numbers)


def _with_lr(make_optimizer: Callable[[], Any], lr: float) -> Callable[[], Any]:
    def make():
        opt = make_optimizer()
        opt.lr = lr
        return opt
    return make


def checklist(make_model: Callable[[], Any], X: Any, y: Any, X_val: Any = None,
              y_val: Any = None, make_optimizer: Callable[[], Any] | None = None,
              epochs: int = 30, batch_size: int = 32, seed: int = 0) -> ChecklistReport:
    """Run the debugging checklist on fresh models from ``make_model()``.

    Parameters
    ----------
    make_model : callable
        Returns a fresh, untrained model (``params``, ``loss``, ``loss_and_grads``, ...; see
        :mod:`gradcheck_edu.diagnose.model_checks` for the protocol) each time it is called.
    X, y : arrays
        Training data (never modified).
    X_val, y_val : arrays, optional
        Validation data (both or neither), for overfitting and leakage.
    make_optimizer : callable, optional
        Returns an optimizer with ``step(params, grads)`` and ``lr`` (default: Adam, 1e-3).
    epochs, batch_size : int
        The training run behind the learning-rate, capacity and regularization items.
    seed : int
        For the subsets, the sample order and the dropout masks of the checks.

    Returns
    -------
    ChecklistReport
        ``print(report)`` shows the boxes; ``report["capacity"].numbers`` the measurements.

    Notes
    -----
    A blocking data problem (NaN/Inf, unnormalized features, one class) stops the checklist;
    other data problems fail the data item and the rest still runs. A failed initial loss,
    gradient, activation or regularization-strength check stops the training items. When the
    learning rate fails, the labels and overfit items train with the LR range test's
    suggestion instead, and capacity is not judged.
    """
    if (X_val is None) != (y_val is None):
        given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
        raise ValueError(f"{given} is given but {missing} is None: pass both X_val and y_val "
                         "(the validation inputs and their labels), or neither")
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    probe = make_model()
    if make_model() is probe:
        raise ValueError("make_model() returned the same object twice; it must build a new "
                         "model on each call (e.g. make_model=lambda: MLP([2, 64, 3]))")
    name = _loss_name(probe)
    results: dict[str, CheckResult] = {}
    extras: dict[str, Any] = {}
    warnings = layer_order_warnings(probe)

    def report() -> ChecklistReport:
        return ChecklistReport([results[n] for n in ITEMS], extras, warnings)

    results["data"] = _data_item(X, y, X_val, y_val,
                                 "regression" if name == "mse" else "classification")
    if results["data"].numbers["blocking"]:
        why = "the data check failed; fix the data first (every later check would inherit it)"
        results.update({n: _skipped(n, why) for n in ITEMS[1:]})
        return report()

    # Implementation checks on the untrained model.
    results["initial_loss"] = check_initial_loss(probe, X, y)
    results["activations"] = check_activations(probe, X)
    results["gradients"] = check_gradients(probe, X, y, optimizer=make_optimizer(), seed=seed,
                                           flag_vanishing=results["activations"].passed
                                           is not False)
    extras["activations"] = results["activations"].numbers.get("layers", [])
    data_loss, reg_loss = _loss_parts(probe, X, y)
    results["regularization"] = check_regularization(data_loss, reg_loss)
    blocked = [n for n in ("initial_loss", "gradients", "activations", "regularization")
               if results[n].passed is False]
    if blocked:
        why = (f"{', '.join(blocked)} failed; fix that first (training would only show the "
               "same problem)")
        results.update({n: _skipped(n, why) for n in ITEMS if n not in results})
        return report()
    _training_items(results, extras, make_model, make_optimizer, X, y, X_val, y_val,
                    epochs=epochs, batch_size=batch_size, seed=seed, start=data_loss + reg_loss)
    return report()


def _training_items(results: dict, extras: dict, make_model: Callable, make_optimizer: Callable,
                    X: np.ndarray, y: np.ndarray, X_val: Any, y_val: Any, epochs: int,
                    batch_size: int, seed: int, start: float) -> None:
    """labels, overfit, learning_rate, capacity and the validation part of regularization."""
    finder = lr_range_test(make_model(), X, y, make_optimizer(), batch_size=batch_size,
                           seed=seed)
    opt, trained = make_optimizer(), make_model()
    lr = getattr(opt, "lr", None)
    history = train(trained, X, y, opt, epochs=epochs, batch_size=batch_size, X_val=X_val,
                    y_val=y_val, seed=seed, progress=False)
    extras.update(lr_finder=finder, history=history)
    lr_item = check_learning_rate(history.train_loss, lr=lr, start=start,
                                  update_ratios=results["gradients"].numbers.get(
                                      "update_ratios"),
                                  suggestion=finder.suggestion, diverged_at=finder.diverged_at)
    # With a failed learning rate, labels and overfit would only repeat it: they use the
    # LR range test's suggestion instead.
    make_opt = _with_lr(make_optimizer, finder.suggestion) if lr_item.passed is False \
        else make_optimizer
    labels = check_labels(make_model, X, y, make_opt, seed=seed)
    overfit = overfit_tiny(make_model, X, y, make_opt, batch_size=batch_size, seed=seed)
    results.update(labels=labels, learning_rate=lr_item, overfit=overfit)
    if labels.passed is False or lr_item.passed is False:
        _blame_the_first_failure(results, finder.suggestion)
        return
    _curve_items(results, history, y, trained)


def _not_judged(item: CheckResult, why: str) -> CheckResult:
    return CheckResult(item.name, None, f"{item.message}; not judged: {why}",
                       numbers=item.numbers)


def _blame_the_first_failure(results: dict, suggestion: float) -> None:
    """Misaligned labels or a failed learning rate make the later items repeat that failure:
    the items that depend on it are not judged (passed None, with the reason)."""
    bad_labels = results["labels"].passed is False
    why = "the labels do not match the inputs" if bad_labels else "the learning rate failed"
    if bad_labels and results["learning_rate"].passed is False:
        results["learning_rate"] = _not_judged(results["learning_rate"], why + "; a loss "
                                               "curve on unlearnable labels says nothing about "
                                               "the learning rate")
    if results["overfit"].passed is False:
        results["overfit"] = _not_judged(results["overfit"], why + (
            ", and memorizing noise is slower" if bad_labels else
            f", and even at the LR range test's suggestion {suggestion:.2g} the loss did not "
            "reach ~0") + " (fix that first)")
    results["capacity"] = _skipped("capacity", f"{why}; the training curve says nothing "
                                   "about capacity until that is fixed")
    results["regularization"].message += f"; validation not judged: {why}"


def _curve_items(results: dict, history: Any, y: np.ndarray, trained: Any) -> None:
    """capacity from the training curve, overfitting from the validation curve."""
    name = _loss_name(trained)
    chance = input_blind_loss(y, name, _n_outputs(trained) if name != "mse" else None)
    results["capacity"] = diagnose_capacity(history.data_loss or history.train_loss,
                                            chance_loss=chance)
    if results["overfit"].passed is False and results["capacity"].passed is False:
        results["overfit"] = CheckResult(
            "overfit", None, f"{results['overfit'].message}; the gradients are right and the "
            "model underfits the full set too, so this is the capacity problem below",
            numbers=results["overfit"].numbers)
    if history.val_loss:
        train_total = (np.add(history.data_loss, history.reg_loss) if history.data_loss
                       else history.train_loss)
        strength = results["regularization"].numbers
        results["regularization"] = check_regularization(
            strength["data_loss"], strength["reg_loss"], train_loss=train_total,
            val_loss=history.val_loss, chance_loss=chance)
