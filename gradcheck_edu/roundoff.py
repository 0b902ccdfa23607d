"""How much a finite difference can err by round-off, and where f has kinks."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .finite_diff import Estimate
from .stencils import STENCILS, stencil_derivative
from .verdicts import norm

__all__ = ["LOSS_ROUNDOFF", "noise_bound", "roundoff_fraction", "CENTRAL_ROUNDOFF", "find_kinks",
           "classify_kinks", "Kinks", "truncation_allowance", "MAX_TRUNCATION_CHECKS",
           "step_sensitive", "gradient_size"]

# Round-off of one float64 loss value, rms, in units of EPS * |f|: measured 0.41 against the same
# losses in extended precision (np.longdouble) on MLPs with every activation and loss; about twice
# the rounding of the final value alone.
LOSS_ROUNDOFF = 0.41


def noise_bound(est: Estimate) -> np.ndarray:
    """Bound on the round-off of each finite-difference estimate, in units of the derivative.

    Ten roundings of the largest loss value at the stencil, divided by the step:
    ``10 eps max|f| / |h|``, where ``eps`` is the resolution of the precision theta is stored in
    (float32 parameters give a float32 loss: 5e8 times float64's round-off), scaled by the
    estimate's ``roundoff_scale`` (below 1 for a path that computes loss changes more precisely
    than as differences of rounded losses).
    """
    if est.values is None:  # complex step: no cancellation
        return 4 * est.loss_eps * np.abs(est.grad)
    fmax = np.max(np.abs(est.values), axis=1)
    fmax = np.maximum(fmax, abs(est.f0))
    return est.roundoff_scale * 10 * est.loss_eps * fmax / np.abs(est.steps)


def roundoff_fraction(method: str) -> float:
    """Typical (rms) round-off of each estimate as a fraction of :func:`noise_bound`: the loss
    values' round-off times the stencil's gain ``||weights||_2 / |h|`` (about
    0.3 EPS max|f| / |h| for a central difference)."""
    if method == "complex":  # no cancellation: noise_bound is itself a few roundings
        return 0.1
    gain = float(np.linalg.norm(STENCILS[method].weights))
    return LOSS_ROUNDOFF * gain / 10


CENTRAL_ROUNDOFF = roundoff_fraction("central")


class Kinks(NamedTuple):
    """The kinks of an estimate, and what the analytic gradient may be at each.

    ``found``: components where f is not smooth within +-h. At a kink the derivative is not
    defined; any value between the one-sided slopes next to theta is a valid subgradient
    (``subgradient``: not measured, not failed). An analytic value outside them, beyond what
    the slopes can err by (``tol``), is wrong: ``nearest`` is the valid value nearest to it (the
    analytic value itself at a subgradient, the central difference where there is no kink).
    """

    found: np.ndarray
    subgradient: np.ndarray
    nearest: np.ndarray
    tol: np.ndarray


def find_kinks(est: Estimate, analytic: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The mask of :func:`classify_kinks`' kinks."""
    return classify_kinks(est, analytic, noise).found


def classify_kinks(est: Estimate, analytic: np.ndarray, noise: np.ndarray) -> Kinks:
    """Components whose mismatch is explained by f not being smooth within +-eps.

    A kink (slope jump J somewhere in [x-h, x+h]) makes the one-sided slopes differ by about
    twice the mismatch of the central difference; candidates are the components with such a
    mismatch, or with a second difference above 1e-4 of the gradient's size. They are confirmed
    with two more calls, at x +- h/2: the three second differences ``d`` with step h/2 centred
    at x-h/2, x and x+h/2 agree to O(h**3) for a smooth f, while a kink adds a hat-shaped bump
    to at most two of them, so the smallest of them stays at the curvature, below a tenth of the
    largest (a smooth f whose step is too large for it, as log at 2e-6 with h = 1e-6, changes
    all three: it is not a kink, and its truncation error is measured instead). The bump must
    stand above the round-off of the loss values (``1e3 eps |f|`` at theta's precision), so
    float32 round-off is not taken for kinks.

    At a confirmed kink the secant slopes over [x-h, x-h/2], [x-h/2, x], [x, x+h/2] and
    [x+h/2, x+h] are ``s1..s4``; the valid values lie between ``s2`` and ``s3`` (the kink at x:
    the left and right derivatives; a kink beside x: the derivative on x's side), widened by
    the slopes' own error, twice the smaller of ``|s1 - s2|`` and ``|s3 - s4|`` (the
    curvature over h/2) plus four times the round-off bound.
    """
    n = len(est.grad)
    found, valid = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    nearest, tol = est.grad.copy(), np.zeros(n)
    if est.method != "central":
        return Kinks(found, valid, nearest, tol)
    fp, fm = est.values[:, 0], est.values[:, 1]
    h = est.steps
    mismatch = np.abs(analytic - est.grad)
    jump = np.abs(fp - 2 * est.f0 + fm) / np.abs(h)
    # a mismatch a kink could explain; or a second difference large beside the gradient (an
    # analytic value that equals the central difference at a kink is no measurement either)
    size = gradient_size(est.grad)
    candidates = ((mismatch > 1e-7 * (np.abs(analytic) + np.abs(est.grad)) + noise)
                  & (jump >= 0.5 * mismatch) | (jump > 1e-4 * size)) & (jump > noise)
    pos = np.flatnonzero(candidates)
    if pos.size == 0:
        return Kinks(found, valid, nearest, tol)
    half, half_moves = est.evaluate(pos, (0.5, -0.5))
    fph, fmh = half[:, 0], half[:, 1]
    f0 = est.f0
    d = np.stack([fm[pos] - 2 * fmh + f0, fmh - 2 * f0 + fph, f0 - 2 * fph + fp[pos]], axis=1)
    spread = d.max(axis=1) - d.min(axis=1)
    biggest = np.abs(d).max(axis=1)
    floor = 1e3 * est.loss_eps * np.maximum(
        np.abs(np.c_[fp[pos], fm[pos], fph, fmh]).max(axis=1), abs(f0))
    confirmed = ((spread >= 0.5 * biggest) & (spread > floor)
                 & (np.abs(d).min(axis=1) <= 0.1 * biggest)
                 & (2 * spread / np.abs(h[pos]) >= 0.25 * mismatch[pos]))
    found[pos[confirmed]] = True
    # the secant slopes beside theta, from the points actually evaluated
    mp, mm = est.moves[pos, 0], est.moves[pos, 1]
    mph, mmh = half_moves[:, 0], half_moves[:, 1]
    s1 = (fmh - fm[pos]) / (mmh - mm)
    s2 = (f0 - fmh) / -mmh
    s3 = (fph - f0) / mph
    s4 = (fp[pos] - fph) / (mp - mph)
    slack = 2 * np.minimum(np.abs(s1 - s2), np.abs(s3 - s4)) + 4 * noise[pos]
    lo, hi = np.minimum(s2, s3), np.maximum(s2, s3)
    a = analytic[pos]
    inside = (a >= lo - slack) & (a <= hi + slack)
    k = pos[confirmed]
    valid[k] = inside[confirmed]
    nearest[k] = np.where(inside, a, np.clip(a, lo, hi))[confirmed]
    tol[k] = slack[confirmed]
    return Kinks(found, valid, nearest, tol)


# Components whose truncation error is measured, at most (2 calls of f each): a gradient with
# more mismatched components than this is not a near miss of the finite difference.
MAX_TRUNCATION_CHECKS = 512


def gradient_size(grad: np.ndarray) -> np.ndarray:
    """Per component, the larger of its own size and the rms of the whole gradient."""
    return np.maximum(np.abs(grad), norm(grad) / np.sqrt(max(grad.size, 1)))


def step_sensitive(est: Estimate, noise: np.ndarray) -> np.ndarray:
    """Components whose central difference may not be resolved at this step, even if it matches.

    The second difference ``J = |f(x+h) - 2 f(x) + f(x-h)| / h`` is ``h |f2|`` (f2, f3: the
    second and third derivatives). Where the derivatives grow geometrically (``h f3 ~ f2 h f2 /
    f'``, as for log, 1/x, exp), the central difference's truncation error ``h**2 |f3| / 6`` is
    about ``J**2 / (6 G)``, with ``G`` the size of the gradient (the component's, or the rms of
    all, if larger). Where that exceeds the round-off bound the estimate may not be resolved at
    this step: such components get their truncation error measured
    (:func:`truncation_allowance`) whatever their mismatch.
    """
    if est.method != "central" or est.grad.size == 0:
        return np.zeros(len(est.grad), dtype=bool)
    jump = np.abs(est.values[:, 0] - 2 * est.f0 + est.values[:, 1]) / np.abs(est.steps)
    size = gradient_size(est.grad)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        guess = jump ** 2 / (6 * size)
    return (guess > noise) & (jump > noise)


def truncation_allowance(est: Estimate, analytic: np.ndarray, noise: np.ndarray,
                         kinks: np.ndarray, positions: np.ndarray | None = None,
                         also: np.ndarray | None = None) -> np.ndarray:
    """What the central difference can err by through truncation, where that may matter.

    The central difference errs by ``h**2 |f'''| / 6`` before any round-off: negligible for
    most f, but it is all there is when the gradient itself is that small (``t**3`` at 0:
    analytic 0, numerical ``h**2``). For the components whose mismatch is beyond ``noise`` (and
    is not a kink), at most :data:`MAX_TRUNCATION_CHECKS` of them, smallest mismatch first, two
    more calls at ``x +- h/2`` give the central difference with step h/2; it differs from the
    one with step h by 3/4 of the truncation error at h, so that error is
    ``4/3 |D(h) - D(h/2)|``, counting only the part of that difference above the round-off of
    both (``3 noise``: D(h/2) has twice D(h)'s). The allowance is twice that (the estimate is
    itself a difference of estimates); zero elsewhere. ``analytic``, ``noise`` and ``kinks``
    are those of the components at ``positions`` of the estimate (all of them by default);
    ``also`` marks more of them to measure whatever their mismatch (see
    :func:`step_sensitive`).
    """
    positions = np.arange(len(est.grad)) if positions is None else positions
    allowance = np.zeros(len(positions))
    if est.method != "central":
        return allowance
    grad = est.grad[positions]
    mismatch = np.abs(analytic - grad)
    measure = mismatch > noise if also is None else (mismatch > noise) | also
    pos = np.flatnonzero(measure & ~kinks)
    if pos.size == 0:
        return allowance
    pos = pos[np.argsort(mismatch[pos], kind="stable")[:MAX_TRUNCATION_CHECKS]]
    half, moves = est.evaluate(positions[pos], (0.5, -0.5))
    d_half = stencil_derivative(half, moves)
    # D(h/2) carries twice D(h)'s round-off: only the part of the difference above both is
    # truncation (in float32, most of it is round-off, which a smaller step makes worse)
    excess = np.abs(grad[pos] - d_half) - 3 * noise[pos]
    allowance[pos] = 2 * (4 / 3) * np.maximum(excess, 0.0)
    return allowance
