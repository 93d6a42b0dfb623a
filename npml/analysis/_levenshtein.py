"""Levenshtein (edit) distance between two token sequences, by dynamic programming.

The distance is the fewest insertions, deletions and substitutions that turn ``a`` into
``b``. With :math:`D_{i,j}` the distance between the first *i* tokens of ``a`` and the first
*j* of ``b``,

.. math::

    D_{i,0} = i, \\quad D_{0,j} = j, \\quad
    D_{i,j} = \\min\\big(D_{i-1,j} + 1,\\ D_{i,j-1} + 1,\\
                         D_{i-1,j-1} + [a_i \\ne b_j]\\big),

and :math:`D_{|a|,|b|}` is the answer (Levenshtein, 1966; Wagner & Fischer, 1974). Only the
previous row is needed, so memory is :math:`O(|b|)` and time :math:`O(|a| |b|)`.

``_levenshtein_kernel`` (Numba) walks the recurrence cell by cell. ``_levenshtein_reference``
(NumPy) computes a row at once: the deletion and substitution terms are element-wise, and
the insertion chain :math:`D_{i,j} = \\min_{k \\le j} (R_k + j - k)` is a running minimum of
:math:`R_k - k`, shifted back by *j*.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _levenshtein_kernel(a: np.ndarray, b: np.ndarray) -> int:
    """Edit distance between 1-D integer arrays ``a`` (m,) and ``b`` (n,)."""
    m, n = a.shape[0], b.shape[0]
    prev = np.arange(n + 1)  # row i - 1 of D
    row = np.empty(n + 1, dtype=prev.dtype)  # row i
    for i in range(1, m + 1):
        row[0] = i
        for j in range(1, n + 1):
            sub = prev[j - 1] + (1 if a[i - 1] != b[j - 1] else 0)
            row[j] = min(prev[j] + 1, row[j - 1] + 1, sub)
        prev, row = row, prev
    return prev[n]


@njit(cache=True)
def _levenshtein_rows_kernel(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Edit distance of each row pair of ``A`` (N, m) and ``B`` (N, n); returns (N,)."""
    out = np.empty(A.shape[0], dtype=np.int64)
    for r in range(A.shape[0]):
        out[r] = _levenshtein_kernel(A[r], B[r])
    return out


def _levenshtein_reference(a: np.ndarray, b: np.ndarray) -> int:
    """Plain-NumPy twin of :func:`_levenshtein_kernel` (module docstring), row by row."""
    n = b.shape[0]
    j = np.arange(n + 1)
    prev = j.copy()
    for i in range(1, a.shape[0] + 1):
        cand = np.empty(n + 1, dtype=np.int64)
        cand[0] = i
        cand[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (a[i - 1] != b))  # deletion, subst.
        prev = np.minimum.accumulate(cand - j) + j  # insertions: running minimum
    return int(prev[n])
