"""The explanations a mismatch is fitted against, one function each (used by :mod:`.patterns`).

Every fit works on flat float64 arrays of one parameter, in C order, with a mask ``checked`` (the
components the finite differences looked at) and ``err``, a bound on the error of each
numerical component. A fit *holds* only if every component it can test agrees to within
``TOLERANCE * err`` (times ``|k|`` where the numerical value is multiplied by ``k``), and it
*counts* only if at least ``MIN_SUPPORT`` components that are not zero in both gradients test it.

Each fit returns None or a :class:`Fit`: the kind, its number, the components it names, how many
components support it, and ``predicted`` (what the pattern says the analytic gradient is, NaN
where it says nothing), which the report's text and the plot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["MIN_SUPPORT", "RESOLUTION", "PRECISION", "TOLERANCE", "RTOL", "Fit", "error_bound",
           "agrees", "nonzero",
           "fit_zero", "fit_scale", "fit_regularization", "fit_transpose", "fit_subset",
           "nice_number", "orderings"]

# At least this many components, nonzero in one of the two gradients, must test a pattern.
# A fitted number (k or c) is fixed by one of them and tested by the others at the estimate's
# precision (about 1e-8 of the gradient): an unrelated mismatch passes three such tests by
# chance with a probability far below 1e-12, so four components are evidence; three or fewer
# (a bias of three units, a layer with one output) are a handful that say nothing about "all
# components". Four is also what the smallest classic case has: the deeplearning.ai assignment's
# planted bugs leave four nonzero components in each of W2 and b1.
MIN_SUPPORT = 4

# A pattern is read only where the mismatch (norm over the checked components) is at least
# RESOLUTION times the error bound (TOLERANCE * err, same norm): a fit then leaves at most 1/20
# of the mismatch unexplained. A coarser estimate (float32 at a tiny step, say) is "consistent"
# with several explanations at once, and naming one would be a guess.
RESOLUTION = 20.0

# A fitted number (k, c) is reported only when the components pin it to PRECISION (relative,
# one standard error of the weighted least-squares fit): then "1/8" or "the batch size" is a
# reading, not a round-off of a blur. "numerical is 0 where analytic is not" likewise needs the
# numerical values below PRECISION of the analytic ones (and the reverse).
PRECISION = 0.01

# A component agrees when it is within TOLERANCE error bounds: the bound is of the round-off of
# the central difference (ten roundings of the loss) plus RTOL of the value for its truncation
# error; the factor 2 leaves room for a fitted factor's own error.
TOLERANCE = 2.0

# Truncation error of a central difference at the default step, relative: (h**2 / 6) f''' / f'
# is below 1e-10 on the package's models at h = 1e-6 (measured: correct MLPs agree with their
# gradients to 1e-9 relative, round-off included). 1e-7, the top of the EXCELLENT band, leaves a
# wide margin and is still far below any bug's mismatch.
RTOL = 1e-7


@dataclass(frozen=True)
class Fit:
    """One explanation that holds: see the module docstring."""

    kind: str
    factor: float | None
    support: int
    predicted: np.ndarray
    where: np.ndarray | None = None  # boolean mask of the components it names (zero, subset)
    detail: str = ""


def error_bound(numerical: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """How far each numerical component may be from the true derivative: round-off + RTOL."""
    return noise + RTOL * np.abs(numerical)


def agrees(a: np.ndarray, predicted: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Componentwise: ``a`` equals ``predicted`` to within ``TOLERANCE * err``."""
    return np.abs(a - predicted) <= TOLERANCE * err


def nonzero(a: np.ndarray, n: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Components where either gradient is distinguishable from zero: the informative ones."""
    return (np.abs(a) > TOLERANCE * err) | (np.abs(n) > TOLERANCE * err)


def fit_zero(a, n, err, checked) -> Fit | None:
    """Analytic zero wherever the two differ (or numerical zero wherever they differ)."""
    bad = checked & ~agrees(a, n, err)
    count = int(bad.sum())
    if count < MIN_SUPPORT:
        return None
    small = TOLERANCE * err
    norm_a, norm_n = float(np.linalg.norm(a[bad])), float(np.linalg.norm(n[bad]))
    for detail, zero_side, resolved in (
            ("analytic", np.abs(a) <= small, norm_a <= PRECISION * norm_n),
            ("numerical", np.abs(n) <= small, norm_n <= PRECISION * norm_a)):
        if resolved and np.all(zero_side[bad]):
            predicted = np.where(checked, n, np.nan)
            if detail == "analytic":
                predicted = np.where(bad, 0.0, predicted)
            else:
                predicted = np.where(bad, a, predicted)
            return Fit("zero", None, count, predicted, bad, detail)
    return None


def nice_number(value: float, spread: float, fits, sizes: dict[str, int]) -> tuple[float, str]:
    """The simplest number within ``spread`` of ``value`` for which ``fits(number)`` holds, and
    the name of the size it is (or "").

    Tries, in order: a size it can name (N, 1/N, -N, -1/N), fractions p/q with q <= 8, and
    ``value`` rounded to 3 significant digits; ``(value, "")`` if none holds.
    """
    candidates = []
    for name, size in sizes.items():
        for c in (size, 1 / size, -size, -1 / size):
            candidates.append((float(c), name))
    frac = Fraction(value).limit_denominator(8)
    if frac != 0:
        candidates.append((float(frac), ""))
    candidates.append((float(f"{value:.3g}"), ""))
    for c, name in candidates:
        if c != 0 and abs(c - value) <= spread and fits(c):
            return c, name
    return value, ""


def fit_scale(a, n, err, checked, sizes) -> Fit | None:
    """``analytic = k * numerical`` in every checked component (k = -1: a sign error)."""
    info = checked & (np.abs(n) > TOLERANCE * err)  # where k is visible; elsewhere a must be ~0
    count = int(info.sum())
    if count < MIN_SUPPORT:
        return None
    w = 1.0 / err[info] ** 2
    pinned = float(np.sum(w * n[info] ** 2))  # 1 / (k's relative standard error)**2
    k = float(np.sum(w * a[info] * n[info]) / pinned)
    if not np.isfinite(k) or k == 0.0:
        return None

    def fits(c: float) -> bool:
        return bool(np.all(agrees(a[checked], c * n[checked], max(abs(c), 1.0) *
                                  err[checked])))

    if not fits(k):
        return None
    if pinned < PRECISION ** -2:  # it fits, but so would factors a few percent away
        return Fit("unknown", None, count, np.where(checked, k * n, np.nan), None,
                   f"analytic is about {k:.2g} x numerical, but the finite differences pin the "
                   f"factor only to {pinned ** -0.5:.0%} here: too coarse to name it (a larger "
                   f"step, or float64, pins it)")
    k, name = nice_number(k, 3 * abs(k) * pinned ** -0.5, fits, sizes)  # within 3 std. errors
    if k == 1.0:
        return None
    kind = "sign" if k == -1.0 else "scale"
    return Fit(kind, k, count, np.where(checked, k * n, np.nan), None, name)


def fit_regularization(a, n, err, checked, param) -> Fit | None:
    """``analytic - numerical = c * parameter``: an L2 term missing (c = -lambda) or doubled."""
    if param is None:
        return None
    p = param
    d = a - n
    sel = checked
    den = float(np.sum(p[sel] ** 2))
    if den == 0.0:
        return None
    c = float(np.sum(d[sel] * p[sel]) / den)
    if not np.isfinite(c) or c == 0.0:
        return None
    testing = sel & (np.abs(c * p) > TOLERANCE * err)  # where the term is visible at all
    pinned = float(np.sum((c * p[sel] / err[sel]) ** 2))  # 1 / (c's relative std. error)**2
    if pinned < PRECISION ** -2:
        return None  # c is not pinned to 1%

    def fits(value: float) -> bool:
        return bool(np.all(agrees(a[sel], n[sel] + value * p[sel], err[sel])))

    if int(testing.sum()) < MIN_SUPPORT or not fits(c):
        return None
    c, _ = nice_number(c, 3 * abs(c) * pinned ** -0.5, fits, {})
    return Fit("regularization", c, int(testing.sum()), np.where(checked, n + c * p, np.nan))


def orderings(shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """Index permutations ``perm`` for which ``numerical.ravel()[perm]`` is the numerical
    gradient transposed, or reshaped in the other (C/Fortran) order; distinct, not identity."""
    size = int(np.prod(shape)) if shape else 1
    if len(shape) < 2 or size < 2:
        return []
    idx = np.arange(size).reshape(shape)
    found = []
    if tuple(shape[::-1]) == tuple(shape):
        found.append(("transposed", idx.transpose().ravel()))
    fortran = idx.ravel(order="F")
    found.append(("reshaped in Fortran order where C order was meant", fortran))
    found.append(("reshaped in C order where Fortran order was meant", np.argsort(fortran)))
    out, seen = [], set()
    for label, perm in found:
        key = perm.tobytes()
        if key in seen or np.array_equal(perm, np.arange(size)):
            continue
        seen.add(key)
        out.append((label, perm))
    return out


def fit_transpose(a, n, err, checked, shape) -> Fit | None:
    """``analytic = numerical`` transposed, or reshaped in the other order."""
    for label, perm in orderings(shape):
        pair = checked & checked[perm]  # both ends of the pairing were checked
        moved = pair & (perm != np.arange(perm.size))
        pn, perr = n[perm], err[perm]
        testing = moved & nonzero(a, pn, perr)
        if int(testing.sum()) < MIN_SUPPORT:
            continue
        if np.all(agrees(a[pair], pn[pair], perr[pair])):
            return Fit("transpose", None, int(testing.sum()), np.where(pair, pn, np.nan), None,
                       label)
    return None


def fit_subset(a, n, err, checked) -> Fit | None:
    """The two agree except in a minority of the nonzero components."""
    info = checked & nonzero(a, n, err)
    bad = checked & ~agrees(a, n, err)
    good = info & ~bad
    if not bad.any() or int(good.sum()) < MIN_SUPPORT or 2 * int(bad.sum()) > int(info.sum()):
        return None
    zero = np.all(np.abs(a[bad]) <= TOLERANCE * err[bad])
    return Fit("subset", None, int(good.sum()), np.where(good, n, np.nan), bad,
               "analytic" if zero else "")
