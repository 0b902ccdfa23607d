"""gradcheck_edu: a pure-NumPy teaching toolkit for debugging neural networks.

Finite differences, the theta vector, relative error with its verdict, and gradient checks that
name the parameter and component at fault. The numerics never import the neural-network or
plotting code, so ``import gradcheck_edu`` stays light.
"""

from .check import (
    DEFAULT_THRESHOLDS,
    ComponentRow,
    GradientCheckReport,
    ParameterRow,
    TaylorResult,
    Verdict,
    check_layer,
    check_model,
    classify_relative_error,
    directional_check,
    gradient_check,
    relative_error,
    taylor_test,
)
from .finite_diff import (
    METHODS,
    PrecisionWarning,
    StepTooSmallError,
    backward_difference,
    central_difference,
    default_step,
    error_vs_eps,
    fit_order,
    forward_difference,
    numerical_gradient,
)
from .theta import ParamSpec, flatten, spec_of
from .version import __version__

__all__ = [
    "__version__",
    "forward_difference",
    "backward_difference",
    "central_difference",
    "numerical_gradient",
    "default_step",
    "error_vs_eps",
    "fit_order",
    "METHODS",
    "PrecisionWarning",
    "StepTooSmallError",
    "flatten",
    "spec_of",
    "ParamSpec",
    "relative_error",
    "Verdict",
    "classify_relative_error",
    "DEFAULT_THRESHOLDS",
    "gradient_check",
    "directional_check",
    "taylor_test",
    "check_layer",
    "check_model",
    "GradientCheckReport",
    "ParameterRow",
    "ComponentRow",
    "TaylorResult",
]
