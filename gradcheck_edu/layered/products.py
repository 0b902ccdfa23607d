"""Matrix products issued in row blocks small enough to run on one thread.

OpenBLAS (the BLAS of NumPy's wheels) splits a product over its threads once ``m * n * k``
reaches 2**18, and every threaded call waits for all of its threads. On a machine where another
process keeps a core busy that wait is a scheduler time slice, per call. Measured on the
project's 2-core machine (2026-11-29), the structure-aware check of a batch-norm
MLP([64, 64, 64, 10]) at batch 128, which issues about a thousand such products: with one core
busy elsewhere, 1.2 to 2.0 s threaded against 0.38 s in blocks; on an idle machine 0.36 s
threaded against 0.35 s in blocks. So they are issued in row blocks under that size: one thread
each, full speed whatever else runs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SINGLE_THREAD_MACS", "matmul_rows"]

SINGLE_THREAD_MACS = 2**18  # OpenBLAS threads a product of m * n * k at or above this


def matmul_rows(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n), in blocks of rows below
    ``SINGLE_THREAD_MACS`` multiply-adds; into ``out`` (m, n) if given."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=np.result_type(a, b))
    rows = max(1, (SINGLE_THREAD_MACS - 1) // max(1, k * n))
    for s in range(0, m, rows):
        np.matmul(a[s:s + rows], b, out=out[s:s + rows])
    return out
