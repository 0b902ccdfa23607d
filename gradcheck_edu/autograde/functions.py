"""Named functions the course's tests hand to student code.

A test runs in the grading process and calls the student's function in its sandbox; a function
argument crosses as a reference by name (``module:qualname``, only for NumPy and this package),
never as code. So the tests pass these instead of lambdas.

>>> cube(2.0), fifth_power(2.0), sum_cubes(np.array([1.0, 2.0]))
(8.0, 32.0, 9.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["cube", "fifth_power", "sum_cubes", "sum_sin_times", "exp_of_sum"]


def cube(t):
    """t**3."""
    return t ** 3


def fifth_power(t):
    """t**5."""
    return t ** 5


def sum_cubes(t) -> float:
    """sum(t**3), of an array."""
    return float(np.sum(np.asarray(t) ** 3))


def sum_sin_times(t) -> float:
    """sum(sin(t) * t), of an array."""
    t = np.asarray(t)
    return float(np.sum(np.sin(t) * t))


def exp_of_sum(t) -> float:
    """exp(100 sum(t)), of an array: each component's slope depends on all the others."""
    return float(np.exp(100.0 * np.sum(np.asarray(t))))
