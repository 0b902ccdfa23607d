"""The gradient check, and the one judge every check uses.

:func:`gradient_check` compares an analytic gradient with finite differences, component by
component. What the finite differences measured, and what they can err by, is
:class:`Evidence`; :func:`judge_parameter` turns it into a parameter's verdict. It is the one
place the rules of a check are applied, for :func:`gradient_check`, ``check_layer``, both paths
of ``check_model``, ``directional_check`` and ``taylor_test`` alike (each measures its own
evidence); :func:`build_report` writes the report of an estimate.

>>> import numpy as np
>>> f = lambda w: np.sum(np.tanh(w) ** 2)
>>> grad = lambda w: 2 * np.tanh(w) * (1 - np.tanh(w) ** 2)
>>> report = gradient_check(f, grad, np.array([0.3, -1.2, 2.0]))
>>> report.verdict.name, report.passed
('EXCELLENT', True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .adaptive import adaptive_components
from .arguments import analytic_flat, check_arguments
from .finite_diff import Estimate, make_target
from .patterns import pattern_for, read_checked_pattern
from .report import ComponentTable, GradientCheckReport, ParameterRow
from .roundoff import (
    MAX_TRUNCATION_CHECKS,
    Kinks,
    classify_kinks,
    noise_bound,
    roundoff_fraction,
    step_sensitive,
    truncation_allowance,
)
from .stencils import AUTO, resolve_eps
from .target import NonFiniteError
from .verdicts import (
    DEFAULT_THRESHOLDS,
    Judgement,
    Limit,
    Verdict,
    judge,
    no_better_than_worst_parameter,
    norm,
)

__all__ = ["gradient_check", "sample_indices", "build_report", "judge_parameter", "Evidence",
           "EstimateEvidence"]


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


def gradient_check(f: Callable[[Any], float], grad: Any, theta: Any,
                   eps: float | str | None = AUTO,
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
    eps : float, None or "auto"
        The step (absolute). ``"auto"`` (default): 1e-6 for float64 parameters, and for lower
        precisions their own default step (4.9e-3 in float32). ``None``: the method's default
        step (:func:`~gradcheck_edu.default_step`), and, where it cannot resolve a component
        (its truncation error measured too large), the adaptive step of
        :func:`~gradcheck_edu.adaptive_gradient` there, judged against its error bound.
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
    target = make_target(f, theta, method, vectorized, batch_size)  # theta checked here
    a_flat = analytic_flat(grad, theta, spec=target.spec)
    eps = resolve_eps(eps, target.spec.dtypes)
    indices = sample_indices(a_flat.size, n_samples, seed)
    retry = eps is None and method == "central" and not vectorized
    try:
        with np.errstate(**({"all": "ignore"} if retry else {})):  # (its warnings, if retried)
            est = Estimate(target, eps, method, indices)
    except NonFiniteError:
        if eps is not None or method != "central" or vectorized:
            raise
        # the default step leaves f's domain (log at 2e-6: a step of 6e-6): steps within half
        # of |x|, and the adaptive step where those do not resolve the gradient
        est = Estimate(target, eps, method, indices, within=0.5)
    return build_report(est, a_flat, eps, thresholds, sizes,
                        path="generic: f evaluated at each perturbed point")


def build_report(est: Estimate, a_flat: np.ndarray, eps: float | None,
                 thresholds: tuple, sizes: dict | None = None,
                 path: str = "generic") -> GradientCheckReport:
    """Compare an estimate with the analytic gradient: rows, per-parameter verdicts, kinks, and
    the pattern of each failing parameter's mismatch.

    Each parameter is judged by :func:`judge_parameter`; the overall verdict is never better
    than the worst parameter's. ``sizes`` names the sizes a factor can be named by (see
    :func:`~gradcheck_edu.patterns.read_pattern`); ``path`` says which path computed the
    estimate and why (it is printed with the report).
    """
    indices = est.indices
    a_sel = a_flat if indices is None else a_flat[indices]
    evidence = EstimateEvidence(est, a_sel)
    evidence.default_step = eps is None
    spec = est.target.spec
    components = ComponentTable(spec.names, spec.shapes, est.leaf, est.flat, a_sel, est.grad,
                                evidence.kinks.found, indices,
                                [leaf.offset for leaf in spec.leaves])
    measured = ~evidence.kinks.subgradient
    scale = float(norm(a_sel[measured]) + norm(evidence.numerical[measured]))
    # components in leaf order (all of theta, or sorted indices): one range per leaf
    in_order = est.leaf.size < 2 or bool(np.all(est.leaf[1:] >= est.leaf[:-1]))
    ends = np.searchsorted(est.leaf, np.arange(len(spec.leaves) + 1)) if in_order else None
    per_parameter = {}
    for k, leaf in enumerate(spec.leaves):
        mine = np.arange(int(ends[k]), int(ends[k + 1])) if in_order else np.flatnonzero(
            est.leaf == k)
        if mine.size == 0:
            per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, 0, math.nan, None,
                                                    math.nan)
            continue
        j = judge_parameter(evidence, a_sel, mine, thresholds, scale, adaptive=eps is None)
        kk = evidence.kinks.subgradient[mine]
        bound = evidence.bound()[mine]
        pattern = pattern_for(j.verdict, read_checked_pattern,
                              a_flat[leaf.offset: leaf.offset + leaf.size],
                              evidence.numerical[mine], bound, est.flat[mine],
                              kk, leaf.shape, est.target.arrays[k], sizes)
        per_parameter[leaf.name] = ParameterRow(
            leaf.name, leaf.shape, int(mine.size), j.relative_error, j.verdict,
            float(np.max(np.abs(a_sel[mine] - np.where(evidence.adaptive[mine],
                                                       evidence.numerical[mine],
                                                       est.grad[mine])))),
            int(evidence.kinks.found[mine].sum()), j.note, j.decided_by, pattern,
            n_subgradients=int(kk.sum()))
    if evidence.n_adaptive:  # the table shows the adaptive step's estimates where it ran
        components.numerical[evidence.adaptive] = evidence.numerical[evidence.adaptive]
    j = evidence.judge(a_sel, np.flatnonzero(measured), thresholds, scale,
                       int((~measured).sum()))
    v, note = no_better_than_worst_parameter(j.verdict, j.note, per_parameter)
    if evidence.n_adaptive:
        path += (f"; adaptive step (Ridders' extrapolation) for {evidence.n_adaptive} "
                 "component(s) the fixed step could not resolve")
    return GradientCheckReport(
        kind="full" if indices is None else "sampled", method=est.method, eps=eps,
        components=components, per_parameter=per_parameter, analytic=est.target.structure(a_flat),
        numerical=est.target.structure(_shown(est, evidence, a_flat.size)),
        relative_error=j.relative_error, verdict=v, note=note, n_total=a_flat.size,
        thresholds=thresholds, path=path)


def _shown(est: Estimate, evidence: EstimateEvidence, size: int) -> np.ndarray:
    """The numerical gradient a report shows: the estimate (refined by the adaptive step where
    it ran), NaN where a sampled check did not look."""
    shown = np.where(evidence.adaptive, evidence.numerical, est.grad)
    if est.indices is None:
        return shown
    full = np.full(size, np.nan)
    full[est.indices] = shown
    return full


class Evidence:
    """What finite differences measured, per component (or per direction), and what they can
    err by: the input of :func:`judge_parameter`, whichever check measured it.

    ``numerical`` is the value judged (the central difference, the valid value nearest the
    analytic one at a kink, an adaptive or extrapolated estimate); ``noise`` the round-off bound
    of each; ``extra`` the rest of the error bound where it was measured (a kink's slopes,
    truncation, an adaptive step's bound); ``kinks`` what :func:`~gradcheck_edu.roundoff.
    classify_kinks` found (none by default); ``sensitive`` the components whose estimate may
    change with the step (their truncation error is measured whatever their mismatch);
    ``limits`` what limits the estimate (a set of :class:`~gradcheck_edu.verdicts.Limit`).

    A check that can measure more when the judge asks overrides :meth:`measure_truncation`
    (and :meth:`refine_adaptively`); this base class has nothing more to measure.
    """

    def __init__(self, numerical: np.ndarray, noise: np.ndarray, *, roundoff: float,
                 limits: frozenset, dtype_name: str = "float64", kinks: Kinks | None = None,
                 sensitive: np.ndarray | None = None, extra: np.ndarray | None = None):
        n = numerical.size
        none = np.zeros(n, dtype=bool)
        self.kinks = kinks if kinks is not None else Kinks(none, none, numerical, np.zeros(n))
        self.numerical = self.kinks.nearest.copy()
        self.noise = noise
        self.extra = self.kinks.tol.copy() if extra is None else extra + self.kinks.tol
        self.sensitive = none if sensitive is None else sensitive & ~self.kinks.found
        self.adaptive = none.copy()
        self.roundoff, self.limits, self.dtype_name = roundoff, limits, dtype_name
        self.n_adaptive = 0
        self.default_step = False  # set when the estimate used eps=None

    can_measure_truncation = False
    offers_adaptive_step = False  # eps=None means the adaptive step (gradient_check's)

    def bound(self) -> np.ndarray:
        return self.noise + self.extra

    def judge(self, analytic: np.ndarray, where: np.ndarray, thresholds: tuple, scale: float,
              n_subgradients: int = 0) -> Judgement:
        limits = self.limits | ({Limit.TRUNCATION} if np.any(self.extra[where] > 0) and not
                                self.adaptive[where].all() else set())
        limits |= {Limit.ADAPTIVE} if self.adaptive[where].any() else set()
        return judge(analytic[where], self.numerical[where], self.noise[where], self.roundoff,
                     thresholds, scale=scale, limits=frozenset(limits),
                     dtype=self.dtype_name, extra=self.extra[where],
                     n_subgradients=n_subgradients, default_step=self.default_step,
                     adaptive_step=self.offers_adaptive_step)

    def measure_truncation(self, analytic: np.ndarray, mine: np.ndarray) -> None:
        """Add the truncation error of the estimates ``mine`` to ``extra`` (nothing here)."""

    def refine_adaptively(self, mine: np.ndarray) -> None:
        """Replace the estimates ``mine`` that truncation limits by better ones (nothing here)."""


class EstimateEvidence(Evidence):
    """The evidence of an :class:`~gradcheck_edu.finite_diff.Estimate`: its kinks classified, and
    more calls of f where the judge asks for the truncation error or an adaptive step."""

    offers_adaptive_step = True

    def __init__(self, est: Estimate, analytic: np.ndarray):
        noise = noise_bound(est)
        super().__init__(est.grad, noise, roundoff=roundoff_fraction(est.method),
                         limits=est.limits, dtype_name=est.dtype_name,
                         kinks=classify_kinks(est, analytic, noise),
                         sensitive=step_sensitive(est, noise))
        self.est = est
        self.can_measure_truncation = est.method == "central"

    def measure_truncation(self, analytic: np.ndarray, mine: np.ndarray) -> None:
        """Add the truncation error of the central difference where it may matter."""
        extra = truncation_allowance(self.est, analytic[mine], self.noise[mine],
                                     self.kinks.found[mine], positions=mine,
                                     also=self.sensitive[mine])
        self.extra[mine] += extra

    def refine_adaptively(self, mine: np.ndarray) -> None:
        """Replace the estimate where truncation limits it by the adaptive step's."""
        pos = mine[(self.extra[mine] > 0) & ~self.kinks.found[mine] & ~self.adaptive[mine]]
        pos = pos[:MAX_TRUNCATION_CHECKS]
        if pos.size == 0:
            return
        est = self.est
        grad, err, _, _ = adaptive_components(est.target, est.leaf[pos], est.flat[pos], est.f0)
        self.numerical[pos], self.extra[pos], self.noise[pos] = grad, err, 0.0
        self.adaptive[pos] = True
        self.n_adaptive += int(pos.size)


def judge_parameter(evidence: Evidence, analytic: np.ndarray, mine: np.ndarray,
                    thresholds: tuple, scale: float, adaptive: bool = False) -> Judgement:
    """The verdict of one parameter (components ``mine`` of the estimate): the one place the
    rules of a check are applied.

    1. Components at a kink whose analytic value lies between the one-sided slopes are valid
       subgradients: left out (not measured); one outside them is judged against the nearest
       valid value. Nothing measured: CANNOT_TELL, saying why.
    2. The rest are judged by :func:`~gradcheck_edu.verdicts.judge` against the round-off bound.
    3. A parameter that does not pass, or whose estimate may change with the step
       (:func:`~gradcheck_edu.roundoff.step_sensitive`), has its truncation error measured
       (central differences) and is judged again: within it, CANNOT_TELL, never an accusation;
       far above it, never a pass.
    4. With ``adaptive`` (``eps=None``), components that truncation leaves unresolved are
       estimated again by :func:`~gradcheck_edu.adaptive.adaptive_gradient`'s extrapolation,
       and judged against its error bound.
    """
    measured = mine[~evidence.kinks.subgradient[mine]]
    n_sub = int(mine.size - measured.size)
    j = evidence.judge(analytic, measured, thresholds, scale, n_sub)
    if measured.size == 0 or not evidence.can_measure_truncation:
        return j
    if not j.verdict.passed or evidence.sensitive[measured].any():
        evidence.measure_truncation(analytic, measured)
        j = evidence.judge(analytic, measured, thresholds, scale, n_sub)
    if adaptive and j.verdict is Verdict.CANNOT_TELL and evidence.extra[measured].any():
        evidence.refine_adaptively(measured)
        j = evidence.judge(analytic, measured, thresholds, scale, n_sub)
    if n_sub:
        j = j._replace(note=(f"{j.note}; " if j.note else "") + (
            f"{n_sub} at a kink with a valid subgradient (not measured)"))
    return j
