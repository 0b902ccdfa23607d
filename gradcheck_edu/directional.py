"""The directional check: the gradient along random directions, at a cost independent of n."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .check import Evidence, judge_parameter
from .patterns import pattern_for, read_pattern
from .report import ComponentTable, GradientCheckReport, ParameterRow
from .roundoff import CENTRAL_ROUNDOFF
from .stencils import (
    AUTO,
    StepTooSmallError,
    check_eps,
    default_step,
    loss_resolution,
    lowest_precision,
    resolve_eps,
)
from .target import Target
from .verdicts import DEFAULT_THRESHOLDS, Limit, no_better_than_worst_parameter, norm

__all__ = ["directional_check", "DirectionalEvidence"]


def directional_check(f: Callable[[Any], float], grad: Any, theta: Any,
                      n_directions: int = 3, eps: float | str | None = AUTO,
                      seed: Any = None,
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
    eps : float, None or "auto"
        The step along ``v``; ``"auto"`` (default) is 1e-6 for float64 parameters and the
        default step of their precision otherwise; ``None`` for the central difference's default
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
    check_arguments(f, grad, theta, "directional_check")
    target = Target(f, theta)
    spec = target.spec
    eps = resolve_eps(eps, spec.dtypes)
    eps = None if eps is None else check_eps(eps)
    a_flat = analytic_flat(grad, theta, "directional_check", spec=spec)
    rng = np.random.default_rng(seed)
    f0 = target.base_value()
    loss_eps = loss_resolution(target.arrays)
    directions = []  # per parameter: (its gradient, unit directions, step)
    d_a, d_n, noise = [], [], []
    for leaf, arr in zip(spec.leaves, target.arrays):
        g = a_flat[leaf.offset: leaf.offset + leaf.size].reshape(leaf.shape)
        h = eps if eps is not None else float(default_step(
            np.max(np.abs(arr), initial=0.0), "central", arr.dtype))
        vs = rng.standard_normal((n_directions, *leaf.shape))
        lengths = np.sqrt(np.sum(vs.reshape(n_directions, -1) ** 2, axis=1))
        vs /= np.maximum(lengths, 1e-300).reshape(-1, *[1] * len(leaf.shape))
        a, n, r = _along(target, len(directions), g, vs, h, f0, loss_eps)
        d_a.append(a)
        d_n.append(n)
        noise.append(r)
        directions.append((g, vs, h))
    target.check_f_sees_theta()
    all_a = np.concatenate(d_a)
    evidence = DirectionalEvidence(target, directions, np.concatenate(d_n),
                                   np.concatenate(noise), f0, loss_eps)
    scale = float(norm(all_a) + norm(evidence.numerical))
    per_parameter, analytic, numerical = {}, {}, {}
    for k, leaf in enumerate(spec.leaves):
        mine = np.arange(k * n_directions, (k + 1) * n_directions)
        j = judge_parameter(evidence, all_a, mine, thresholds, scale)
        a, n = all_a[mine], evidence.numerical[mine]
        pattern = pattern_for(j.verdict, read_pattern, a, n, noise=evidence.bound()[mine],
                              directional=True)
        analytic[leaf.name], numerical[leaf.name] = a, n
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, n_directions,
                                                j.relative_error, j.verdict,
                                                float(np.max(np.abs(a - n))), 0, j.note,
                                                j.decided_by, pattern)
    j = evidence.judge(all_a, np.arange(all_a.size), thresholds, scale)
    v, note = no_better_than_worst_parameter(j.verdict, j.note, per_parameter)
    n_leaves = len(spec.leaves)
    components = ComponentTable(
        spec.names, [(n_directions,)] * n_leaves,
        np.repeat(np.arange(n_leaves), n_directions), np.tile(np.arange(n_directions), n_leaves),
        all_a, evidence.numerical, np.zeros(all_a.size, dtype=bool),
        np.repeat([leaf.offset for leaf in spec.leaves], n_directions))
    return GradientCheckReport(
        kind="directional", method="central", eps=eps, components=components,
        per_parameter=per_parameter, analytic=analytic, numerical=numerical,
        relative_error=j.relative_error, verdict=v, note=note, n_total=len(components),
        thresholds=thresholds, path=f"directional: f at theta +- eps*v along {n_directions} "
        "random unit direction(s) per parameter")


class DirectionalEvidence(Evidence):
    """The central differences along each parameter's random directions (one entry per
    direction, parameter after parameter), and their truncation error when the judge asks:
    the same directions again at half the step."""

    can_measure_truncation = True

    def __init__(self, target: Target, directions: list, numerical: np.ndarray,
                 noise: np.ndarray, f0: float, loss_eps: float):
        low = lowest_precision(target.arrays)
        super().__init__(numerical, noise, roundoff=CENTRAL_ROUNDOFF, dtype_name=low.name,
                         limits=Limit.of_resolution(loss_eps))
        self.target, self.directions, self.f0, self.loss_eps = target, directions, f0, loss_eps

    def measure_truncation(self, analytic: np.ndarray, mine: np.ndarray) -> None:
        """The truncation error of the central differences ``mine`` (all directions of one
        parameter): ``4/3 |D(h) - D(h/2)|`` above the round-off of both, doubled, as
        :func:`~gradcheck_edu.roundoff.truncation_allowance` measures it per component."""
        n_dir = len(self.directions[0][1])
        k = int(mine[0]) // n_dir
        g, vs, h = self.directions[k]
        _, d_half, _ = _along(self.target, k, g, vs[mine - k * n_dir], h / 2, self.f0,
                              self.loss_eps)
        excess = np.abs(self.numerical[mine] - d_half) - 3 * self.noise[mine]
        self.extra[mine] += 2 * (4 / 3) * np.maximum(excess, 0.0)


def _along(target: Target, k: int, g: np.ndarray, vs: np.ndarray, h: float, f0: float,
           loss_eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic and central-difference directional derivatives of parameter ``k`` along each
    unit direction in ``vs`` with step h, and the round-off bound of each (the target restores
    the parameter after every call)."""
    name = target.spec.leaves[k].name
    n = len(vs)
    d_a, d_n, noise = np.empty(n), np.empty(n), np.empty(n)
    moves = [None] * len(target.arrays)
    for d, v in enumerate(vs):
        moves[k] = h * v
        fp, plus = target.value_along(moves, f"at theta + eps*v (direction {d} of {name})")
        moves[k] = -h * v
        fm, minus = target.value_along(moves, f"at theta - eps*v (direction {d} of {name})")
        step = plus[k] - minus[k]  # the move the floats represent, 2*eps*v up to rounding
        length = float(np.linalg.norm(step))
        if not (length >= h and float(np.linalg.norm(step - 2 * h * v)) <= h):
            raise StepTooSmallError(
                f"eps={h:g} is too small for {name!r}: rounding in {target.arrays[k].dtype} "
                f"changes the move eps*v by more than half (it moves theta by {length / 2:.2g} "
                f"instead of {h:g}). Use a larger eps (or eps=None for the default step)")
        d_n[d] = (fp - fm) / length
        d_a[d] = float(np.sum(g * step)) / length
        noise[d] = 10 * loss_eps * max(abs(fp), abs(fm), abs(f0)) / length
    return d_a, d_n, noise
