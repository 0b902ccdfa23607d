"""Checks on the untrained model: its loss at chance, and its gradients (a gradient check,
gradient norms, and the update/weight ratio of one step).

The model protocol they rely on is described in :mod:`gradcheck_edu.diagnose.protocol`. Both
work on a ``copy.deepcopy`` of the model: the caller's model is unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..model_check import check_model
from .bands import GRAD_NORM, INITIAL_LOSS, MSE_OUTPUT_POWER
from .chance import expected_initial_loss, label_entropy
from .protocol import (
    checked_data,
    data_loss,
    default_optimizer,
    loss_name,
    n_outputs,
    random_subset,
)
from .result import CheckResult

__all__ = ["check_initial_loss", "check_gradients"]


def check_initial_loss(model: Any, X: Any, y: Any, max_ratio: float = INITIAL_LOSS.high,
                       output_limit: float = MSE_OUTPUT_POWER.high) -> CheckResult:
    """Compare the untrained model's data loss with the loss at chance.

    Classification: a freshly initialized classifier predicts roughly uniformly, so its loss
    should be close to ``-ln(1/C)`` (``ln 2`` for binary cross-entropy); it fails above
    ``max_ratio`` times that (band :data:`~gradcheck_edu.diagnose.bands.INITIAL_LOSS`, 1.5).
    Far above chance means too-large initial weights or unnormalized inputs (the logits are
    huge and confidently wrong).

    MSE: an untrained network does not output 0. He/Xavier initialization keeps the signal's
    scale, so on standardized inputs its outputs are random numbers with a mean square of
    order 1 (0.2 to 6 for the MLPs here, depending on the seed), uncorrelated with ``y``. Its
    loss is then about ``mean(y**2)`` (the loss of outputting 0) plus the outputs' mean
    square. The check estimates that mean square as ``loss - mean(y**2)`` and fails above
    ``output_limit`` (band ``MSE_OUTPUT_POWER``, 10): outputs of that size come from
    too-large weights or inputs.

    The loss is measured in training mode on a copy of the model (the model is unchanged).

    Returns
    -------
    CheckResult named ``"initial_loss"``; ``numbers`` has ``initial_loss``, ``chance_loss``
    (and ``output_power`` for MSE, ``label_entropy`` for softmax cross-entropy).
    """
    X, y = checked_data(X, y, "check_initial_loss")
    name = loss_name(model)
    chance = expected_initial_loss(y, name, n_classes=n_outputs(model)
                                   if name == "softmax_cross_entropy" else None)
    loss = data_loss(copy.deepcopy(model), X, y)
    numbers = {"initial_loss": loss, "chance_loss": chance}
    fix = "scale the initial weights down (He/Xavier init) and normalize the inputs"
    if name == "mse":
        band = MSE_OUTPUT_POWER.with_limits(high=output_limit)
        numbers["output_power"] = power = max(loss - chance, 0.0)
        what = (f"the initial loss {loss:.3g} is the loss of outputting 0 ({chance:.3g}) plus "
                f"about {power:.3g}, the mean square of the untrained outputs "
                f"({band.healthy()})")
        if not np.isfinite(loss) or not band.contains(power):
            return CheckResult("initial_loss", False, what, fix, numbers)
        return CheckResult("initial_loss", True, what, "", numbers)
    band = INITIAL_LOSS.with_limits(high=max_ratio)
    if name == "softmax_cross_entropy":
        numbers["label_entropy"] = label_entropy(y, n_outputs(model))
    ratio = loss / chance
    numbers["ratio"] = ratio
    text = (f"the initial loss {loss:.3g} is {ratio:.2f}x the loss at chance {chance:.3g} "
            f"({band.healthy()})")
    if not np.isfinite(loss) or not band.contains(ratio):
        return CheckResult("initial_loss", False, text, fix, numbers)
    return CheckResult("initial_loss", True, text, "", numbers)


def _deterministic_copy(model: Any, X: np.ndarray, y: np.ndarray, seed: int):
    """A copy of ``model`` whose loss is deterministic (dropout masks frozen when the model
    has ``freeze_dropout``), or (None, why) when the loss stays random."""
    trial = copy.deepcopy(model)
    if callable(getattr(trial, "freeze_dropout", None)):
        trial.freeze_dropout(seed)
    with np.errstate(all="ignore"):
        first, second = trial.loss(X, y), trial.loss(X, y)
    if first != second:
        return None, (f"the loss differs between two calls at the same parameters ({first:.6g}, "
                      f"{second:.6g}): dropout or other randomness, and the model has no "
                      "freeze_dropout(seed) to fix it for the gradient check")
    return trial, ""


def _one_step_ratios(trial: Any, grads: dict, optimizer: Any) -> dict:
    """``||delta W|| / ||W||`` for each weight after one step of a copy of ``optimizer`` with
    ``grads``; the step changes ``trial`` (a private copy of the model)."""
    opt = copy.deepcopy(optimizer)
    before = {k: np.array(v, copy=True) for k, v in trial.params.items() if k.startswith("W")}
    with np.errstate(all="ignore"):
        opt.step(trial.params, grads)
    return {k: float(np.linalg.norm(trial.params[k] - before[k])
                     / max(np.linalg.norm(before[k]), 1e-300)) for k in before}


def check_gradients(model: Any, X: Any, y: Any, n_samples: int = 16,
                    optimizer: Any = None, seed: int = 0,
                    flag_vanishing: bool = True) -> CheckResult:
    """Gradient check on a few samples, per-layer gradient norms and update/weight ratios.

    Runs on a copy of the model with its dropout masks frozen (``freeze_dropout``), so the
    loss is a deterministic function of the parameters; a model whose loss stays random gives
    ``passed=None``. Fails when the gradient check fails, or when the gradient norms of the
    weights (``W*`` parameters, on the whole of ``X``) leave the band
    :data:`~gradcheck_edu.diagnose.bands.GRAD_NORM` (below 1e-8 they vanish, above 1e4 they
    explode).
    ``flag_vanishing=False`` reports vanishing gradients without failing (the checklist does
    so when dead activations already explain them).

    The update/weight ratio ``||delta W|| / ||W||`` of the first optimizer step from
    initialization is reported in ``numbers["update_ratios"]`` and not judged: it measures the
    learning rate, not the gradient, and the first step runs far higher than later ones (the
    checklist's learning-rate item judges the median over its training run with
    :func:`~gradcheck_edu.diagnose.check_update_ratios`).

    Parameters
    ----------
    model
        Follows :mod:`gradcheck_edu.diagnose.protocol`.
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k)
    n_samples : int
        The gradient check runs on this many random samples (it costs 2 loss evaluations per
        parameter); the norms use all of ``X``.
    optimizer : optional
        For the one-step ratio (default: Adam 1e-3); a copy is stepped.
    seed : int
    flag_vanishing : bool

    Returns
    -------
    CheckResult named ``"gradients"``; ``numbers`` has ``relative_error``, ``verdict``,
    ``grad_norms``, ``update_ratios`` and the full ``report``.
    """
    X, y = checked_data(X, y, "check_gradients")
    rng = np.random.default_rng(seed)
    idx = random_subset(len(y), n_samples, rng)
    trial, why = _deterministic_copy(model, X[idx], y[idx], seed)
    if trial is None:
        return CheckResult("gradients", None, f"not run: {why}")
    report = check_model(trial, X[idx], y[idx])
    ran = (f"the gradient check on {len(idx)} random samples of {len(y)} (it costs two loss "
           "evaluations per parameter); the gradient norms on all of them"
           if len(idx) < len(y) else "")
    with np.errstate(all="ignore"):
        _, grads = trial.loss_and_grads(X, y)
    norms = {k: float(np.linalg.norm(g)) for k, g in grads.items()}
    # the last use of trial: the step may change it (and grads, the model's own buffers)
    ratios = _one_step_ratios(trial, grads, optimizer if optimizer is not None
                              else default_optimizer())
    numbers = {"relative_error": report.relative_error, "verdict": report.verdict.name,
               "grad_norms": norms, "update_ratios": ratios, "report": report}
    weights = {k: v for k, v in norms.items() if k.startswith("W")}
    norm_txt = ", ".join(f"{k} {v:.1e}" for k, v in weights.items())
    vanishing = [k for k, v in weights.items() if v < GRAD_NORM.low]
    exploding = [k for k, v in weights.items() if not v <= GRAD_NORM.high]
    note = ""
    if vanishing and not flag_vanishing:
        note, vanishing = f"; gradients vanish in {vanishing} (see activations)", []
    if not report.passed:
        worst = report.worst(1)[0]
        return CheckResult("gradients", False,
                           f"gradient check {report.verdict.name} (relative error "
                           f"{report.relative_error:.1e}); worst: {worst.name}{worst.index}",
                           "fix the backward pass of the layer that computes "
                           f"{worst.name}; see the report in numbers['report']", numbers,
                           ran=ran)
    if vanishing or exploding:
        return CheckResult("gradients", False,
                           f"gradients {'vanish' if vanishing else 'explode'} in "
                           f"{vanishing or exploding} (norms {norm_txt}; {GRAD_NORM.healthy()})",
                           "use He/Xavier initialization, batch norm, or a non-saturating "
                           "activation; clip gradients if they explode", numbers, ran=ran)
    return CheckResult("gradients", True,
                       f"gradient check {report.verdict.name} (relative error "
                       f"{report.relative_error:.1e}); gradient norms {norm_txt} "
                       f"({GRAD_NORM.healthy()}){note}", "", numbers, ran=ran)
