"""Gradient checking: compare an analytic gradient with finite differences and give a verdict.

>>> import numpy as np
>>> f = lambda w: np.sum(np.tanh(w) ** 2)
>>> grad = lambda w: 2 * np.tanh(w) * (1 - np.tanh(w) ** 2)
>>> report = gradient_check(f, grad, np.array([0.3, -1.2, 2.0]))
>>> report.verdict.name, report.passed
('EXCELLENT', True)
>>> print(f"{relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.1])):.4f}")
0.0219
"""

from __future__ import annotations

import enum
import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .finite_diff import (
    _STENCILS,
    EPS,
    StepTooSmallError,
    _base_value,
    _check_eps,
    _Estimate,
    _perturbed_values,
    _real_scalar,
    _steps,
    _Target,
)
from .theta import flatten, spec_of

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

DEFAULT_THRESHOLDS = (1e-7, 1e-5, 1e-3)


# --------------------------------------------------------------------------- relative error


def relative_error(a: Any, b: Any) -> float:
    """``||a - b||_2 / (||a||_2 + ||b||_2)``, over numbers, arrays or structures of arrays.

    Scale-free, symmetric, between 0 and 1; 0.0 when both are zero. NaN anywhere gives NaN.

    >>> import numpy as np
    >>> relative_error(np.zeros(3), np.zeros(3))
    0.0
    >>> print(f"{relative_error({'W': np.ones(2)}, {'W': -np.ones(2)}):.1f}")
    1.0
    """
    a_flat, a_spec = flatten(a)
    b_flat, b_spec = flatten(b)
    a_spec.check_same(b_spec, what="second argument")
    return _rel(a_flat, b_flat)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    den = float(np.linalg.norm(a) + np.linalg.norm(b))
    num = float(np.linalg.norm(a - b))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.nan
    return num / den


# --------------------------------------------------------------------------- verdicts


class Verdict(enum.IntEnum):
    """How far to trust an analytic gradient, ordered from best to worst.

    >>> Verdict.EXCELLENT < Verdict.WRONG
    True
    >>> print(Verdict.SUSPICIOUS.explanation)
    1e-5 to 1e-3, some components are probably wrong, unless f has kinks
    """

    EXCELLENT = 0
    ACCEPTABLE = 1
    SUSPICIOUS = 2
    WRONG = 3

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]

    @property
    def passed(self) -> bool:
        """True for EXCELLENT and ACCEPTABLE."""
        return self <= Verdict.ACCEPTABLE


_EXPLANATIONS = {
    Verdict.EXCELLENT: "below 1e-7, the analytic gradient is almost certainly right",
    Verdict.ACCEPTABLE: "1e-7 to 1e-5, probably right, but look at the worst components",
    Verdict.SUSPICIOUS: "1e-5 to 1e-3, some components are probably wrong, unless f has kinks",
    Verdict.WRONG: "above 1e-3, the analytic gradient has a bug; the worst components point to it",
}


def classify_relative_error(r: float, thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                            ) -> Verdict:
    """The verdict for relative error ``r``.

    Below ``thresholds[0]`` (1e-7) EXCELLENT, up to ``thresholds[1]`` (1e-5) ACCEPTABLE, up to
    ``thresholds[2]`` (1e-3) SUSPICIOUS, above that, or NaN, WRONG.

    >>> [classify_relative_error(r).name for r in (1e-9, 1e-6, 1e-4, 1e-2, float("nan"))]
    ['EXCELLENT', 'ACCEPTABLE', 'SUSPICIOUS', 'WRONG', 'WRONG']
    """
    t = tuple(float(v) for v in thresholds)
    if len(t) != 3 or not (0 < t[0] <= t[1] <= t[2]):
        raise ValueError(f"thresholds must be three increasing positive numbers, got {thresholds}")
    r = float(r)
    if not r >= 0:  # NaN, or a negative number that no relative error can be
        return Verdict.WRONG
    if r < t[0]:
        return Verdict.EXCELLENT
    if r <= t[1]:
        return Verdict.ACCEPTABLE
    if r <= t[2]:
        return Verdict.SUSPICIOUS
    return Verdict.WRONG


def _verdict(analytic: np.ndarray, numerical: np.ndarray, noise: np.ndarray,
             roundoff: float, thresholds: tuple) -> tuple[float, Verdict, str]:
    """Relative error and verdict, allowing for the round-off of the finite differences.

    ``noise`` (:func:`_noise`) bounds the round-off of each estimate by ten roundings of the loss
    values, ``10 EPS max|f| / |h|``; ``roundoff * noise`` (:func:`_roundoff`) is its typical
    size (rms), about 0.3 EPS max|f| / |h| for a central difference. Then:

    * within one rounding (``||a - n|| <= ||noise|| / 10``) the difference says nothing about the
      analytic gradient; the verdict is that of the *resolution*, ``roundoff ||noise|| / (||a||
      + ||n||)``, the relative error that round-off alone typically gives, and no worse than
      ACCEPTABLE. It depends on the steps and the loss values only, so two paths that compute
      the same central differences with different round-off (the generic path and the
      structure-aware one) give the same verdict;
    * within the bound (``<= ||noise||``) a verdict worse than ACCEPTABLE is noise: ACCEPTABLE;
    * otherwise the verdict of the relative error.
    """
    r = _rel(analytic, numerical)
    verdict = classify_relative_error(r, thresholds)
    den = float(np.linalg.norm(analytic) + np.linalg.norm(numerical))
    if not np.isfinite(r) or den == 0.0:
        return r, verdict, ""
    diff = float(np.linalg.norm(analytic - numerical))
    bound = float(np.linalg.norm(noise))
    floor = "gradient is at the round-off floor: the relative error is noise"
    if diff <= 0.1 * bound:
        resolution = roundoff * bound / den
        resolved = min(classify_relative_error(resolution, thresholds), Verdict.ACCEPTABLE)
        if resolved == verdict:
            return r, verdict, ""
        if resolution > thresholds[1]:
            return r, resolved, floor
        return r, resolved, (f"the difference is round-off: finite differences with this step "
                             f"carry a relative error of about {resolution:.1e} here")
    if verdict > Verdict.ACCEPTABLE and diff <= bound:
        return r, Verdict.ACCEPTABLE, floor
    return r, verdict, ""


def _no_better_than_worst_parameter(verdict: Verdict, note: str,
                                    per_parameter: dict) -> tuple[Verdict, str]:
    """The overall verdict, lowered to the worst parameter's.

    One relative error over all of theta is dominated by the parameters with the largest
    gradients: a parameter with small gradients can be entirely wrong (say ``dx = 0``) while
    the overall number stays below 1e-5. Its own verdict is the one that counts.
    """
    checked = [p for p in per_parameter.values() if p.verdict is not None]
    if not checked:
        return verdict, note
    worst = max(checked, key=lambda p: p.verdict)
    if worst.verdict <= verdict:
        return verdict, note
    # its own note when its verdict is that of the round-off (small gradients), not of errors
    why = worst.note or ("the larger gradients of other parameters swamp its errors in the "
                         "overall relative error")
    hidden = f"{worst.name!r} is {worst.verdict.name}: {why}"
    return worst.verdict, f"{note}; {hidden}" if note else hidden


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ComponentRow:
    """One checked component: which parameter, where, and both values."""

    name: str
    index: tuple[int, ...]
    flat_index: int
    analytic: float
    numerical: float
    abs_error: float
    kink: bool = False


@dataclass(frozen=True)
class ParameterRow:
    """The check of one parameter (for a directional check: its random directions)."""

    name: str
    shape: tuple[int, ...]
    n_checked: int
    relative_error: float
    verdict: Verdict | None
    max_abs_error: float
    n_kinks: int = 0
    note: str = ""


class _Components:
    """Per-component results as arrays; :class:`ComponentRow` objects are built on demand.

    A full check of a model with a million weights keeps a few arrays of a million numbers,
    not a million row objects.
    """

    def __init__(self, names, shapes, leaf, flat, analytic, numerical, kink, flat_index=None,
                 offsets=None):
        self.names, self.shapes = list(names), list(shapes)
        self.leaf = np.asarray(leaf, dtype=np.int64)
        self.flat = np.asarray(flat, dtype=np.int64)
        self.analytic = np.asarray(analytic, dtype=np.float64)
        self.numerical = np.asarray(numerical, dtype=np.float64)
        self.kink = np.asarray(kink, dtype=bool)
        # position in theta: given (a sampled check, directions), or offset of the leaf + flat
        self._flat_index = None if flat_index is None else np.asarray(flat_index, np.int64)
        self._offsets = None if offsets is None else np.asarray(offsets, np.int64)

    def flat_index(self, pos: np.ndarray) -> np.ndarray:
        if self._flat_index is not None:
            return self._flat_index[pos]
        return self._offsets[self.leaf[pos]] + self.flat[pos]

    def __len__(self) -> int:
        return int(self.leaf.size)

    def abs_error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numerical)

    def rows(self, positions: Any = None) -> list[ComponentRow]:
        """The rows at ``positions`` (all of them by default), in that order."""
        pos = np.arange(len(self)) if positions is None else np.asarray(positions, np.int64)
        index: list = [()] * pos.size
        leaf = self.leaf[pos]
        for k in np.unique(leaf):
            shape = self.shapes[int(k)]
            mine = np.flatnonzero(leaf == k)
            if shape:
                parts = np.unravel_index(self.flat[pos[mine]], shape)
                for j, idx in zip(mine.tolist(), zip(*(p.tolist() for p in parts))):
                    index[j] = idx
        a, n = self.analytic[pos], self.numerical[pos]
        return [ComponentRow(self.names[k], idx, fi, av, nv, abs(av - nv), kk)
                for k, idx, fi, av, nv, kk in zip(leaf.tolist(), index,
                                                   self.flat_index(pos).tolist(), a.tolist(),
                                                   n.tolist(), self.kink[pos].tolist())]


class GradientCheckReport:
    """What a gradient check found.

    Attributes
    ----------
    relative_error : float
        Over all checked components, kinks excluded.
    verdict : Verdict
        The verdict of ``relative_error``, or the worst parameter's verdict when that is worse
        (a parameter with small gradients can be wrong while the overall number looks fine).
    passed : bool
        EXCELLENT or ACCEPTABLE.
    analytic, numerical : same structure as theta
        The two gradients compared (``numerical`` is NaN where a sampled check did not look).
        For a directional check, dicts ``name -> array (n_directions,)`` of directional
        derivatives.
    per_parameter : dict of name -> ParameterRow
    kinks : list of ComponentRow
        Components where f is not smooth within +-eps (a ReLU crossing, say): their mismatch is
        explained, so they are excluded from the verdict.
    """

    def __init__(self, *, kind, method, eps, components, per_parameter, analytic, numerical,
                 relative_error, verdict, note, n_total, thresholds):
        self.kind = kind
        self.method = method
        self.eps = eps
        self._components = components
        self.per_parameter = per_parameter
        self.analytic = analytic
        self.numerical = numerical
        self.relative_error = relative_error
        self.verdict = verdict
        self.note = note
        self.n_total = n_total
        self.thresholds = thresholds
        self.kinks = components.rows(np.flatnonzero(components.kink))

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def n_checked(self) -> int:
        return len(self._components)

    @property
    def rows(self) -> list[ComponentRow]:
        """Every checked component, in theta order (built on each access: a full check of a
        large model has as many rows as weights)."""
        return self._components.rows()

    def worst(self, k: int = 5) -> list[ComponentRow]:
        """The ``k`` checked components with the largest ``|analytic - numerical|`` (NaN first,
        ties in theta order)."""
        k = max(0, int(k))
        err = self._components.abs_error()
        key = np.where(np.isnan(err), np.inf, err)
        order = np.argsort(-key, kind="stable")[:k]
        return self._components.rows(order)

    # -- text
    def _header(self) -> str:
        what = {"full": "every component", "sampled": "a random sample of components",
                "directional": "random directions per parameter"}[self.kind]
        eps = "default step" if self.eps is None else f"eps={self.eps:g}"
        lines = [
            f"Gradient check ({self.method} differences, {eps}), {what}: "
            f"{self.n_checked} checked of {self.n_total}",
            f"relative error {self.relative_error:.2e}{self._hidden_by()} -> "
            f"{self.verdict.name}: {self.verdict.explanation}",
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        if self.kinks:
            lines.append(f"{len(self.kinks)} kink(s): f is not smooth within +-eps there "
                         "(e.g. a ReLU crossing 0); excluded from the verdict")
        return "\n".join(lines)

    def _hidden_by(self) -> str:
        """', but 'x' alone has ...' when a parameter's verdict is worse than the overall one."""
        worst = [p for p in self.per_parameter.values()
                 if p.verdict is not None and p.verdict == self.verdict]
        if not worst or classify_relative_error(self.relative_error, self.thresholds) \
                >= self.verdict or self.verdict.passed:
            return ""
        return f" overall, but {worst[0].name!r} alone has {worst[0].relative_error:.2e}"

    def _param_table(self) -> list[list[str]]:
        rows = [["parameter", "shape", "checked", "rel. error", "verdict"]]
        for p in self.per_parameter.values():
            verdict = "not sampled" if p.verdict is None else p.verdict.name
            if p.note:
                verdict += f" ({p.note})"
            if p.n_kinks:
                verdict += f", {p.n_kinks} kink(s)"
            rows.append([p.name, str(p.shape), str(p.n_checked), f"{p.relative_error:.2e}",
                         verdict])
        return rows

    def _worst_table(self, k: int = 5) -> list[list[str]]:
        head = "direction" if self.kind == "directional" else "index"
        rows = [["parameter", head, "analytic", "numerical", "abs error"]]
        for r in self.worst(k):
            rows.append([r.name, str(r.index), f"{r.analytic: .6e}", f"{r.numerical: .6e}",
                         f"{r.abs_error:.2e}" + (" kink" if r.kink else "")])
        return rows

    def __str__(self) -> str:
        parts = [self._header(), "", _text_table(self._param_table()), "",
                 "worst components (largest |analytic - numerical|):",
                 _text_table(self._worst_table())]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (f"<GradientCheckReport {self.verdict.name} relative_error="
                f"{self.relative_error:.2e} checked={self.n_checked}/{self.n_total}>")

    def _repr_html_(self) -> str:
        color = {Verdict.EXCELLENT: "#1a7f37", Verdict.ACCEPTABLE: "#6b8e23",
                 Verdict.SUSPICIOUS: "#b8860b", Verdict.WRONG: "#c62828"}[self.verdict]
        head = html.escape(self._header()).replace("\n", "<br>")
        head = head.replace(self.verdict.name,
                            f'<b style="color:{color}">{self.verdict.name}</b>', 1)
        return (f"<div><p>{head}</p>{_html_table(self._param_table())}"
                f"<p>worst components (largest |analytic - numerical|):</p>"
                f"{_html_table(self._worst_table())}</div>")


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                     for r in rows)


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


# --------------------------------------------------------------------------- gradient_check


def _analytic_flat(grad: Any, theta: Any) -> np.ndarray:
    """The analytic gradient as a flat float64 vector, after checking its structure."""
    analytic = grad(theta) if callable(grad) else grad
    theta_spec = spec_of(float(theta) if isinstance(theta, int) else theta)
    try:
        a_flat, a_spec = flatten(analytic)
    except TypeError as err:
        raise TypeError(f"the gradient must have theta's structure of arrays: {err}") from None
    theta_spec.check_same(a_spec, what="gradient")
    return a_flat


# Round-off of one float64 loss value, rms, in units of EPS * |f|: measured 0.41 against the same
# losses in extended precision (np.longdouble) on MLPs with every activation and loss; about twice
# the rounding of the final value alone.
_LOSS_ROUNDOFF = 0.41


def _noise(est: _Estimate) -> np.ndarray:
    """Round-off bound of each finite-difference estimate, in units of the derivative."""
    if est.values is None:  # complex step: no cancellation
        return 4 * EPS * np.abs(est.grad)
    fmax = np.max(np.abs(est.values), axis=1)
    fmax = np.maximum(fmax, abs(est.f0))
    return 10 * EPS * fmax / np.abs(est.steps)


def _roundoff(method: str) -> float:
    """Typical (rms) round-off of each estimate as a fraction of :func:`_noise`: the loss values'
    round-off times the stencil's gain ``||weights||_2 / |h|`` (about 0.3 EPS max|f| / |h| for a
    central difference)."""
    if method == "complex":  # no cancellation: _noise is itself a few roundings
        return 0.1
    gain = float(np.linalg.norm(_STENCILS[method][3]))
    return _LOSS_ROUNDOFF * gain / 10


_CENTRAL_ROUNDOFF = _roundoff("central")


def _find_kinks(est: _Estimate, analytic: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Components whose mismatch is explained by f not being smooth within +-eps.

    A kink (slope jump J somewhere in [x-h, x+h]) makes the one-sided slopes differ by about
    twice the mismatch of the central difference. Candidates are confirmed with two more calls,
    at x +- h/2: the three second differences with step h/2 centred at x-h/2, x and x+h/2 agree
    to O(h**3) for a smooth f, while a kink adds a hat-shaped bump to at most two of them.
    """
    kinks = np.zeros(len(est.grad), dtype=bool)
    if est.method != "central":
        return kinks
    fp, fm = est.values[:, 0], est.values[:, 1]
    h = est.steps
    mismatch = np.abs(analytic - est.grad)
    jump = np.abs(fp - 2 * est.f0 + fm) / np.abs(h)
    candidates = ((mismatch > 1e-7 * (np.abs(analytic) + np.abs(est.grad)) + noise)
                  & (jump >= 0.5 * mismatch) & (jump > noise))
    pos = np.flatnonzero(candidates)
    if pos.size == 0:
        return kinks
    half = est.evaluate(pos, (0.5, -0.5))
    fph, fmh = half[:, 0], half[:, 1]
    f0 = est.f0
    d = np.stack([fm[pos] - 2 * fmh + f0, fmh - 2 * f0 + fph, f0 - 2 * fph + fp[pos]], axis=1)
    spread = d.max(axis=1) - d.min(axis=1)
    biggest = np.abs(d).max(axis=1)
    floor = 1e3 * EPS * np.maximum(np.abs(np.c_[fp[pos], fm[pos], fph, fmh]).max(axis=1),
                                   abs(f0))
    confirmed = ((spread >= 0.5 * biggest) & (spread > floor)
                 & (2 * spread / np.abs(h[pos]) >= 0.25 * mismatch[pos]))
    kinks[pos[confirmed]] = True
    return kinks


def _sample_indices(n: int, n_samples: int | None, seed: Any) -> np.ndarray | None:
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
                   vectorized: bool = False, batch_size: int | None = None
                   ) -> GradientCheckReport:
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
    a_flat = _analytic_flat(grad, theta)
    indices = _sample_indices(a_flat.size, n_samples, seed)
    est = _Estimate(f, theta, eps, method, indices, vectorized=vectorized, batch_size=batch_size)
    return _report(est, a_flat, eps, thresholds)


def _report(est: _Estimate, a_flat: np.ndarray, eps: float | None,
            thresholds: tuple) -> GradientCheckReport:
    """Compare an estimate with the analytic gradient: rows, per-parameter verdicts, kinks."""
    indices = est.indices
    a_sel = a_flat if indices is None else a_flat[indices]
    noise = _noise(est)
    roundoff = _roundoff(est.method)
    kinks = _find_kinks(est, a_sel, noise)
    spec = est.target.spec
    components = _Components(spec.names, spec.shapes, est.leaf, est.flat, a_sel, est.grad,
                             kinks, indices, [leaf.offset for leaf in spec.leaves])
    smooth = ~kinks if kinks.any() else slice(None)  # no copies when there is no kink
    # components in leaf order (all of theta, or sorted indices): one range per leaf, no copies
    in_order = est.leaf.size < 2 or bool(np.all(est.leaf[1:] >= est.leaf[:-1]))
    ends = np.searchsorted(est.leaf, np.arange(len(spec.leaves) + 1)) if in_order else None
    per_parameter = {}
    for k, leaf in enumerate(spec.leaves):
        mine = slice(int(ends[k]), int(ends[k + 1])) if in_order else np.flatnonzero(
            est.leaf == k)
        a, n, z, kk = a_sel[mine], est.grad[mine], noise[mine], kinks[mine]
        if a.size == 0:
            per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, 0, math.nan, None,
                                                    math.nan)
            continue
        max_abs = float(np.max(np.abs(a - n)))
        n_kinks = int(kk.sum())
        if n_kinks:
            a, n, z = a[~kk], n[~kk], z[~kk]
        r, v, note = _verdict(a, n, z, roundoff, thresholds)
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, int(kk.size), r, v,
                                                max_abs, n_kinks, note)
    r, v, note = _verdict(a_sel[smooth], est.grad[smooth], noise[smooth], roundoff, thresholds)
    v, note = _no_better_than_worst_parameter(v, note, per_parameter)

    if indices is None:
        numerical_flat = est.grad
    else:
        numerical_flat = np.full(a_flat.size, np.nan)
        numerical_flat[indices] = est.grad
    return GradientCheckReport(
        kind="full" if indices is None else "sampled", method=est.method, eps=eps,
        components=components, per_parameter=per_parameter, analytic=est.as_structure(a_flat),
        numerical=est.as_structure(numerical_flat), relative_error=r, verdict=v, note=note,
        n_total=a_flat.size, thresholds=thresholds)


# --------------------------------------------------------------------------- directional check


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
    eps = _check_eps(eps)
    a_flat = _analytic_flat(grad, theta)
    rng = np.random.default_rng(seed)
    target = _Target(f, theta)
    f0 = _base_value(target)
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
                fp = _checked_value(target, f"at theta + eps*v (direction {d} of {leaf.name})")
                np.subtract(original, eps * v, out=arr, casting="unsafe")
                step = plus - arr  # the perturbation the floats represent, 2*eps*v up to rounding
                fm = _checked_value(target, f"at theta - eps*v (direction {d} of {leaf.name})")
                np.copyto(arr, original)
                d_n[d] = (fp - fm) / (2 * eps)
                d_a[d] = float(np.sum(g * step)) / (2 * eps)
                noise[d] = 10 * EPS * max(abs(fp), abs(fm), abs(f0)) / eps
        finally:
            np.copyto(arr, original)
        r, v, note = _verdict(d_a, d_n, noise, _CENTRAL_ROUNDOFF, thresholds)
        per_parameter[leaf.name] = ParameterRow(leaf.name, leaf.shape, n_directions, r, v,
                                                float(np.max(np.abs(d_a - d_n))), 0, note)
        analytic[leaf.name], numerical[leaf.name] = d_a, d_n
        all_a.append(d_a)
        all_n.append(d_n)
        all_noise.append(noise)
    all_a, all_n = np.concatenate(all_a), np.concatenate(all_n)
    all_noise = np.concatenate(all_noise)
    r, v, note = _verdict(all_a, all_n, all_noise, _CENTRAL_ROUNDOFF, thresholds)
    v, note = _no_better_than_worst_parameter(v, note, per_parameter)
    n_leaves = len(spec.leaves)
    components = _Components(
        spec.names, [(n_directions,)] * n_leaves,
        np.repeat(np.arange(n_leaves), n_directions), np.tile(np.arange(n_directions), n_leaves),
        all_a, all_n, np.zeros(all_a.size, dtype=bool),
        np.repeat([leaf.offset for leaf in spec.leaves], n_directions))
    return GradientCheckReport(
        kind="directional", method="central", eps=eps, components=components,
        per_parameter=per_parameter, analytic=analytic, numerical=numerical, relative_error=r,
        verdict=v, note=note, n_total=len(components), thresholds=thresholds)


def _checked_value(target: _Target, where: str) -> float:
    v = _real_scalar(target.call())
    if not math.isfinite(v):
        raise ValueError(f"f returned {v} {where}; check for overflow or log(0), or use a "
                         "smaller eps")
    return v


# --------------------------------------------------------------------------- Taylor test


@dataclass
class TaylorResult:
    """The step-free check: how fast the first-order Taylor remainder shrinks.

    Attributes
    ----------
    rate : float
        Fitted slope of log(remainder) against log(h) as h -> 0: about 2 when the gradient is
        right, about 1 when it is wrong. NaN when the remainder is at round-off for every step.
    verdict : Verdict
    steps, remainders : ndarray
        ``h`` and ``|f(theta + h v) - f(theta) - h grad . v|``, for a log-log plot.
    """

    rate: float
    verdict: Verdict
    steps: np.ndarray
    remainders: np.ndarray
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def __str__(self) -> str:
        return f"Taylor test: remainder rate {self.rate:.2f} -> {self.verdict.name}: {self.message}"


def taylor_test(f: Callable[[Any], float], grad: Any, theta: Any, direction: Any = None,
                seed: Any = None, n_steps: int = 16, h0: float = 0.1) -> TaylorResult:
    """Step-free gradient check: the Taylor remainder shrinks like h**2 only if grad is right.

    Along a direction ``v`` (random unit vector unless given, in theta's structure),
    ``r(h) = |f(theta + h v) - f(theta) - h grad . v|`` is ``O(h**2)`` when the gradient is
    right and ``O(h)`` when it is wrong, whatever the step. The rate is fitted on the smallest
    steps whose remainder is above round-off.

    Parameters
    ----------
    n_steps : int
        Steps ``h0 * 2**-k`` for ``k = 0 .. n_steps - 1``.

    Returns
    -------
    TaylorResult
        ``.rate`` (about 2 right, about 1 wrong), ``.verdict``, ``.steps``, ``.remainders``.
    """
    a_flat = _analytic_flat(grad, theta)
    target = _Target(f, theta)
    spec = target.spec
    rng = np.random.default_rng(seed)
    if direction is None:
        v = rng.standard_normal(spec.size)
    else:
        v, v_spec = flatten(direction)
        spec.check_same(v_spec, what="direction")
    norm = float(np.linalg.norm(v))
    if not norm > 0:
        raise ValueError("the direction must be a nonzero vector")
    v = v / norm
    f0 = _base_value(target)
    steps = h0 * 2.0 ** -np.arange(int(n_steps))
    remainders = np.empty(steps.size)
    originals = [arr.copy() for arr in target.arrays]
    try:
        for i, h in enumerate(steps):
            linear = 0.0
            for leaf, arr, orig in zip(spec.leaves, target.arrays, originals):
                sl = slice(leaf.offset, leaf.offset + leaf.size)
                np.add(orig, h * v[sl].reshape(leaf.shape), out=arr, casting="unsafe")
                # The step the floats represent, not h*v: keeps rounding out of the remainder.
                moved = arr.astype(np.float64) - orig
                linear += float(np.sum(a_flat[sl].reshape(leaf.shape) * moved))
            fh = _checked_value(target, f"at theta + h*v (h={h:g})")
            remainders[i] = abs(fh - f0 - linear)
            for arr, orig in zip(target.arrays, originals):
                np.copyto(arr, orig)
    finally:
        for arr, orig in zip(target.arrays, originals):
            np.copyto(arr, orig)
    floor = 100 * EPS * max(abs(f0), 1e-300)
    valid = remainders > floor
    if valid.sum() < 3:
        return TaylorResult(math.nan, Verdict.EXCELLENT, steps, remainders,
                            "the remainder is at round-off for every step: f is linear along v "
                            "and the gradient matches it")
    idx = np.flatnonzero(valid)[-5:]  # the smallest steps above round-off: the asymptotic rate
    rate = float(np.polyfit(np.log(steps[idx]), np.log(remainders[idx]), 1)[0])
    if rate >= 1.8:
        verdict, msg = Verdict.EXCELLENT, "remainder ~ h^2: the gradient is right"
    elif rate >= 1.5:
        verdict, msg = Verdict.ACCEPTABLE, "remainder close to h^2: probably right"
    elif rate >= 1.2:
        verdict, msg = Verdict.SUSPICIOUS, "remainder between h and h^2: check more directions"
    else:
        verdict, msg = Verdict.WRONG, "remainder ~ h: the gradient is wrong along this direction"
    return TaylorResult(rate, verdict, steps, remainders, msg)


# --------------------------------------------------------------------------- layers and models


def _snapshot(obj: Any) -> dict:
    """Copies of the arrays an object (and its list of layers) holds, to undo side effects."""
    saved: dict = {}
    if not hasattr(obj, "__dict__"):
        return saved
    for name, value in vars(obj).items():
        if isinstance(value, np.ndarray):
            saved[name] = (value, value.copy())
        elif isinstance(value, dict):
            saved[name] = (value, {k: (v, v.copy() if isinstance(v, np.ndarray) else None)
                                   for k, v in value.items()})
        elif isinstance(value, list) and all(hasattr(v, "__dict__") for v in value):
            saved[name] = (value, [(v, _snapshot(v)) for v in value])
        else:
            saved[name] = (value, None)
    return saved


def _restore(obj: Any, saved: dict) -> None:
    if not hasattr(obj, "__dict__"):
        return
    for name in list(vars(obj)):
        if name not in saved:
            delattr(obj, name)
    for name, (value, copy) in saved.items():
        setattr(obj, name, value)
        if isinstance(value, np.ndarray):
            np.copyto(value, copy)
        elif isinstance(value, dict) and copy is not None:
            value.clear()
            for k, (v, c) in copy.items():
                if c is not None:
                    np.copyto(v, c)
                value[k] = v
        elif isinstance(value, list) and copy is not None:
            for item, item_saved in copy:
                _restore(item, item_saved)


def check_layer(layer: Any, x: Any, eps: float = 1e-6, method: str = "central",
                seed: Any = 0, thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                ) -> GradientCheckReport:
    """Gradient-check a layer's ``backward``: the input gradient and every parameter's.

    The layer needs ``forward(x) -> out``, ``backward(dout) -> dx`` that fills ``grads``, and
    dicts ``params`` and ``grads`` with the same keys (empty for a layer without parameters).
    With a random upstream gradient ``dout``, the scalar ``L = sum(forward(x) * dout)`` has
    gradient ``dx`` with respect to ``x`` and ``grads[k]`` with respect to ``params[k]``.

    Parameters
    ----------
    layer : object
        The layer to check; its state is restored afterwards.
    x : array_like
        A batch of inputs. Avoid inputs that make a gradient vanish by symmetry (all equal
        rows, say): a zero gradient cannot tell a right backward from one that returns zeros.
    eps, method, thresholds
        As for :func:`gradient_check`.
    seed : int, Generator or None
        For the random upstream gradient ``dout``. An int seeds a stream of its own, so
        ``dout`` never equals an ``x`` drawn from ``np.random.default_rng(seed)``.

    Returns
    -------
    GradientCheckReport
        Rows named ``"x"`` and the parameter keys. The layer's arrays (parameters, gradients,
        caches, running statistics) are as before the check, and ``x`` is not modified.
    """
    for attr in ("forward", "backward"):
        if not callable(getattr(layer, attr, None)):
            raise TypeError(f"check_layer needs a layer with a {attr}() method")
    params = getattr(layer, "params", {})
    if not isinstance(params, dict):
        raise TypeError("layer.params must be a dict of arrays (empty if it has none)")
    if "x" in params:
        raise ValueError("layer.params has a key 'x', which check_layer uses for the input")
    x = np.array(x, dtype=np.float64)  # a copy: the caller's x is never touched
    # dout comes from its own stream: drawn from default_rng(seed) itself, it would equal an x
    # the caller drew with the same seed and shape, and for batch norm dx is then exactly 0.
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
        None if seed is None else np.random.SeedSequence([int(seed), 0x646F7574]))
    saved = _snapshot(layer)
    try:
        out = layer.forward(x)
        dout = rng.standard_normal(np.shape(out))
        dx = layer.backward(dout)
        grads = getattr(layer, "grads", {})
        if set(grads) != set(params):
            raise ValueError(f"after backward, layer.grads has keys {sorted(grads)} but "
                             f"layer.params has {sorted(params)}; fill one gradient per parameter")
        if dx is None:
            raise ValueError("backward(dout) returned None; it must return dx, the gradient "
                             "with respect to the layer's input")
        analytic = {"x": np.array(dx, dtype=np.float64)}
        analytic.update({k: np.array(grads[k], dtype=np.float64) for k in params})
        theta = {"x": x, **params}

        def f(th: dict) -> float:
            return float(np.sum(layer.forward(th["x"]) * dout))

        return gradient_check(f, analytic, theta, eps=eps, method=method,
                              thresholds=thresholds)
    finally:
        _restore(layer, saved)


def check_model(model: Any, X: Any, y: Any, eps: float | None = 1e-6, method: str = "central",
                n_samples: int | None = None, seed: Any = None,
                thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS,
                fast: bool | str = "auto") -> GradientCheckReport:
    """Gradient-check every parameter of a model on a batch ``(X, y)``.

    Works with any object that has ``params`` (a dict of float arrays that the model reads in
    place), ``loss(X, y) -> float`` and ``loss_and_grads(X, y) -> (float, dict of gradients)``;
    the checker never imports a particular model class. Rows are named by the keys of
    ``params`` (``W1``, ``b1``, ...). The model's arrays are as before the check.

    Parameters
    ----------
    fast : {"auto", True, False}
        A model that describes its dense layers with ``layer_structure()`` (see
        :mod:`gradcheck_edu.layered`) can be checked with the structure-aware path: the same
        central differences and steps, computed with cached activations and rank-1 updates, in a
        fraction of the time (about 0.05 x 2n loss evaluations for MLP([64, 128, 128, 10])).
        ``"auto"`` uses it when the model offers it (float64 parameters, ``method="central"``)
        and it reproduces ``model.loss``, ``False`` always uses the generic path (one
        ``model.loss`` call per perturbation, the reference), ``True`` requires the fast path
        and raises a ValueError that says why when it cannot be used.

    Notes
    -----
    The structure-aware path computes the loss of the network the model *describes*. It is used
    only if that loss equals ``model.loss`` at the parameters and, for each parameter, at
    ``theta +- h e_k`` for the component with the largest change and one random component (4
    extra loss evaluations per parameter): a model whose ``params["W1"]`` is no longer the array
    its layer reads is checked by the generic path, which shows ``W1`` WRONG.

    The two paths agree to the round-off of the generic one: it subtracts two float64 losses,
    whose rounding (about ``0.3 EPS |L| / eps`` per component, rms) is 1e-8 to 1e-7 of the
    gradient on MLP([64, 128, 128, 10]) at ``eps=1e-6``, while the structure-aware path forms
    its changes from the increments and is within 5e-11 of the exact central difference.
    Their verdicts are the same: a difference within the round-off is given the verdict of the
    resolution, which depends only on the steps and loss values (see ``note`` in the
    per-parameter table).
    """
    for attr in ("params", "loss", "loss_and_grads"):
        if not hasattr(model, attr):
            raise TypeError(f"check_model needs a model with .params, .loss(X, y) and "
                            f".loss_and_grads(X, y); this one has no .{attr}")
    if fast not in ("auto", True, False):
        raise ValueError(f"fast must be 'auto', True or False, got {fast!r}")
    saved = _snapshot(model)
    try:
        _, grads = model.loss_and_grads(X, y)
        missing = [k for k in model.params if k not in grads]
        if missing:
            raise ValueError(f"loss_and_grads returned no gradient for {missing}; it must return "
                             f"one per parameter, with the keys of .params")
        grads = {k: np.asarray(grads[k], dtype=np.float64) for k in model.params}
        a_flat = _analytic_flat(grads, model.params)  # a copy: the model's buffers may change
        del grads
        indices = _sample_indices(a_flat.size, n_samples, seed)

        def f(_params: Any) -> float:
            return model.loss(X, y)

        est, why_not = None, ""
        if fast:
            est, why_not = _layered_estimate(model, f, X, y, eps, method, indices,
                                             strict=fast is True)
            if est is None and fast is True:
                raise ValueError("fast=True needs method='central', float64 parameters and a "
                                 "model.layer_structure() that matches model.loss; use "
                                 "fast='auto' to fall back to the generic path")
        if est is None:
            est = _Estimate(f, model.params, eps, method, indices)
        report = _report(est, a_flat, eps, thresholds)
        if why_not:  # say why the structure-aware path was not used: it points at the bug
            report.note = f"{why_not}; checked with the generic path" + (
                f"; {report.note}" if report.note else "")
        return report
    finally:
        _restore(model, saved)


def _layered_estimate(model: Any, f: Callable, X: Any, y: Any, eps: float | None, method: str,
                      indices: np.ndarray | None, strict: bool = False
                      ) -> tuple[_Estimate | None, str]:
    """Central differences through :class:`~gradcheck_edu.layered.LayeredLoss`, and why not.

    (None, "") when the model offers no usable description or the description does not
    reproduce ``model.loss`` at the unperturbed parameters; (None, message) when it does not at a
    perturbed point (see :func:`_spot_check`), or with ``strict`` a ValueError with the message.
    """
    from .layered import LayeredLoss, structure_of

    structure = structure_of(model) if method == "central" else None
    params = model.params
    if structure is None or any(np.asarray(v).dtype != np.float64 for v in params.values()):
        return None, ""
    target = _Target(f, params)
    leaf, flat = target.components(indices)
    steps = _steps(target, leaf, flat, eps, "central")
    f0 = _base_value(target)
    try:
        layered = LayeredLoss(structure, params, X, y)
    except (KeyError, ValueError, TypeError, IndexError):
        return None, ""
    if set(layered.names()) != set(params) or not abs(layered.value - f0) <= 1e-12 * max(
            1.0, abs(f0)):
        return None, ""  # the description does not reproduce model.loss: generic path
    changes = np.empty((leaf.size, 2))
    h_used = np.empty(leaf.size)
    for k, spec_leaf in enumerate(target.spec.leaves):
        pos = np.flatnonzero(leaf == k)
        if pos.size == 0:
            continue
        x = np.asarray(target.arrays[k]).reshape(-1)[flat[pos]]
        # The step the float can represent: (x + h) - x, as in the generic path.
        h = (x + steps[pos]) - x
        if np.any(h == 0):
            raise StepTooSmallError(f"eps is too small for {spec_leaf.name}: theta + eps == theta")
        h_used[pos] = h
        # Both sides in one call: the work per column is shared. x - h may round; (x - h) - x
        # is exact, and is the move the generic path makes.
        changes[pos] = layered.change(spec_leaf.name, flat[pos], np.stack([h, (x - h) - x], 1))
    mismatch = _spot_check(target, leaf, flat, h_used, changes, f0, layered.loss_scale)
    if mismatch is not None:
        if strict:
            raise ValueError(f"fast=True: {mismatch}. Use fast='auto' (it falls back to the "
                             "generic path) or fast=False")
        return None, mismatch
    return _Estimate.from_central_changes(target, leaf, flat, indices, h_used, changes, f0), ""


def _spot_check(target: _Target, leaf: np.ndarray, flat: np.ndarray, h: np.ndarray,
                changes: np.ndarray, f0: float, scale: float) -> str | None:
    """Check a fast path's loss changes against the model itself; None if they agree.

    The fast path computes the loss of the network the model *describes*; the description was
    compared with ``model.loss`` at the unperturbed parameters only. A model whose
    ``params[name]`` is not the array its layers read (replaced by a copy, say) passes that
    comparison, yet moving ``params[name]`` does not move its loss. So for each parameter, the
    component whose change is largest and one random component are perturbed in place and
    ``model.loss`` evaluated at ``+h`` and ``-h`` (4 loss evaluations per parameter): each change
    must match the fast path's within round-off (``64 EPS`` of the loss scale) plus 0.1%.
    Returns a message naming the first component that does not.
    """
    rng = np.random.default_rng(0)
    picks = []
    for k in np.unique(leaf):
        pos = np.flatnonzero(leaf == k)
        largest = int(pos[np.argmax(np.abs(changes[pos]).max(axis=1))])
        picks.extend(sorted({largest, int(pos[rng.integers(pos.size)])}))
    picks = np.asarray(picks, dtype=np.int64)
    values, _ = _perturbed_values(target, leaf[picks], flat[picks], h[picks], (1, -1), f0)
    real, fast = values - f0, changes[picks]
    loss_scale = np.maximum(np.abs(values).max(axis=1, keepdims=True), max(abs(f0), scale))
    bad = np.abs(real - fast) > 64 * EPS * loss_scale + 1e-3 * np.abs(fast)
    if not bad.any():
        return None
    j, side = (int(v[0]) for v in np.nonzero(bad))
    k, i = int(leaf[picks[j]]), int(flat[picks[j]])
    name = target.spec.leaves[k].name
    return (f"moving {target.label(k, i)} by {(1, -1)[side] * h[picks[j]]:+.1e} changes "
            f"model.loss by {real[j, side]:.6e}, but the network that model.layer_structure() "
            f"describes by {fast[j, side]:.6e}. The model does not compute with "
            f"model.params[{name!r}] as described: is it still the array the layer reads (not a "
            f"copy put in its place)?")
