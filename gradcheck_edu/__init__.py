"""gradcheck_edu: a pure-NumPy teaching toolkit for debugging neural networks.

Finite differences, the theta vector, relative error with its verdict, and gradient checks that
name the parameter and component at fault. The numerics never import the neural-network or
plotting code, so ``import gradcheck_edu`` stays light: the subpackages ``nn``, ``datasets``,
``bugs``, ``diagnose``, ``plots`` (and the others) load on first use, ``ge.nn.MLP(...)``.

Read :mod:`gradcheck_edu.basics` first: the whole idea in a few dozen lines.
"""

import importlib

from .adaptive import AdaptiveGradient, adaptive_gradient
from .basics import numerical_gradient_loop, relative_error
from .check import gradient_check
from .directional import directional_check
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
from .model_check import check_layer, check_model
from .report import ComponentRow, GradientCheckReport, ParameterRow
from .taylor import TaylorResult, taylor_test
from .theta import ParamSpec, flatten, spec_of
from .verdicts import DEFAULT_THRESHOLDS, Verdict, classify_relative_error
from .version import __version__

__all__ = [
    "__version__",
    "numerical_gradient_loop",
    "forward_difference",
    "backward_difference",
    "central_difference",
    "numerical_gradient",
    "adaptive_gradient",
    "AdaptiveGradient",
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

# Loaded on first attribute access (PEP 562), so that ``import gradcheck_edu`` imports neither
# matplotlib nor the MLP.
_LAZY = ("nn", "datasets", "bugs", "diagnose", "plots", "examples", "grading", "layered", "cli",
         "patterns")


def __getattr__(name: str):
    if name in _LAZY:
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
