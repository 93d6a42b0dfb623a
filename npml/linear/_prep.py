"""One pass over the data: a transposed copy of ``X`` and its column means.

Coordinate descent reads ``X`` one column at a time, so it wants columns contiguous in
memory, while users pass C-ordered (row-major) arrays. Transposing costs a pass over the
data, and so do the column means that centring needs (to fit the intercept,
:math:`b = \\bar y - \\bar x^\\top w`); the kernel does both in the same pass, in blocks of
rows that stay in cache. Column sums are accumulated per block and then added up, which
keeps their round-off near :math:`(n / B + B)\\,\\epsilon` instead of :math:`n \\epsilon`.
A column whose entries are all equal gets its mean set to that value exactly, so that
it centres to exactly zero (and coordinate descent leaves its weight at 0).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BLOCK = 32  # rows per block: 32 rows x p columns of float64 stay in L1/L2 for p ~ 1000


def _transpose_mean_reference(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X.T as a C-contiguous (p, n) array, column means (p,))``, plain NumPy."""
    X_mean = X.mean(axis=0)  # (p,)
    constant = np.all(X == X[:1], axis=0)
    X_mean[constant] = X[0, constant]
    return np.ascontiguousarray(X.T), X_mean


@njit(cache=True, error_model="numpy")
def _transpose_mean_kernel(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compiled twin of :func:`_transpose_mean_reference` for C-contiguous ``X`` (n, p)."""
    n, p = X.shape
    Xt = np.empty((p, n))
    total = np.zeros(p)
    block = np.empty(p)
    constant = np.ones(p, dtype=np.bool_)
    first = X[0]
    for i0 in range(0, n, _BLOCK):
        i1 = min(i0 + _BLOCK, n)
        block[:] = 0.0
        for i in range(i0, i1):  # rows: contiguous reads
            row = X[i]
            for j in range(p):
                block[j] += row[j]
                constant[j] &= row[j] == first[j]
        for j in range(p):
            total[j] += block[j]
            for i in range(i0, i1):  # the same rows, now from cache, written as columns
                Xt[j, i] = X[i, j]
    X_mean = total / n
    for j in range(p):
        if constant[j]:
            X_mean[j] = first[j]
    return Xt, X_mean
