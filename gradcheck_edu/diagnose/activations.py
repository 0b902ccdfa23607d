"""The activation check: dead ReLU units, saturated tanh/sigmoid units, a vanishing scale."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..nn.train import accepts_keyword
from .bands import ACTIVATION_STD, DEAD_UNITS, SATURATED
from .protocol import checked_data
from .result import CheckResult
from .saturation import RELU_KINDS, activation_kind, saturated

__all__ = ["activation_stats", "check_activations"]

_NOT_ACTIVATIONS = ("linear", "batchnorm1d", "batchnorm", "dropout", "layer")


def _activation_entries(model: Any, X: Any) -> list[tuple[Any, str | None, np.ndarray]]:
    """(layer, kind, values) for each activation the model's forward returns."""
    forward = model.forward
    kwargs = {"training": True} if accepts_keyword(forward, "training") else {}
    _, acts = forward(X, return_activations=True, **kwargs)
    layers = getattr(model, "layers", None)
    aligned = layers is not None and len(layers) == len(acts)
    entries = []
    for i, a in enumerate(acts):
        if isinstance(a, tuple) and len(a) == 3:
            entries.append((a[0], activation_kind(a[1]), np.asarray(a[2])))
        else:
            entries.append((i, activation_kind(type(layers[i]).__name__) if aligned else None,
                            np.asarray(a)))
    return [e for e in entries if e[1] not in _NOT_ACTIVATIONS]


def activation_stats(model: Any, X: Any, max_samples: int = 1000) -> list[dict[str, Any]]:
    """Per activation layer: mean, std, dead fraction (ReLU units zero on the whole batch),
    saturated fraction (tanh beyond +-0.99, sigmoid beyond 0.01 / 0.99), and the values.

    The model's ``forward(X, return_activations=True)`` (with ``training=True`` when it takes
    that keyword; on a copy, so the model is unchanged) returns ``(out, activations)``. Each
    entry of ``activations`` is either

    * a tuple ``(name, kind, values)``: ``kind`` names the nonlinearity (``"relu"``,
      ``"leaky_relu"``, ``"tanh"``, ``"sigmoid"``; anything else or None: unknown), or
    * an array: the output of ``model.layers[i]`` when the model has a list ``layers`` of the
      same length, whose class name gives the kind (``ReLU``, ``Tanh``, ...; the outputs of
      ``Linear``, ``BatchNorm1d`` and ``Dropout`` layers are skipped), else of unknown kind.

    For an unknown kind, ``dead`` and ``saturated`` are None: only the scale is judged.
    At most ``max_samples`` samples (the first ones) are used.

    Returns
    -------
    list of dict
        Keys ``layer``, ``kind``, ``mean``, ``std``, ``dead``, ``saturated`` and ``values``
        (float64, shape (samples, units)).
    """
    X = checked_data(X, None, "activation_stats")[0][:max_samples]
    stats = []
    for layer, kind, a in _activation_entries(copy.deepcopy(model), X):
        a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
        entry = {"layer": layer, "kind": kind or "unknown", "mean": float(a.mean()),
                 "std": float(a.std()), "dead": None, "saturated": None, "values": a}
        sat = saturated(kind, a)
        if kind in RELU_KINDS:
            entry.update(dead=float(np.mean(np.all(a <= 0, axis=0))), saturated=0.0)
        elif sat is not None:
            entry.update(dead=0.0, saturated=float(np.mean(sat)))
        stats.append(entry)
    return stats


def _describe(s: dict) -> str:
    text = f"layer {s['layer']} {s['kind']}: std {s['std']:.2g}"
    if s["dead"] is None:
        return text + " (unknown nonlinearity: dead/saturated not judged)"
    return text + f", dead {s['dead']:.0%}, saturated {s['saturated']:.0%}"


def check_activations(model: Any, X: Any, max_dead: float = DEAD_UNITS.high,
                      max_saturated: float = SATURATED.high,
                      min_std: float = ACTIVATION_STD.low, max_samples: int = 1000
                      ) -> CheckResult:
    """Healthy activations: few dead ReLU units, few saturated tanh/sigmoid, no vanishing scale.

    Dead ReLUs pass no gradient (often from large negative biases or a too-high learning rate);
    saturated tanh/sigmoid units have near-zero derivative (weights too large); a vanishing
    scale shrinks the signal layer after layer (weights too small). The model needs
    ``forward(X, return_activations=True)`` (see :func:`activation_stats`); without it the
    result is ``passed=None``.

    Parameters
    ----------
    model
        Follows the protocol of :mod:`gradcheck_edu.diagnose.protocol`.
    X : array_like, shape (N, D)
    max_dead, max_saturated, min_std : float
        The bands (defaults: :data:`~gradcheck_edu.diagnose.bands.DEAD_UNITS`,
        ``SATURATED``, ``ACTIVATION_STD``); the message states the ones used.
    max_samples : int
        The first ``max_samples`` rows are used.

    Returns
    -------
    CheckResult named ``"activations"``; ``numbers["layers"]`` is :func:`activation_stats`.
    """
    forward = getattr(model, "forward", None)
    if not callable(forward) or not accepts_keyword(forward, "return_activations"):
        return CheckResult("activations", None, "not run: the model has no forward(X, "
                           "return_activations=True) returning (out, activations)")
    stats = activation_stats(model, X, max_samples=max_samples)
    numbers = {"layers": stats}
    n = len(np.asarray(X))
    ran = (f"on the first {max_samples} of {n} samples (enough to see each unit's behaviour)"
           if n > max_samples else "")
    dead_band = DEAD_UNITS.with_limits(high=max_dead)
    sat_band = SATURATED.with_limits(high=max_saturated)
    std_band = ACTIVATION_STD.with_limits(low=min_std)
    problems = []
    for s in stats:
        where = f"layer {s['layer']} ({s['kind']})"
        dead = s["dead"] or 0.0
        if not dead_band.contains(dead):
            problems.append(f"{dead:.0%} dead units in {where} ({dead_band.healthy()})")
        if not sat_band.contains(s["saturated"] or 0.0):
            problems.append(f"{s['saturated']:.0%} saturated activations in {where} "
                            f"({sat_band.healthy()})")
        if not std_band.contains(s["std"]) and dead_band.contains(dead):
            problems.append(f"vanishing activations (std {s['std']:.1e}) in {where} "
                            f"({std_band.healthy()})")
    if problems:
        return CheckResult("activations", False, "; ".join(problems),
                           "re-initialize (He for ReLU, Xavier for tanh; biases at 0), lower "
                           "the learning rate, or use LeakyReLU / batch norm", numbers, ran=ran)
    summary = "; ".join(_describe(s) for s in stats)
    if summary:
        summary += f" ({dead_band.healthy()}, {sat_band.healthy().removeprefix('healthy: ')})"
    return CheckResult("activations", True, summary or "no activation layers", "", numbers,
                       ran=ran)
