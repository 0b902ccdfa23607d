"""Training diagnostics: the debugging checklist as code, each check naming the cause and fix.

Work through the hierarchy in order: data first, then the implementation (loss at chance, overfit
a tiny set, gradients), then hyperparameters (learning rate), then the architecture (capacity,
regularization). Every check returns a :class:`CheckResult` with numbers, a pass/fail, a message
and a fix, and never modifies the caller's model or data.
"""

from .checklist import ITEMS, ChecklistReport, checklist, layer_order_warnings
from .curves import (
    check_learning_rate,
    check_regularization,
    check_update_ratios,
    diagnose_capacity,
    loss_curve_symptoms,
)
from .data import (
    check_data,
    check_leakage,
    expected_initial_loss,
    input_blind_loss,
    label_entropy,
)
from .model_checks import (
    LRFinderResult,
    activation_stats,
    check_activations,
    check_gradients,
    check_initial_loss,
    check_labels,
    fit,
    lr_range_test,
    overfit_tiny,
)
from .result import CheckResult
from .runlog import RunLog, compare_runs, load_runs

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
]
