"""Training diagnostics: the debugging checklist as code, each check naming the cause and fix.

Work through the hierarchy in order: data first, then the implementation (loss at chance, overfit
a tiny set, gradients), then hyperparameters (learning rate), then the architecture (capacity,
regularization). Every check returns a :class:`CheckResult` with numbers, a pass/fail, a message
and a fix, and never modifies the caller's model or data.

The modules, in reading order: ``result`` (CheckResult), ``bands`` (every threshold),
``protocol`` (what a model must offer, and the helpers that read it), ``data`` and ``chance``
(the data and the loss at chance), ``model_checks`` (initial loss, gradients),
``activations`` and ``saturation``, ``training_checks`` (tiny-set overfit, labels),
``lr_finder``, ``curves`` (learning-rate symptoms, update ratios), ``capacity`` (capacity,
regularization), ``checklist`` and ``story`` (all of it in one call, one consistent story),
``runlog`` (experiment tracking).
"""

from .activations import activation_stats, check_activations
from .bands import BANDS, Band
from .capacity import check_regularization, diagnose_capacity
from .chance import expected_initial_loss, input_blind_loss, label_entropy
from .checklist import ITEMS, ChecklistReport, checklist, layer_order_warnings
from .curves import check_learning_rate, check_update_ratios, loss_curve_symptoms
from .data import check_data, check_leakage
from .lr_finder import LRFinderResult, lr_range_test
from .model_checks import check_gradients, check_initial_loss
from .protocol import fit
from .result import CheckResult
from .runlog import RunLog, compare_runs, load_runs
from .training_checks import check_labels, overfit_tiny

__all__ = [
    "CheckResult",
    "check_data",
    "check_leakage",
    "expected_initial_loss",
    "label_entropy",
    "input_blind_loss",
    "loss_curve_symptoms",
    "check_update_ratios",
    "check_learning_rate",
    "diagnose_capacity",
    "check_regularization",
    "RunLog",
    "load_runs",
    "compare_runs",
    "check_initial_loss",
    "overfit_tiny",
    "check_labels",
    "check_gradients",
    "activation_stats",
    "check_activations",
    "lr_range_test",
    "LRFinderResult",
    "fit",
    "checklist",
    "ChecklistReport",
    "ITEMS",
    "layer_order_warnings",
    "Band",
    "BANDS",
]
