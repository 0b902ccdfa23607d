"""The directional check: the gradient along random directions, at a cost independent of n."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .evaluate import base_value, checked_value
from .patterns import pattern_for, read_pattern
from .report import ComponentTable, GradientCheckReport, ParameterRow
from .roundoff import CENTRAL_ROUNDOFF
from .steps import StepTooSmallError, check_eps, default_step
from .target import Target, loss_resolution
from .verdicts import DEFAULT_THRESHOLDS, judge, no_better_than_worst_parameter

__all__ = ["directional_check"]


def directional_check(f: Callable[[Any], float], grad: Any, theta: Any,
                      n_directions: int = 3, eps: float | None = 1e-6, seed: Any = None,
                      thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                      ) -> GradientCheckReport:
    """Check the gradient along random directions: cost independent of the number of weights.

    For each parameter and each of ``n_directions`` random unit directions ``v`` supported on
    that parameter, compare the central difference ``(f(theta + eps v) - f(theta - eps v)) /
    ||s||`` with the analytic ``grad . s / ||s||``, where ``s`` is the move between the two
    points as the floats represent it (``2 eps v`` up to rounding): two calls of ``f`` per
    direction, whatever the size of the parameter. A wrong gradient is caught along almost every
    random direction; a single wrong component of a large parameter may hide, so finish with a
    sampled ``gradient_check``.

    Parameters
    ----------
    eps : float or None
        The step along ``v`` (default 1e-6); ``None`` for the central difference's default
        step, ``EPS**(1/3) max(1, max|theta|)`` per parameter. As in ``gradient_check``, a step
        the floats cannot represent raises :class:`~gradcheck_edu.StepTooSmallError`: here,
        when rounding changes the move by more than half of it.

    Returns
    -------
    GradientCheckReport
        Rows are directions (``index`` is the direction number); ``analytic`` and ``numerical``
        are dicts ``name -> array (n_directions,)`` of directional derivatives.
    """
    if isinstance(n_directions, bool) or not isinstance(n_directions, (int, np.integer)) \
            or n_directions < 1:
        raise ValueError(f"n_directions must be a whole number >= 1, got {n_directions!r}")
    eps = None if eps is None else check_eps(eps)
    check_arguments(f, grad, theta, "directional_check")
    a_flat = analytic_flat(grad, theta, "directional_check")
    rng = np.random.default_rng(seed)
    target = Target(f, theta)
    f0 = base_value(target)
    spec = target.spec
    loss_eps, limit = loss_resolution(target.arrays)
    per_parameter, analytic, numerical = {}, {}, {}
    all_a, all_n, all_noise = [], [], []
    for leaf, arr in zip(spec.leaves, target.arrays):
        g = a_flat[leaf.offset: leaf.offset + leaf.size].reshape(leaf.shape)
        h = eps if eps is not None else float(default_step(
            np.max(np.abs(arr), initial=0.0), "central", arr.dtype))
        d_a, d_n, noise = np.empty(n_directions), np.empty(n_directions), np.empty(n_directions)
        original = arr.copy()
        try:
            for d in range(n_directions):
                v = rng.standard_normal(leaf.shape)
                v /= max(float(np.linalg.norm(v)), 1e-300)
                np.add(original, h * v, out=arr, casting="unsafe")
                plus = arr.astype(np.float64)
                fp = checked_value(target, f"at theta + eps*v (direction {d} of {leaf.name})")
                np.subtract(original, h * v, out=arr, casting="unsafe")
                step = plus - arr  # the move the floats represent, 2*eps*v up to rounding
                length = float(np.linalg.norm(step))
                if not (length >= h and float(np.linalg.norm(step - 2 * h * v)) <= h):
                    raise StepTooSmallError(
                        f"eps={h:g} is too small for {leaf.name!r}: rounding in {arr.dtype} "
                        f"changes the move eps*v by more than half (it moves theta by "
                        f"{length / 2:.2g} instead of {h:g}). Use a larger eps (or eps=None "
                        "for the default step)")
                fm = checked_value(target, f"at theta - eps*v (direction {d} of {leaf.name})")
                np.copyto(arr, original)
                d_n[d] = (fp - fm) / length
                d_a[d] = float(np.sum(g * step)) / length
                noise[d] = 10 * loss_eps * max(abs(fp), abs(fm), abs(f0)) / length
        finally:
            np.copyto(arr, original)
        analytic[leaf.name], numerical[leaf.name] = d_a, d_n
        all_a.append(d_a)
        all_n.append(d_n)
        all_noise.append(noise)
    scale = float(np.linalg.norm(np.concatenate(all_a)) + np.linalg.norm(np.concatenate(all_n)))
    for leaf, d_a, d_n, noise in zip(spec.leaves, all_a, all_n, all_noise):
        j = judge(d_a, d_n, noise, CENTRAL_ROUNDOFF, thresholds, scale=scale, limit=limit)
        pattern = pattern_for(j.verdict, read_pattern, d_a, d_n, noise=noise,
                              directional=True)
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, n_directions,
                                                j.relative_error, j.verdict,
                                                float(np.max(np.abs(d_a - d_n))), 0, j.note,
                                                j.decided_by, pattern)
    all_a, all_n = np.concatenate(all_a), np.concatenate(all_n)
    all_noise = np.concatenate(all_noise)
    j = judge(all_a, all_n, all_noise, CENTRAL_ROUNDOFF, thresholds, scale=scale, limit=limit)
    v, note = no_better_than_worst_parameter(j.verdict, j.note, per_parameter)
    n_leaves = len(spec.leaves)
    components = ComponentTable(
        spec.names, [(n_directions,)] * n_leaves,
        np.repeat(np.arange(n_leaves), n_directions), np.tile(np.arange(n_directions), n_leaves),
        all_a, all_n, np.zeros(all_a.size, dtype=bool),
        np.repeat([leaf.offset for leaf in spec.leaves], n_directions))
    return GradientCheckReport(
        kind="directional", method="central", eps=eps, components=components,
        per_parameter=per_parameter, analytic=analytic, numerical=numerical,
        relative_error=j.relative_error, verdict=v, note=note, n_total=len(components),
        thresholds=thresholds)
