"""The whole debugging checklist in one call.

::

    [ ] Data loads correctly            [ ] Activations are healthy (no dead/saturated)
    [ ] Labels match inputs             [ ] Learning rate is appropriate (LR finder)
    [ ] Loss decreases on tiny dataset  [ ] Model has sufficient capacity (training loss)
    [ ] Gradients flow (gradient check) [ ] Regularization prevents overfitting (validation)

The checks follow the debugging hierarchy: data first, then the implementation (loss at chance,
gradients, activations), then hyperparameters, then the architecture. A later check that would
only repeat an earlier failure (training on NaN data, or with a learning rate that diverges) is
not run: its ``passed`` is None and its message says which item to fix first. When one item is
the likely cause of another's failure, both lines say so (see :mod:`.story`), and any item that
ran with another learning rate, model or data subset than the user's says which and why on a
``ran:`` line. Every threshold is in :mod:`.bands`.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import numpy as np

from .activations import check_activations
from .capacity import check_regularization
from .data import Finding, check_data, check_leakage, summarize
from .model_checks import check_gradients, check_initial_loss
from .protocol import default_optimizer, loss_name, loss_parts, n_outputs
from .result import CheckResult
from .story import not_judged, skipped, training_items

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
        raise KeyError(f"no checklist item {name!r}; the items are {[i.name for i in self]}")

    def __iter__(self):
        """The items, in checklist order: ``for item in report``."""
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

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


def _data_item(X: np.ndarray, y: np.ndarray, X_val: Any, y_val: Any, task: str,
               n_classes: int | None, image_shape: Any) -> CheckResult:
    """check_data on the training set, and on the validation set with a leakage check; the
    findings of all three in one message, each fix once."""
    data = check_data(X, y, task=task, n_classes=n_classes, image_shape=image_shape)
    if X_val is None:
        return data
    shape = data.numbers["image_shape"] or False
    val = check_data(X_val, y_val, task=task, n_classes=n_classes, image_shape=shape)
    leak = check_leakage(X, X_val)
    numbers = dict(data.numbers, validation=val.numbers, leakage=leak.numbers)
    findings = list(data.numbers["findings"])
    findings += [Finding("validation set: " + f.problem, f.fix, f.severity)
                 for f in val.numbers["findings"] if f.severity != "note"]
    if leak.passed is False:
        # the training items still mean something; only what compares with validation does not
        findings.append(Finding(leak.message, leak.fix, "fail"))
    failed = summarize(findings, numbers)
    if failed is None:
        return CheckResult("data", True, f"{data.message}; validation set clean, no "
                           "validation row in the training set", "", numbers)
    return failed


def checklist(make_model: Callable[[], Any], X: Any, y: Any, X_val: Any = None,
              y_val: Any = None, make_optimizer: Callable[[], Any] | None = None,
              epochs: int = 30, batch_size: int = 32, seed: int = 0,
              make_larger_model: Callable[[], Any] | None = None,
              image_shape: Any = None) -> ChecklistReport:
    """Run the debugging checklist on fresh models from ``make_model()``.

    Parameters
    ----------
    make_model : callable
        Returns a fresh, untrained model (``params``, ``loss``, ``loss_and_grads``, ...; see
        :mod:`gradcheck_edu.diagnose.protocol`) each time it is called.
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k)
        Training data (never modified).
    X_val, y_val : arrays, optional
        Validation data (both or neither), for overfitting and leakage.
    make_optimizer : callable, optional
        Returns an optimizer with ``step(params, grads)`` and ``lr`` (default: Adam, 1e-3).
    epochs, batch_size : int
        The training run behind the learning-rate, capacity and regularization items.
    seed : int
        For the subsets, the sample order and the dropout masks of the checks.
    make_larger_model : callable, optional
        A larger variant of the model, for the capacity item (default for an
        :class:`~gradcheck_edu.nn.MLP`: 2x the hidden units, at least 64; other models are
        then judged from their training curve alone, and the item says so).
    image_shape : (int, int), False or None
        The rows of X are images of this shape (None: guessed; False: not images). Changes
        how the data item words its notes, and adds a grid of samples to ``report.plot()``.

    Returns
    -------
    ChecklistReport
        ``print(report)`` shows the boxes; ``report["capacity"].numbers`` the measurements.

    Notes
    -----
    A blocking data problem (NaN/Inf, labels out of range, a leak, wildly unscaled inputs, one
    class) stops the checklist; other data problems fail the data item and the rest still runs
    (validation rows that are also training rows: the regularization item's overfitting verdict
    is withheld). A failed initial loss, gradient, activation or regularization-strength check
    stops the training items. When the learning rate fails, the labels and overfit items train
    with the LR range test's suggestion instead (their ``ran:`` line says so), and capacity is
    not judged. The time is dominated by the training runs: measured on the digits with
    ``MLP([64, 64, 10])``, see the README.
    """
    if (X_val is None) != (y_val is None):
        given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
        raise ValueError(f"{given} is given but {missing} is None: pass both X_val and y_val "
                         "(the validation inputs and their labels), or neither")
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or default_optimizer
    probe = make_model()
    if make_model() is probe:
        raise ValueError("make_model() returned the same object twice; it must build a new "
                         "model on each call (e.g. make_model=lambda: MLP([2, 64, 3]))")
    name = loss_name(probe)
    results: dict[str, CheckResult] = {}
    extras: dict[str, Any] = {}
    warnings = layer_order_warnings(probe)

    def report() -> ChecklistReport:
        return ChecklistReport([results[n] for n in ITEMS], extras, warnings)

    def stop(blocker: str, why: str) -> ChecklistReport:
        results[blocker].message += "; the later items are not run until this is fixed"
        results.update({n: skipped(n, why) for n in ITEMS if n not in results})
        return report()

    results["data"] = _data_item(X, y, X_val, y_val,
                                 "regression" if name == "mse" else "classification",
                                 n_outputs(probe) if name == "softmax_cross_entropy" else None,
                                 image_shape)
    shape = results["data"].numbers["image_shape"]
    if shape is not None:
        extras["samples"] = {"X": X[:32], "y": y[:32], "shape": shape}
        results["data"].message += "; report.plot() shows samples with their labels"
    if results["data"].numbers["blocking"]:
        return stop("data", "the data check failed; fix the data first (every later check "
                    "would inherit it)")

    # Implementation checks on the untrained model.
    results["initial_loss"] = check_initial_loss(probe, X, y)
    results["activations"] = check_activations(probe, X)
    results["gradients"] = check_gradients(probe, X, y, optimizer=make_optimizer(), seed=seed,
                                           flag_vanishing=results["activations"].passed
                                           is not False)
    extras["activations"] = results["activations"].numbers.get("layers", [])
    data_loss, reg_loss = loss_parts(probe, X, y)
    results["regularization"] = check_regularization(data_loss, reg_loss,
                                                     when="at initialization")
    blocked = [n for n in ("initial_loss", "gradients", "activations", "regularization")
               if results[n].passed is False]
    if blocked:
        why = (f"{', '.join(blocked)} failed; fix that first (training would only show the "
               "same problem)")
        return stop(blocked[0], why)
    training_items(results, extras, probe, make_model, make_optimizer, X, y, X_val, y_val,
                   epochs=epochs, batch_size=batch_size, seed=seed,
                   start=data_loss + reg_loss, make_larger_model=make_larger_model)
    shared = results["data"].numbers.get("leakage", {}).get("shared_rows")
    if shared and results["regularization"].passed is not False:
        results["regularization"] = not_judged(results["regularization"], (
            f"{shared} validation rows are also training rows (see data): the validation loss "
            "cannot show overfitting until the split is fixed"))
    return report()
