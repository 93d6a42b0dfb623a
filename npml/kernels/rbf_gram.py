"""The RBF Gram matrix in one fused pass: distances, exponential, scale.

.. math::

    K_{ij} = \\sigma^2 \\exp\\!\\big(-\\tfrac12 \\lVert x_i - y_j \\rVert^2\\big)
    \\qquad (x, y \\text{ already divided by the length scales})

Computed row by row in a Numba kernel (:func:`_rbf_gram_kernel`, readable twin
:func:`_rbf_gram_reference`): each row's squared distances go straight into the
exponential while they are in cache, instead of three more passes over an
:math:`N \\times M` array. For ``K(X)`` only the lower triangle is computed (rows paired
``i`` with ``N - 1 - i`` so that threads get equal work) and then mirrored, which halves
the distances and exponentials.

The exponential is :func:`_exp_row`, a loop LLVM vectorises (a call to ``exp`` cannot
be): Cody-Waite range reduction :math:`x = k \\ln 2 + r`, :math:`|r| \\le \\ln 2 / 2`, a
degree-13 Taylor polynomial for :math:`e^r` (truncation error below
:math:`5 \\cdot 10^{-18}`), and :math:`2^k` assembled in the exponent bits
(J.-M. Muller, *Elementary Functions*, 3rd ed., 2016, ch. 11). Its arguments here are
never positive; below :math:`-708` (where :math:`e^x` < 3e-308) it returns 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from npml._threading import parallel_region
from npml.kernels.distances import (
    DIRECT_MAX_FEATURES,
    PARALLEL_MIN_WORK,
    _sq_dist,
    _sq_dist_reference,
    _sq_dist_row,
)

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two so that k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer in the low bits
_SHIFTER_BITS = 0x4338000000000000  # the bit pattern of _SHIFTER
_EXP_MIN = -708.0


def _rbf_gram_reference(Xs: np.ndarray, Ys: np.ndarray, variance: float) -> np.ndarray:
    """Readable definition: ``variance * exp(-D / 2)`` on the squared distances."""
    return variance * np.exp(-0.5 * _sq_dist_reference(Xs, Ys))


@njit(cache=True, error_model="numpy")
def _exp_row(x, out, bits):  # pragma: no cover - compiled
    """``out = exp(x)`` for ``x <= 0`` (0 below -708); ``out`` may be ``x`` itself; ``bits``
    is scratch of the same size."""
    n = x.shape[0]
    for j in range(n):
        xj = max(x[j], _EXP_MIN)
        t = xj * _INV_LN2 + _SHIFTER  # its low mantissa bits hold k = round(x / ln 2)
        k = t - _SHIFTER
        r = (xj - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln(2) / 2
        p = 1.0 / 6227020800.0  # Horner form of sum_{m <= 13} r^m / m!
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[j] = p * r + 1.0 if x[j] >= _EXP_MIN else 0.0
        bits[j] = t
    ibits = bits.view(np.int64)
    for j in range(n):  # 2^k: biased exponent k + 1023 in bits 52..62
        ibits[j] = (ibits[j] - _SHIFTER_BITS + 1023) << 52
    for j in range(n):
        out[j] *= bits[j]


@njit(cache=True, error_model="numpy")
def _rbf_row(x, YsT, variance, row, scratch):  # pragma: no cover - compiled
    """``row[j] = variance * exp(-||x - y_j||^2 / 2)`` for the ``len(row)`` first ``y_j``."""
    row[:] = 0.0
    _sq_dist_row(x, YsT, row)
    for j in range(row.shape[0]):
        row[j] *= -0.5
    _exp_row(row, row, scratch)
    if variance != 1.0:
        for j in range(row.shape[0]):
            row[j] *= variance


@njit(parallel=True, cache=True, error_model="numpy")
def _rbf_gram_kernel(Xs, YsT, variance, symmetric):  # pragma: no cover - compiled
    """Rows in parallel; with ``symmetric`` (``YsT`` is ``Xs.T``) the lower triangle only,
    rows ``p`` and ``N - 1 - p`` in one task, then mirrored. Every entry's arithmetic is
    the same whatever the thread count."""
    N, M = Xs.shape[0], YsT.shape[1]
    out = np.empty((N, M))
    if not symmetric:
        for i in prange(N):
            _rbf_row(Xs[i], YsT, variance, out[i], np.empty(M))
        return out
    for p in prange((N + 1) // 2):
        scratch = np.empty(N)
        lo = np.int64(p)
        _rbf_row(Xs[lo], YsT, variance, out[lo, : lo + 1], scratch[: lo + 1])
        hi = N - 1 - lo
        if hi != lo:
            _rbf_row(Xs[hi], YsT, variance, out[hi, : hi + 1], scratch[: hi + 1])
    _mirror_lower(out)
    return out


@njit(parallel=True, cache=True)
def _mirror_lower(A):  # pragma: no cover - compiled
    """Copy the strict lower triangle of square ``A`` to the upper one, in 64 x 64 tiles."""
    N = A.shape[0]
    B = 64
    nb = (N + B - 1) // B
    for bi in prange(nb):
        for bj in range(bi + 1):
            for i in range(bi * B, min(N, bi * B + B)):
                for j in range(bj * B, min(i, bj * B + B)):
                    A[j, i] = A[i, j]


@njit(cache=True, error_model="numpy")
def _rbf_gram_kernel_serial(Xs, YsT, variance, symmetric):  # pragma: no cover - compiled
    """:func:`_rbf_gram_kernel` on one thread, for problems too small to share."""
    N, M = Xs.shape[0], YsT.shape[1]
    out = np.empty((N, M))
    scratch = np.empty(M)
    for i in range(N):
        m = i + 1 if symmetric else M
        _rbf_row(Xs[i], YsT, variance, out[i, :m], scratch[:m])
    if symmetric:
        for i in range(N):
            for j in range(i):
                out[j, i] = out[i, j]
    return out


def rbf_gram(Xs: np.ndarray, Ys: np.ndarray | None, variance: float) -> np.ndarray:
    """``variance * exp(-sq_dist(Xs, Ys) / 2)`` for validated, length-scaled inputs."""
    if Xs.shape[1] > DIRECT_MAX_FEATURES:  # many features: BLAS distances, NumPy exp
        K = _sq_dist(Xs, Ys)
        K *= -0.5
        np.exp(K, out=K)
        return K * variance if variance != 1.0 else K
    Xs = np.ascontiguousarray(Xs, dtype=np.float64)
    symmetric = Ys is None
    YsT = np.ascontiguousarray((Xs if symmetric else Ys).T, dtype=np.float64)  # (D, M)
    if Xs.size * YsT.shape[1] < PARALLEL_MIN_WORK:
        return _rbf_gram_kernel_serial(Xs, YsT, float(variance), symmetric)
    with parallel_region():  # Python threads may share the kernel (npml._threading)
        return _rbf_gram_kernel(Xs, YsT, float(variance), symmetric)
