"""The directional check: the gradient along random directions, at a cost independent of n."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import analytic_flat
from .evaluate import base_value, checked_value
from .report import ComponentTable, GradientCheckReport, ParameterRow
from .roundoff import CENTRAL_ROUNDOFF
from .steps import EPS, check_eps
from .target import Target
from .verdicts import DEFAULT_THRESHOLDS, judge, no_better_than_worst_parameter

__all__ = ["directional_check"]


def directional_check(f: Callable[[Any], float], grad: Any, theta: Any,
                      n_directions: int = 3, eps: float = 1e-6, seed: Any = None,
                      thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                      ) -> GradientCheckReport:
    """Check the gradient along random directions: cost independent of the number of weights.

    For each parameter and each of ``n_directions`` random unit directions ``v`` supported on
    that parameter, compare the central difference ``(f(theta + eps v) - f(theta - eps v)) /
    (2 eps)`` with the analytic ``grad . v``: two calls of ``f`` per direction, whatever the size
    of the parameter. A wrong gradient is caught along almost every random direction; a single
    wrong component of a large parameter may hide, so finish with a sampled ``gradient_check``.

    Returns
    -------
    GradientCheckReport
        Rows are directions (``index`` is the direction number); ``analytic`` and ``numerical``
        are dicts ``name -> array (n_directions,)`` of directional derivatives.
    """
    if isinstance(n_directions, bool) or not isinstance(n_directions, (int, np.integer)) \
            or n_directions < 1:
        raise ValueError(f"n_directions must be a whole number >= 1, got {n_directions!r}")
    eps = check_eps(eps)
    a_flat = analytic_flat(grad, theta)
    rng = np.random.default_rng(seed)
    target = Target(f, theta)
    f0 = base_value(target)
    spec = target.spec
    per_parameter, analytic, numerical = {}, {}, {}
    all_a, all_n, all_noise = [], [], []
    for leaf, arr in zip(spec.leaves, target.arrays):
        g = a_flat[leaf.offset: leaf.offset + leaf.size].reshape(leaf.shape)
        d_a, d_n, noise = np.empty(n_directions), np.empty(n_directions), np.empty(n_directions)
        original = arr.copy()
        try:
            for d in range(n_directions):
                v = rng.standard_normal(leaf.shape)
                v /= max(float(np.linalg.norm(v)), 1e-300)
                np.add(original, eps * v, out=arr, casting="unsafe")
                plus = arr.astype(np.float64)
                fp = checked_value(target, f"at theta + eps*v (direction {d} of {leaf.name})")
                np.subtract(original, eps * v, out=arr, casting="unsafe")
                step = plus - arr  # the perturbation the floats represent, 2*eps*v up to rounding
                fm = checked_value(target, f"at theta - eps*v (direction {d} of {leaf.name})")
                np.copyto(arr, original)
                d_n[d] = (fp - fm) / (2 * eps)
                d_a[d] = float(np.sum(g * step)) / (2 * eps)
                noise[d] = 10 * EPS * max(abs(fp), abs(fm), abs(f0)) / eps
        finally:
            np.copyto(arr, original)
        r, v, note = judge(d_a, d_n, noise, CENTRAL_ROUNDOFF, thresholds)
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, n_directions, r, v,
                                                float(np.max(np.abs(d_a - d_n))), 0, note)
        analytic[leaf.name], numerical[leaf.name] = d_a, d_n
        all_a.append(d_a)
        all_n.append(d_n)
        all_noise.append(noise)
    all_a, all_n = np.concatenate(all_a), np.concatenate(all_n)
    all_noise = np.concatenate(all_noise)
    r, v, note = judge(all_a, all_n, all_noise, CENTRAL_ROUNDOFF, thresholds)
    v, note = no_better_than_worst_parameter(v, note, per_parameter)
    n_leaves = len(spec.leaves)
    components = ComponentTable(
        spec.names, [(n_directions,)] * n_leaves,
        np.repeat(np.arange(n_leaves), n_directions), np.tile(np.arange(n_directions), n_leaves),
        all_a, all_n, np.zeros(all_a.size, dtype=bool),
        np.repeat([leaf.offset for leaf in spec.leaves], n_directions))
    return GradientCheckReport(
        kind="directional", method="central", eps=eps, components=components,
        per_parameter=per_parameter, analytic=analytic, numerical=numerical, relative_error=r,
        verdict=v, note=note, n_total=len(components), thresholds=thresholds)

