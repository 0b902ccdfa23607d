"""Is a committed figure what the code draws? An answer that holds on any CPU.

Round-off depends on the machine: NumPy picks SIMD kernels for ``exp``/``sin``/``tanh`` by CPU
features (AVX2, AVX-512, NEON), and a kernel may return a different last bit, which is as valid
(each is within an ulp or two of the exact value). A figure of error against step draws that
round-off: on the round-off side of a difference quotient an error of one ulp in f becomes an
error of about EPS*|f|/eps in the estimate, i.e. a different point on the plot. So two machines
draw the same figure with different round-off pixels, and no pixel test can ask for equality there.

The rule used here: a committed figure is current when it differs from what the code draws on
this machine only in pixels that round-off can move. Those pixels are found by asking the code
itself: the figure is drawn again with every transcendental function's result moved by an equally
valid last bit (:func:`roundoff_perturbed`), several times; the union of the pixels that changed,
filled in between in each column (round-off moves points up and down) and widened by ``REACH``
pixels, is where round-off lives.
Everything else (titles, labels, ticks, legend text other than fitted round-off numbers, the
truncation side of each curve, bars above the round-off floor, colours, size) must match. A pixel
differs when a channel differs by more than ``LEVEL``, so that anti-aliasing that rounds a level
differently on another build of Agg is not a difference, while any drawn change (a line, a glyph)
is.
"""

from __future__ import annotations

import cmath
import contextlib
import math
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

# NumPy's functions whose last bit depends on the CPU (SIMD kernels, or libm); +, -, *, /, sqrt
# are correctly rounded by IEEE 754 everywhere, so they are left alone.
TRANSCENDENTALS = ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh")
# a channel must differ by more than this to count (8 of 255 levels: a rounding of the
# anti-aliasing weight moves a level by one or two; a line or a glyph moves it by far more)
LEVEL = 8 / 255
# (seed, ulps) of the perturbed drawings that map where round-off lives: results moved by up to
# 1, 2 and 4 ulp, wider than the differences between CPUs' kernels (NumPy's SIMD kernels are
# within 1-4 ulp of the exact value), so that the map spans the band round-off can reach and the
# places the best step can wander to along the flat bottom of an error curve
SEEDS = ((1, 1), (2, 1), (3, 2), (4, 2), (5, 4), (6, 4))
# the map widened by this many pixels: another CPU's round-off is another realisation of the
# same noise, whose points fall near (not on) the ones the perturbed drawings put. Measured on an
# AVX2 machine, figures/error_order_float64.png (drawn on another CPU) against this code's drawing:
# 5,652 pixels differ, of which 50, 4, 0 lie outside the map widened by 0, 2, 4 pixels; with the
# drawing perturbed by a seed not in SEEDS (11, every result, 1 ulp), 202, 63, 15, 0 outside the
# map widened by 0, 2, 4, 8 pixels (and for the float32 figure 212, 65, 22, 0). Once fit_order
# left out round-off-dominated points (issue 23), seed 11 left 4 pixels outside at 8: the edge of
# the best-step star (ms=14, 19 pixels across), whose height is a round-off-dominated error. So
# the reach is half a star and its edge: 12.
REACH = 12


def _other_last_bit(values: np.ndarray, seed: int, ulps: int = 1,
                    share: float = 2 / 3) -> np.ndarray:
    """``values`` with a ``share`` of the elements moved by ``ulps`` ulp, half up, half down,
    picked by a hash of each element's bits and ``seed`` (deterministic, so that a perturbed
    drawing is reproducible)."""
    if values.dtype.kind == "c":
        return (_other_last_bit(values.real, seed, ulps, share)
                + 1j * _other_last_bit(values.imag, seed + 7, ulps, share))
    if values.dtype.kind != "f":
        return values
    uint = {8: np.uint64, 4: np.uint32, 2: np.uint16}[values.dtype.itemsize]
    bits = np.array(values, copy=True).view(uint).astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = (bits + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    pick = (mixed >> np.uint64(40)).astype(np.float64) / 2.0**24  # uniform in [0, 1)
    step = np.where(pick < share / 2, -1, np.where(pick < share, 1, 0))
    up, down = values, values
    for _ in range(ulps):
        up = np.nextafter(up, np.array(np.inf, values.dtype))
        down = np.nextafter(down, np.array(-np.inf, values.dtype))
    return np.where(step > 0, up, np.where(step < 0, down, values)).astype(values.dtype)


def _scalar_libm(name: str, original: Callable) -> Callable:
    """``np.<name>`` evaluated element by element by Python's ``math``/``cmath`` (the C
    library, no SIMD), in double precision and then rounded to the input's precision."""
    real, complex_ = getattr(math, name), getattr(cmath, name, None)

    def one(fn, v):
        try:
            return fn(v)
        except (OverflowError, ValueError):
            return original(v)

    def evaluate(x):
        a = np.asarray(x)
        if a.dtype.kind not in "fc" or (a.dtype.kind == "c" and complex_ is None):
            return original(x)
        fn = complex_ if a.dtype.kind == "c" else real
        return np.array([one(fn, v) for v in a.ravel().tolist()],
                        dtype=a.dtype).reshape(a.shape)
    return evaluate


@contextlib.contextmanager
def roundoff_perturbed(mode: int | str, ulps: int = 1, share: float = 2 / 3):
    """Within this block, NumPy's transcendental functions return another valid last bit.

    ``mode`` an int: a ``share`` of the results moved by ``ulps`` ulp up or down (``mode`` seeds
    the pick). ``"libm"``: each
    evaluated without SIMD, by the C library through ``math``/``cmath``. Calls with keywords
    (``out=``, ``where=``) or several arguments are left exact.
    """
    originals = {name: getattr(np, name) for name in TRANSCENDENTALS}

    def wrap(name):
        original = originals[name]
        libm = _scalar_libm(name, original) if mode == "libm" else None

        def perturbed(*args, **kwargs):
            if len(args) != 1 or kwargs:
                return original(*args, **kwargs)
            if libm is not None:
                result = libm(args[0])
            else:
                result = np.asarray(original(args[0]))
                result = _other_last_bit(result, int(mode), ulps, share)
            return result if result.ndim else result[()]
        return perturbed

    try:
        for name in TRANSCENDENTALS:
            setattr(np, name, wrap(name))
        yield
    finally:
        for name, fn in originals.items():
            setattr(np, name, fn)


def differing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels (rows, columns) where a channel of two decoded images differs by more than LEVEL."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).max(axis=-1) > LEVEL


def widen(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` grown by ``reach`` pixels in every direction (a square neighbourhood)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for shift in range(1, reach + 1):
            grown |= np.roll(out, shift, axis=axis) & _not_wrapped(out.shape, axis, shift)
            grown |= np.roll(out, -shift, axis=axis) & _not_wrapped(out.shape, axis, -shift)
        out = grown
    return out


def _columns_filled(mask: np.ndarray) -> np.ndarray:
    """In each column, every row between the first and the last marked one: round-off moves a
    point up and down (its error), so another realisation falls between the ones seen."""
    rows = np.arange(mask.shape[0])[:, None]
    marked = mask.any(axis=0)
    first = np.where(marked, mask.argmax(axis=0), mask.shape[0])
    last = np.where(marked, mask.shape[0] - 1 - mask[::-1].argmax(axis=0), -1)
    return (rows >= first) & (rows <= last)


def _not_wrapped(shape, axis, shift):
    index = np.arange(shape[axis])
    keep = index >= shift if shift > 0 else index < shape[axis] + shift
    return keep[:, None] if axis == 0 else keep[None, :]


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def roundoff_map(drawn: Path, redraw: Callable[[Path], Path]) -> np.ndarray:
    """The pixels of the drawing ``drawn`` that round-off can move (rows, columns).

    ``redraw(folder)`` draws the same figure into ``folder`` and returns its path; it is called
    once per entry of SEEDS, inside :func:`roundoff_perturbed`.
    """
    new = read_png(drawn)
    moved = np.zeros(new.shape[:2], dtype=bool)
    with tempfile.TemporaryDirectory() as tmp:
        for seed, ulps in SEEDS:
            with roundoff_perturbed(seed, ulps):
                path = redraw(Path(tmp) / str(seed))
            moved |= differing(read_png(path), new)
    return widen(_columns_filled(moved), REACH)


def stale_reason(name: str, committed: Path, drawn: Path,
                 roundoff: Callable[[], np.ndarray]) -> str | None:
    """None if the committed PNG is what was drawn, up to round-off; else what differs.

    ``drawn`` is the code's drawing on this machine; ``roundoff()`` gives the pixels round-off
    can move in it (:func:`roundoff_map`), asked for only when some pixel differs.
    """
    old, new = read_png(committed), read_png(drawn)
    if old.shape != new.shape:
        return (f"figures/{name}.png is {old.shape[1]}x{old.shape[0]} pixels, the code draws "
                f"{new.shape[1]}x{new.shape[0]}")
    diff = differing(old, new)
    if not diff.any():
        return None
    where = roundoff()
    outside = diff & ~where
    if not outside.any():
        return None
    rows, cols = np.nonzero(outside)
    return (f"figures/{name}.png differs from what the code draws in {int(outside.sum()):,} "
            f"pixels that round-off cannot move ({int(diff.sum()):,} differ in all; round-off "
            f"can move {int(where.sum()):,}), in rows "
            f"{rows.min()}-{rows.max()}, columns {cols.min()}-{cols.max()} (from the top left)")
