r"""Name the bug, not only the parameter: read the pattern of a mismatch.

A wrong gradient is rarely wrong at random. ``dW /= N`` makes analytic/numerical = 1/N in every
component; a sign error makes it -1; a forgotten L2 term leaves analytic - numerical = -lambda W;
``dC[ix] = ...`` where ``+=`` was meant leaves only the rows of repeated indices wrong.
:func:`read_pattern` fits one parameter's mismatch against these explanations and says which one
holds, in a sentence a student can act on.

>>> import numpy as np
>>> n = np.random.default_rng(0).standard_normal((5, 8))
>>> pattern = read_pattern(n / 8, n, noise=np.full(n.shape, 1e-9), sizes={"the batch size": 8})
>>> pattern.kind, f"{pattern.factor:.6f}", pattern.support
('scale', '0.125000', 40)
>>> print(str(pattern).replace(": a", ":\na"))
analytic = 1/8 x numerical in all 40 components:
a constant factor; 8 is the batch size:
a missing or extra 1/N?
>>> print(read_pattern(n, n, noise=np.full(n.shape, 1e-9)))  # nothing to explain
None

The explanations themselves are in :mod:`gradcheck_edu.pattern_fits`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .pattern_fits import (
    MIN_SUPPORT,
    RESOLUTION,
    TOLERANCE,
    agrees,
    error_bound,
    fit_regularization,
    fit_scale,
    fit_subset,
    fit_transpose,
    fit_zero,
    nonzero,
)
from .verdicts import Verdict

__all__ = ["KINDS", "MIN_SUPPORT", "Pattern", "Where", "read_pattern", "read_checked_pattern",
           "pattern_for"]

KINDS = ("scale", "sign", "transpose", "zero", "regularization", "subset", "unknown")


class Where(tuple):
    """The components a pattern names, in the parameter's own index space.

    A tuple of row numbers (``axis == "rows"``), column numbers (``"columns"``), indices along
    another axis (``"axis 2"``), or index tuples (``"entries"``; plain ints for a 1-D parameter).
    """

    axis: str

    def __new__(cls, items, axis: str):
        obj = super().__new__(cls, items)
        obj.axis = axis
        return obj

    def __str__(self) -> str:
        single = {"rows": "row", "columns": "column", "entries": "entry"}.get(self.axis,
                                                                            self.axis)
        items = [str(i) for i in self[:8]]
        if len(self) > 8:
            listed = ", ".join(items) + f", ... ({len(self)} in all)"
        elif len(items) > 1:
            listed = ", ".join(items[:-1]) + " and " + items[-1]
        else:
            listed = items[0] if items else "none"
        label = self.axis if len(self) != 1 else single
        if self.axis.startswith("axis"):
            label = f"indices along {self.axis}"
        return f"{label} {listed}"

    def __repr__(self) -> str:
        return f"Where({tuple(self)!r}, axis={self.axis!r})"


@dataclass(frozen=True)
class Pattern:
    """The pattern of one parameter's mismatch.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`: ``"scale"``, ``"sign"``, ``"transpose"``, ``"zero"``,
        ``"regularization"``, ``"subset"`` or ``"unknown"``.
    factor : float or None
        ``k`` of analytic = k x numerical (scale; -1.0 for sign), ``c`` of analytic - numerical
        = c x parameter (regularization), else None.
    where : Where or None
        For ``"subset"`` (and a ``"zero"`` that holds in part of the parameter): the rows,
        columns or entries involved, in the parameter's own index space; else None.
    support : int
        How many components support it (nonzero in one of the gradients and tested by it; for
        a subset, the nonzero components outside it that agree).
    text : str
        One sentence a student can act on; also ``str(pattern)``.
    predicted : ndarray, same shape as the parameter
        What the pattern says the analytic gradient is (NaN where it says nothing); drawn by
        :func:`~gradcheck_edu.plots.plot_pattern`.
    detail : str
        For transpose the pairing (``"transposed"``, ...); for zero which side is zero.
    involved : ndarray of bool, same shape as the parameter, or None
        For zero and subset: the components that hold the mismatch (drawn in red).
    """

    kind: str
    factor: float | None
    where: Where | None
    support: int
    text: str
    predicted: np.ndarray | None = field(default=None, repr=False, compare=False)
    detail: str = ""
    involved: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text


def read_pattern(analytic: Any, numerical: Any, *, noise: Any, shape: tuple | None = None,
                 param: Any = None, sizes: Mapping[str, int] | None = None,
                 directional: bool = False) -> Pattern | None:
    """Fit the mismatch of one parameter's two gradients against the kinds of :data:`KINDS`.

    Parameters
    ----------
    analytic, numerical : array_like, shape ``shape``
        The two gradients of one parameter. ``numerical`` is NaN where it was not computed (a
        sampled check) or should not be used (a kink).
    noise : array_like, ``shape`` (or as many values), or broadcastable to it
        The round-off bound of each numerical component
        (:func:`~gradcheck_edu.roundoff.noise_bound`). A pattern holds only if it explains every
        component to within ``2 x (noise + 1e-7 |numerical|)`` (times ``|k|`` for a factor k).
    shape : tuple, optional
        The parameter's shape (default: ``analytic``'s); the arrays are reshaped to it.
    param : array_like, shape ``shape``, optional
        The parameter's values, for the ``"regularization"`` kind.
    sizes : mapping of str -> int, optional
        Sizes a factor can be named by, e.g. ``{"the batch size": 8}``.
    directional : bool
        The arrays are directional derivatives (one per random direction): only a constant
        factor, a sign or zeros can be read from them.

    Returns
    -------
    Pattern or None
        None when the two agree in every checked component (nothing to explain); else the
        first kind that holds, in the order zero, scale/sign, regularization, transpose,
        subset, or ``"unknown"``: no kind fits, fewer than ``MIN_SUPPORT`` (4) nonzero
        components could test one, or the mismatch is less than ``RESOLUTION`` (20) times the
        estimate's error (too coarse an estimate fits several explanations).
    """
    a = np.array(analytic, dtype=np.float64)
    shape = a.shape if shape is None else tuple(int(s) for s in shape)
    a = _reshaped(a, shape, "analytic")
    n = _reshaped(np.array(numerical, dtype=np.float64), shape, "numerical")
    z = np.asarray(noise, dtype=np.float64)
    try:
        z = z.reshape(shape) if z.size == a.size else np.broadcast_to(z, shape)
    except ValueError:
        raise ValueError(f"noise has shape {np.shape(noise)}, which does not broadcast to the "
                         f"parameter's shape {shape}") from None
    p = None if param is None else _reshaped(np.array(param, dtype=np.float64), shape, "param")
    named = _check_sizes(sizes)

    a, n, z = a.ravel(), n.ravel(), z.ravel()
    checked = np.isfinite(n) & np.isfinite(z)
    if not checked.any():
        return None
    err = np.where(checked, error_bound(n, z), np.inf)
    count = int(checked.sum())
    scope = _scope(count, a.size, directional)
    if not np.all(np.isfinite(a[checked])):
        bad = int(np.sum(~np.isfinite(a[checked])))
        return Pattern("unknown", None, None, 0, f"the analytic gradient is NaN or Inf in {bad} "
                       f"of {scope}: look for a division by zero or an overflow in the backward")
    if np.all(agrees(a[checked], n[checked], err[checked])):
        return None
    informative = int(np.sum(checked & nonzero(a, n, err)))
    if informative < MIN_SUPPORT:
        if count == 1:
            what = "a single component"
        elif informative == count:
            what = f"{count} components in all"
        else:
            what = (f"only {informative} of {scope} {'differs' if informative == 1 else 'differ'}"
                    f" from 0 in either gradient")
        return Pattern("unknown", None, None, informative,
                       f"{what}: too few to read a pattern (at least {MIN_SUPPORT} needed)")
    bound = float(np.linalg.norm(TOLERANCE * err[checked]))
    mismatch = float(np.linalg.norm((a - n)[checked]))
    # an estimate that cannot err (a zero difference of exactly representable values) resolves
    # any mismatch
    ratio = mismatch / bound if bound > 0 else math.inf
    if ratio < RESOLUTION:
        return Pattern("unknown", None, None, informative,
                       f"the mismatch in {scope} is only {ratio:.1f} times what the finite "
                       f"differences can err by here: too coarse to read a pattern (at least "
                       f"{RESOLUTION:g} needed; a larger step, or float64, resolves more)")
    fits = [lambda: fit_zero(a, n, err, checked), lambda: fit_scale(a, n, err, checked, named)]
    if not directional:
        fits += [lambda: fit_regularization(a, n, err, checked, None if p is None else p.ravel()),
                 lambda: fit_transpose(a, n, err, checked, shape),
                 lambda: fit_subset(a, n, err, checked)]
    for attempt in fits:
        fit = attempt()
        if fit is not None:
            info = checked & nonzero(a, n, err)
            partial = fit.where is not None and bool(np.any(info & ~fit.where))
            where = _where(fit.where.reshape(shape), info.reshape(shape)) if partial else None
            n_named = 0 if fit.where is None else int(fit.where.sum())
            text = _sentence(fit, where, n_named, scope, count, informative)
            involved = None if fit.where is None else fit.where.reshape(shape)
            return Pattern(fit.kind, fit.factor, where, fit.support, text,
                           fit.predicted.reshape(shape), fit.detail, involved)
    if directional:
        text = (f"from {scope} only a constant factor, a sign or zeros can be read, and none "
                f"fits: run gradient_check(..., n_samples=...) to read transposes, L2 terms or "
                f"wrong rows")
    else:
        text = (f"no simple pattern (a constant factor, a sign, a transpose, zeros, an L2 term, "
                f"some rows only) explains the mismatch in {scope} to within the finite "
                f"differences' error: compare the backward with the forward line by line")
    return Pattern("unknown", None, None, informative, text)


def _reshaped(x: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    if x.size != int(np.prod(shape)):
        raise ValueError(f"{what} has {x.size} values but the parameter's shape {shape} has "
                         f"{int(np.prod(shape))}; pass the arrays of one parameter")
    return x.reshape(shape)


def _check_sizes(sizes: Mapping[str, int] | None) -> dict[str, int]:
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        raise TypeError(f"sizes must be a mapping such as {{'the batch size': 8}}, got "
                        f"{type(sizes).__name__}")
    out = {}
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"sizes[{name!r}] must be a whole number >= 1, got {size!r}")
        if size > 1:  # a factor 1 is no factor
            out[str(name)] = int(size)
    return out


def _scope(count: int, size: int, directional: bool) -> str:
    if directional:
        return f"all {count} directions" if count > 1 else "the one direction"
    if count == size:
        return f"all {count} components" if count > 1 else "its one component"
    return f"all {count} sampled components (of {size})"


def _where(mask: np.ndarray, info: np.ndarray) -> Where:
    """``mask`` described by whole rows, columns or indices along an axis when every nonzero
    component of those lines is in it, else entry by entry."""
    idx = np.argwhere(mask)
    shape = mask.shape
    best = None
    if len(shape) >= 2:
        grid = np.indices(shape)
        for axis in range(len(shape)):
            lines = np.unique(idx[:, axis])
            if np.any(np.isin(grid[axis], lines) & info & ~mask):
                continue
            if best is None or lines.size < best[1].size:
                best = (axis, lines)
    if best is not None:
        axis, lines = best
        label = {0: "rows", 1: "columns"}.get(axis, f"axis {axis}") if len(shape) == 2 \
            else f"axis {axis}"
        return Where(tuple(int(i) for i in lines), label)
    if len(shape) == 1:
        return Where(tuple(int(i) for i in idx[:, 0]), "entries")
    return Where(tuple(tuple(int(i) for i in row) for row in idx), "entries")


def _number(x: float) -> str:
    """A factor as a student writes it: 8, 1/8, -1, 3/2; else 3 significant digits."""
    frac = Fraction(x).limit_denominator(1024)
    if float(frac) == x and (frac.denominator <= 16 or frac.numerator in (1, -1)):
        return str(frac)
    return f"{x:.3g}"


def _sentence(fit, where: Where | None, n_named: int, scope: str, count: int,
              informative: int) -> str:
    nonzero_note = f" ({fit.support} of them nonzero)" if fit.support < count else ""
    if fit.kind == "unknown":  # a fit that holds but cannot be named: its own sentence
        return f"in {scope}{nonzero_note}, {fit.detail}"
    if fit.kind == "sign":
        return (f"analytic = -1 x numerical in {scope}{nonzero_note}: a sign error (x - y where "
                f"y - x was meant, or a step up the gradient)?")
    if fit.kind == "scale":
        k = fit.factor
        text = f"analytic = {_number(k)} x numerical in {scope}{nonzero_note}: a constant factor"
        size = round(abs(k)) if abs(k) >= 1 else round(1 / abs(k))
        if fit.detail:
            text += f"; {size} is {fit.detail}: a missing or extra 1/N?"
        elif abs(k) in (2.0, 0.5):
            text += " of 2: a derivative of a square (2x) missing or doubled, or a 1/2 in the loss?"
        else:
            text += ": a missing or extra scaling (a 1/N, a learning rate, a temperature)?"
        return text + (" The sign is flipped too." if k < 0 else "")
    if fit.kind == "regularization":
        c = f"{fit.factor:.3g}"  # as lambda is written: 0.01, 0.5
        why = ("an L2 term missing from the gradient (c = -lambda)?" if fit.factor < 0 else
               "an L2 term added twice, or added to the gradient but not to the loss "
               "(c = +lambda)?")
        tested = (f" ({fit.support} of them large enough to test it)" if fit.support < count
                  else "")
        return f"analytic - numerical = {c} x parameter in {scope}{tested}: {why}"
    if fit.kind == "transpose":
        return (f"analytic = numerical {fit.detail} in {scope} ({fit.support} components moved "
                f"by it): a missing or extra .T, or a reshape in the wrong (C/Fortran) order?")
    if fit.kind == "zero":
        zero, other = fit.detail, "numerical" if fit.detail == "analytic" else "analytic"
        place = scope if where is None else f"{where} ({n_named} components)"
        rest = "" if where is None else ", and the other components agree"
        if zero == "analytic":
            return (f"analytic is 0 in {place} where numerical is not{rest}: a gradient never "
                    f"written, a buffer overwritten, or a path cut in the backward?")
        return (f"numerical is 0 in {place} where {other} is not{rest}: the loss does not change "
                f"with these entries (unused in the forward pass, as the cells a max-pool does "
                f"not pick; or cancelled, as a bias before batch norm), yet the backward gives "
                f"them a gradient")
    # subset
    zero = " (analytic is 0 there)" if fit.detail == "analytic" else ""
    return (f"the mismatch sits in {where} only{zero}, {n_named} of the {informative} nonzero "
            f"components; the other {fit.support} agree: = where += was meant (repeated "
            f"indices), a mask from the wrong array, or one unit or sample mishandled?")



def read_checked_pattern(analytic: np.ndarray, numerical: np.ndarray, noise: np.ndarray,
                         flat: np.ndarray, kinks: np.ndarray, shape: tuple, param: Any = None,
                         sizes: Mapping[str, int] | None = None) -> Pattern | None:
    """:func:`read_pattern` for a report builder: one parameter's checked components.

    Parameters
    ----------
    analytic : ndarray, ``size`` of the parameter
        Its whole analytic gradient, flat.
    numerical, noise, kinks : ndarray, (n_checked,)
        The estimate, its round-off bound and its kinks, at the flat positions ``flat`` (kinks
        are left out: their mismatch is explained).
    shape, param, sizes
        As for :func:`read_pattern` (``param`` may be the complex copy of a complex-step check:
        its real part is used).
    """
    size = int(np.prod(shape)) if shape else 1
    n_full = np.full(size, np.nan)
    z_full = np.full(size, np.nan)
    n_full[flat] = np.where(kinks, np.nan, numerical)
    z_full[flat] = noise
    values = None if param is None else np.real(np.asarray(param)).reshape(-1)
    return read_pattern(analytic, n_full, noise=z_full, shape=shape, param=values, sizes=sizes)


def pattern_for(verdict: Verdict | None, read: Callable[..., Pattern | None], *args: Any,
                **kwargs: Any) -> Pattern | None:
    """The pattern a report row gets: None when it passed, was not checked, or the check
    cannot tell (CANNOT_TELL: the difference is within what the finite differences can err by,
    so there is no mismatch to read, and the row's note says why); else
    ``read(*args, **kwargs)`` (:func:`read_pattern` or :func:`read_checked_pattern`), and
    ``"unknown"`` if no component on its own is off by more than the estimate's error."""
    if verdict is None or verdict <= Verdict.CANNOT_TELL:
        return None
    found = read(*args, **kwargs)
    if found is None:
        return Pattern("unknown", None, None, 0, "no component differs by more than twice "
                       "the finite differences' error on its own, only all of them together: no "
                       "pattern can be read")
    return found
