"""The component-by-component check: an analytic gradient against finite differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .estimate import Estimate
from .patterns import pattern_for, read_checked_pattern
from .report import ComponentTable, GradientCheckReport, ParameterRow
from .roundoff import find_kinks, noise_bound, roundoff_fraction, truncation_allowance
from .verdicts import DEFAULT_THRESHOLDS, judge, no_better_than_worst_parameter

__all__ = ["gradient_check", "sample_indices", "build_report"]


def sample_indices(n: int, n_samples: int | None, seed: Any) -> np.ndarray | None:
    if n_samples is None:
        return None
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be a whole number or None, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if n_samples >= n:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(n_samples), replace=False))


def gradient_check(f: Callable[[Any], float], grad: Any, theta: Any, eps: float | None = 1e-6,
                   method: str = "central", n_samples: int | None = None, seed: Any = None,
                   thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS, *,
                   vectorized: bool = False, batch_size: int | None = None,
                   sizes: dict | None = None) -> GradientCheckReport:
    """Compare an analytic gradient with finite differences, per parameter and per component.

    Parameters
    ----------
    f : callable
        ``f(theta) -> float``; see :func:`~gradcheck_edu.numerical_gradient`.
    grad : callable or gradient
        ``grad(theta)`` with f's signature, or the gradient itself, in theta's structure.
    theta : float, ndarray or structure of float arrays
        Perturbed in place and restored bit-exactly.
    eps : float or None
        Step (default 1e-6, absolute). ``None`` for the method's default step.
    method : str
        Any method of :func:`~gradcheck_edu.numerical_gradient`; kinks are detected with
        ``"central"`` only.
    n_samples : int, optional
        Check only this many random components (about ``2 * n_samples`` calls of f).
    seed : int or Generator, optional
        For the random sample.
    thresholds : three floats
        Verdict bands, see :func:`classify_relative_error`. A difference within the round-off
        of the finite differences is given the verdict of their resolution (see ``note``).
    vectorized : bool
        ``f`` takes a batch of flat theta vectors ``(k, n)`` and returns ``k`` values; see
        :func:`~gradcheck_edu.numerical_gradient`. ``grad`` still takes theta itself.
    batch_size : int, optional
        Rows per call of a vectorized ``f``.
    sizes : dict of str -> int, optional
        Sizes a constant factor in a mismatch pattern may be named by, e.g.
        ``{"the batch size": 32}``: then "analytic = 1/32 x numerical" says "32 is the batch
        size". ``check_layer`` and ``check_model`` pass the batch size themselves.

    Returns
    -------
    GradientCheckReport
        ``.relative_error``, ``.verdict``, ``.passed``, ``.per_parameter``, ``.worst(k)``,
        ``.kinks``; ``print(report)`` shows the tables.

    Raises
    ------
    ValueError
        The gradient's structure or a shape differs from theta's (the message names the
        parameter and both shapes), and every error of ``numerical_gradient``.
    """
    check_arguments(f, grad, theta)
    a_flat = analytic_flat(grad, theta)
    indices = sample_indices(a_flat.size, n_samples, seed)
    est = Estimate(f, theta, eps, method, indices, vectorized=vectorized, batch_size=batch_size)
    return build_report(est, a_flat, eps, thresholds, sizes)


def build_report(est: Estimate, a_flat: np.ndarray, eps: float | None,
                 thresholds: tuple, sizes: dict | None = None) -> GradientCheckReport:
    """Compare an estimate with the analytic gradient: rows, per-parameter verdicts, kinks, and
    the pattern of each failing parameter's mismatch.

    Each parameter is judged by :func:`~gradcheck_edu.verdicts.judge` against what the finite
    difference can err by: the round-off bound of each component, and, for a parameter that
    would not pass, the truncation error measured where it could explain the mismatch
    (:func:`~gradcheck_edu.roundoff.truncation_allowance`). The overall verdict is never better
    than the worst parameter's. ``sizes`` names the sizes a factor can be named by (see
    :func:`~gradcheck_edu.patterns.read_pattern`).
    """
    indices = est.indices
    a_sel = a_flat if indices is None else a_flat[indices]
    noise = noise_bound(est)
    roundoff = roundoff_fraction(est.method)
    kinks = find_kinks(est, a_sel, noise)
    spec = est.target.spec
    components = ComponentTable(spec.names, spec.shapes, est.leaf, est.flat, a_sel, est.grad,
                                kinks, indices, [leaf.offset for leaf in spec.leaves])
    smooth = ~kinks if kinks.any() else slice(None)  # no copies when there is no kink
    scale = float(np.linalg.norm(a_sel[smooth]) + np.linalg.norm(est.grad[smooth]))
    # components in leaf order (all of theta, or sorted indices): one range per leaf, no copies
    in_order = est.leaf.size < 2 or bool(np.all(est.leaf[1:] >= est.leaf[:-1]))
    ends = np.searchsorted(est.leaf, np.arange(len(spec.leaves) + 1)) if in_order else None
    per_parameter, limit = {}, est.limit
    for k, leaf in enumerate(spec.leaves):
        mine = slice(int(ends[k]), int(ends[k + 1])) if in_order else np.flatnonzero(
            est.leaf == k)
        a, n, kk = a_sel[mine], est.grad[mine], kinks[mine]
        if a.size == 0:
            per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, 0, math.nan, None,
                                                    math.nan)
            continue
        max_abs = float(np.max(np.abs(a - n)))
        n_kinks = int(kk.sum())
        ok = ~kk if n_kinks else slice(None)  # no copies when there is no kink
        j = judge(a[ok], n[ok], noise[mine][ok], roundoff, thresholds, scale=scale,
                  limit=est.limit)
        if not j.verdict.passed and est.method == "central":
            # a near miss may be the finite difference's own truncation error: measure it
            where = np.arange(len(est.grad))[mine]
            extra = truncation_allowance(est, a_sel[where], noise[where], kinks[where],
                                         positions=where)
            if extra.any():
                noise[where] += extra
                limit = (f"{est.limit}, and the truncation error of the central difference "
                         f"(up to {extra.max():.1e})")
                j = judge(a[ok], n[ok], noise[mine][ok], roundoff, thresholds, scale=scale,
                          limit=limit)
        pattern = pattern_for(j.verdict, read_checked_pattern,
                              a_flat[leaf.offset: leaf.offset + leaf.size], est.grad[mine],
                              noise[mine], est.flat[mine], kk, leaf.shape,
                              est.target.arrays[k], sizes)
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, int(kk.size),
                                                j.relative_error, j.verdict, max_abs, n_kinks,
                                                j.note, j.decided_by, pattern)
    j = judge(a_sel[smooth], est.grad[smooth], noise[smooth], roundoff, thresholds,
              scale=scale, limit=limit)
    v, note = no_better_than_worst_parameter(j.verdict, j.note, per_parameter)

    if indices is None:
        numerical_flat = est.grad
    else:
        numerical_flat = np.full(a_flat.size, np.nan)
        numerical_flat[indices] = est.grad
    return GradientCheckReport(
        kind="full" if indices is None else "sampled", method=est.method, eps=eps,
        components=components, per_parameter=per_parameter, analytic=est.as_structure(a_flat),
        numerical=est.as_structure(numerical_flat), relative_error=j.relative_error, verdict=v,
        note=note, n_total=a_flat.size, thresholds=thresholds)
