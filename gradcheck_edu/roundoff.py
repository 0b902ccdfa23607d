"""How much a finite difference can err by round-off, and where f has kinks."""

from __future__ import annotations

import numpy as np

from .estimate import Estimate
from .steps import STENCILS, stencil_derivative

__all__ = ["LOSS_ROUNDOFF", "noise_bound", "roundoff_fraction", "CENTRAL_ROUNDOFF", "find_kinks",
           "truncation_allowance", "MAX_TRUNCATION_CHECKS"]

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
    gain = float(np.linalg.norm(STENCILS[method][3]))
    return LOSS_ROUNDOFF * gain / 10


CENTRAL_ROUNDOFF = roundoff_fraction("central")


def find_kinks(est: Estimate, analytic: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Components whose mismatch is explained by f not being smooth within +-eps.

    A kink (slope jump J somewhere in [x-h, x+h]) makes the one-sided slopes differ by about
    twice the mismatch of the central difference. Candidates are confirmed with two more calls,
    at x +- h/2: the three second differences with step h/2 centred at x-h/2, x and x+h/2 agree
    to O(h**3) for a smooth f, while a kink adds a hat-shaped bump to at most two of them. The
    bump must stand above the round-off of the loss values (``1e3 eps |f|`` at theta's
    precision), so float32 round-off is not taken for kinks.
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
    half, _ = est.evaluate(pos, (0.5, -0.5))
    fph, fmh = half[:, 0], half[:, 1]
    f0 = est.f0
    d = np.stack([fm[pos] - 2 * fmh + f0, fmh - 2 * f0 + fph, f0 - 2 * fph + fp[pos]], axis=1)
    spread = d.max(axis=1) - d.min(axis=1)
    biggest = np.abs(d).max(axis=1)
    floor = 1e3 * est.loss_eps * np.maximum(
        np.abs(np.c_[fp[pos], fm[pos], fph, fmh]).max(axis=1), abs(f0))
    confirmed = ((spread >= 0.5 * biggest) & (spread > floor)
                 & (2 * spread / np.abs(h[pos]) >= 0.25 * mismatch[pos]))
    kinks[pos[confirmed]] = True
    return kinks


# Components whose truncation error is measured, at most (2 calls of f each): a gradient with
# more mismatched components than this is not a near miss of the finite difference.
MAX_TRUNCATION_CHECKS = 512


def truncation_allowance(est: Estimate, analytic: np.ndarray, noise: np.ndarray,
                         kinks: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
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
    are those of the components at ``positions`` of the estimate (all of them by default).
    """
    positions = np.arange(len(est.grad)) if positions is None else positions
    allowance = np.zeros(len(positions))
    if est.method != "central":
        return allowance
    grad = est.grad[positions]
    mismatch = np.abs(analytic - grad)
    pos = np.flatnonzero((mismatch > noise) & ~kinks)
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
