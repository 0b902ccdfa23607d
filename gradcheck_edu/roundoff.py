"""How much a finite difference can err by round-off, and where f has kinks."""

from __future__ import annotations

import numpy as np

from .estimate import Estimate
from .steps import EPS, STENCILS

__all__ = ["LOSS_ROUNDOFF", "noise_bound", "roundoff_fraction", "CENTRAL_ROUNDOFF", "find_kinks"]

# Round-off of one float64 loss value, rms, in units of EPS * |f|: measured 0.41 against the same
# losses in extended precision (np.longdouble) on MLPs with every activation and loss; about twice
# the rounding of the final value alone.
LOSS_ROUNDOFF = 0.41


def noise_bound(est: Estimate) -> np.ndarray:
    """Round-off bound of each finite-difference estimate, in units of the derivative."""
    if est.values is None:  # complex step: no cancellation
        return 4 * EPS * np.abs(est.grad)
    fmax = np.max(np.abs(est.values), axis=1)
    fmax = np.maximum(fmax, abs(est.f0))
    return 10 * EPS * fmax / np.abs(est.steps)


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

