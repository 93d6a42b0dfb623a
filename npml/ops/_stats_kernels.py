"""Combining Welford summaries fast: the Numba lane kernel and the pairwise Chan merge.

The equations (Welford's update, the pairwise and the k-way merge of Chan, Golub and
LeVeque) are in :mod:`npml.ops.stats`, whose plain-NumPy twin ``_welford_reference`` is
tested against :func:`_welford_kernel`; :class:`npml.ops.stats.RunningStats` calls both.
Inputs are C-contiguous float64 ``(n, D)``, validated by the caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _welford_kernel(x: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """Numba twin of ``npml.ops.stats._welford_reference``, ``lanes`` interleaved recurrences.

    Rows ``l, l + L, l + 2L, ...`` of ``x`` (n, D) go to lane ``l``: the first
    ``(n // L) * L`` rows are viewed as ``(n // L, L * D)`` and each of the ``L * D``
    columns runs its own Welford recurrence (the inner loop vectorises); the lanes are then
    merged by the k-way Chan formula of :mod:`npml.ops.stats` and the remaining rows continue
    Welford's update.
    """
    n, D = x.shape
    rows = n // lanes
    W = lanes * D
    xl = x[: rows * lanes].reshape((rows, W))  # (n // L, L * D), a view
    mean = np.zeros(W)
    m2 = np.zeros(W)
    for i in range(rows):
        inv = 1.0 / (i + 1)  # shared by every column: one division per row
        for w in range(W):
            delta = xl[i, w] - mean[w]
            mean[w] += delta * inv
            m2[w] += delta * (xl[i, w] - mean[w])
    out_mean = np.zeros(D)
    out_m2 = np.zeros(D)
    for d in range(D):  # merge the L lanes of column d (npml.ops.stats's docstring)
        mu = 0.0
        for lane in range(lanes):
            mu += mean[lane * D + d]
        mu /= lanes
        acc = 0.0
        for lane in range(lanes):
            dev = mean[lane * D + d] - mu
            acc += m2[lane * D + d] + rows * dev * dev
        out_mean[d] = mu
        out_m2[d] = acc
    for i in range(rows * lanes, n):  # the last n % L rows, one at a time
        inv = 1.0 / (i + 1)
        for d in range(D):
            delta = x[i, d] - out_mean[d]
            out_mean[d] += delta * inv
            out_m2[d] += delta * (x[i, d] - out_mean[d])
    return out_mean, out_m2


def _chan_merge(
    n_a: int, mean_a: np.ndarray, m2_a: np.ndarray, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge two summaries by the pairwise formula of Chan et al. (:mod:`npml.ops.stats`)."""
    n = n_a + n_b
    if n_a == 0 or n_b == 0:
        return (n, mean_b, m2_b) if n_a == 0 else (n, mean_a, m2_a)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta * delta * (n_a * (n_b / n))
    return n, mean, m2
