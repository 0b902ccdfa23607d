"""Gradient checking: compare an analytic gradient with finite differences and give a verdict.

The checks, one import away (each lives in a module of its own):

* :func:`gradient_check` (:mod:`~gradcheck_edu.compare`): every component, or a random sample;
* :func:`directional_check` (:mod:`~gradcheck_edu.directional`): random directions, cost
  independent of the number of weights;
* :func:`taylor_test` (:mod:`~gradcheck_edu.taylor`): no step to pick;
* :func:`check_layer`, :func:`check_model` (:mod:`~gradcheck_edu.model_check`): a layer's
  backward, a whole model (with the structure-aware path of :mod:`~gradcheck_edu.layered`).

Their verdicts come from :mod:`~gradcheck_edu.verdicts` and :mod:`~gradcheck_edu.roundoff`, and
their reports from :mod:`~gradcheck_edu.report`.

>>> import numpy as np
>>> f = lambda w: np.sum(np.tanh(w) ** 2)
>>> grad = lambda w: 2 * np.tanh(w) * (1 - np.tanh(w) ** 2)
>>> report = gradient_check(f, grad, np.array([0.3, -1.2, 2.0]))
>>> report.verdict.name, report.passed
('EXCELLENT', True)
>>> print(f"{relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.1])):.4f}")
0.0219
"""

from .basics import relative_error
from .compare import gradient_check
from .directional import directional_check
from .model_check import check_layer, check_model
from .report import ComponentRow, GradientCheckReport, ParameterRow
from .taylor import TaylorResult, taylor_test
from .verdicts import DEFAULT_THRESHOLDS, Verdict, classify_relative_error

__all__ = [
    "relative_error",
    "Verdict",
    "classify_relative_error",
    "gradient_check",
    "directional_check",
    "taylor_test",
    "check_layer",
    "check_model",
    "GradientCheckReport",
    "ParameterRow",
    "ComponentRow",
    "TaylorResult",
    "DEFAULT_THRESHOLDS",
]
