"""Datasets, NumPy only. Each returns ``(X, y)``: float64 X, int64 y.

Seeded toy data (``spiral``, ``xor``, ``moons``, ``blobs``) and one real set shipped inside the
package: the UCI handwritten digits (``digits``), 8x8 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["spiral", "xor", "moons", "blobs", "digits", "DIGITS_SHAPE"]

DIGITS_SHAPE = (8, 8)
_DIGITS_FILE = Path(__file__).resolve().parent / "data" / "digits.npz"


def digits(scale: bool = True):
    """The UCI handwritten digits: 1797 images of 8x8 pixels, the digits 0 to 9.

    Shipped inside the package (``gradcheck_edu/data/digits.npz``, about 45 kB; never the
    network). Source: "Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak,
    UCI Machine Learning Repository (1998), CC BY 4.0; the copy scikit-learn ships (BSD-3).
    Each pixel counts the ink in a 4x4 block of a 32x32 bitmap: an integer 0 to 16.

    Parameters
    ----------
    scale : bool
        True (default): pixels divided by 16, so every input is in [0, 1], as a course loads
        them. False: the raw counts 0..16 (as float64), the unscaled inputs of a pipeline that
        forgot to scale.

    Returns
    -------
    X : ndarray of float64, shape (1797, 64)
        One image per row, row-major (``X[i].reshape(8, 8)`` is the picture).
    y : ndarray of int64, shape (1797,)
        The digit, 0..9 (174 to 183 images each).

    Examples
    --------
    >>> X, y = digits()
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((1797, 64), dtype('float64'), (1797,), dtype('int64'))
    >>> print(f"{X.min():.1f} {X.max():.1f}", sorted(set(y.tolist())) == list(range(10)))
    0.0 1.0 True
    """
    with np.load(_DIGITS_FILE) as data:
        pixels, labels = data["pixels"], data["labels"]
    X = pixels.astype(np.float64)
    if scale:
        X /= 16.0
    return X, labels.astype(np.int64)


def spiral(n_per_class: int = 100, n_classes: int = 3, seed: int = 0, noise: float = 0.2):
    """The CS231n spiral: ``n_classes`` interleaved arms, not linearly separable.

    The radius runs over ``(0, 1]`` rather than ``[0, 1]``, so the arms do not all start at the
    origin (one point with every label, which no model can fit and which would appear in any
    train/validation split).

    >>> X, y = spiral(100, 3)
    >>> X.shape, y.shape, sorted(set(y.tolist()))
    ((300, 2), (300,), [0, 1, 2])
    """
    rng = np.random.default_rng(seed)
    X = np.zeros((n_per_class * n_classes, 2))
    y = np.zeros(n_per_class * n_classes, dtype=np.int64)
    for j in range(n_classes):
        ix = slice(n_per_class * j, n_per_class * (j + 1))
        r = np.linspace(0.0, 1, n_per_class + 1)[1:]
        t = np.linspace(j * 4, (j + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


def xor(n: int = 200, seed: int = 0, noise: float = 0.1):
    """Points around the four corners of a square; the label is the XOR of the signs."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n, 2))
    X = (2 * corners - 1) + noise * rng.standard_normal((n, 2))
    return X, (corners[:, 0] ^ corners[:, 1]).astype(np.int64)


def moons(n: int = 200, seed: int = 0, noise: float = 0.1):
    """Two interleaving half circles."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n - n0)
    X = np.r_[np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]]
    X += noise * rng.standard_normal(X.shape)
    y = np.r_[np.zeros(n0, dtype=np.int64), np.ones(n - n0, dtype=np.int64)]
    return X, y


def blobs(n: int = 300, n_classes: int = 3, n_features: int = 2, seed: int = 0,
          spread: float = 1.0):
    """Gaussian clusters around random centres in ``[-5, 5]^n_features``."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (n_classes, n_features))
    y = np.arange(n) % n_classes
    X = centres[y] + spread * rng.standard_normal((n, n_features))
    return X, y.astype(np.int64)
