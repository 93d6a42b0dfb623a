"""Pairwise squared Euclidean distances, the input of every stationary kernel.

.. math::

    D_{ij} = \\lVert x_i - y_j \\rVert^2 = \\sum_{d=1}^{D} (x_{id} - y_{jd})^2

Two ways to compute it:

* **direct differences** (the Numba kernel :func:`_sq_dist_kernel`, parallel over rows,
  its serial copy for small problems, and their NumPy twin
  :func:`_sq_dist_reference`): :math:`2 N M D` flops; every term is a square, so the result
  is never negative and ``sq_dist(X)`` has an exactly zero diagonal and is exactly symmetric.
  It wins for the few features (``D`` up to a few dozen) that kernel methods usually see.
* **the BLAS expansion** :math:`\\lVert x\\rVert^2 + \\lVert y\\rVert^2 - 2\\,x^\\top y`
  (:func:`_sq_dist_blas`): one matrix product, fastest for many features, but the
  subtraction cancels for nearby points and can leave small *negative* numbers, so the
  result is clamped at 0 (and the diagonal of ``sq_dist(X)`` is set to 0).

:func:`weighted_sq_diff_sums` is the matching tool for gradients: for any weight matrix
:math:`A` it returns :math:`s_d = \\sum_{ij} A_{ij} (x_{id} - x_{jd})^2` per feature in one
pass over :math:`A`, instead of building an :math:`N \\times N \\times D` tensor (the
"trace trick" behind the length-scale gradients of :mod:`npml.kernels.stationary`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from npml._checks import check_array, check_last_dim
from npml._threading import parallel_region

# Above this many features the BLAS expansion beats direct differences.
DIRECT_MAX_FEATURES = 32
# Below this many N * M * D terms one thread is faster than waking the pool (and leaves
# no spinning worker threads behind to slow the BLAS calls that follow).
PARALLEL_MIN_WORK = 1 << 21


def _sq_dist_reference(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Readable definition: broadcast the differences (memory ``N * M * D``)."""
    diff = X[:, None, :] - Y[None, :, :]  # (N, M, D)
    return np.einsum("nmd,nmd->nm", diff, diff)  # (N, M)


@njit(cache=True, error_model="numpy")
def _sq_dist_row(x, YT, row):  # pragma: no cover - compiled
    """``row[j] = ||x - Y[j]||^2``; the inner loop runs over contiguous ``j`` and vectorises."""
    for d in range(x.shape[0]):
        xd = x[d]
        yd = YT[d]
        for j in range(row.shape[0]):
            t = xd - yd[j]
            row[j] += t * t


@njit(parallel=True, cache=True, error_model="numpy")
def _sq_dist_kernel(X, YT):  # pragma: no cover - compiled
    """Direct differences, rows in parallel; ``YT`` is ``Y`` transposed, shape (D, M).
    Every entry is summed in the same order, so the result does not depend on threads."""
    out = np.zeros((X.shape[0], YT.shape[1]))
    for i in prange(X.shape[0]):
        _sq_dist_row(X[i], YT, out[i])
    return out


@njit(cache=True, error_model="numpy")
def _sq_dist_kernel_serial(X, YT):  # pragma: no cover - compiled
    """:func:`_sq_dist_kernel` on one thread: waking a thread pool costs more than small
    problems take (and far more on a loaded machine)."""
    out = np.zeros((X.shape[0], YT.shape[1]))
    for i in range(X.shape[0]):
        _sq_dist_row(X[i], YT, out[i])
    return out


def _sq_dist_blas(X: np.ndarray, Y: np.ndarray, same: bool) -> np.ndarray:
    """The BLAS expansion, clamped at 0 (round-off can make near-zero distances negative)."""
    XX = np.einsum("nd,nd->n", X, X)  # (N,)
    YY = XX if same else np.einsum("md,md->m", Y, Y)  # (M,)
    D2 = X @ Y.T  # (N, M)
    D2 *= -2.0
    D2 += XX[:, None]
    D2 += YY[None, :]
    np.maximum(D2, 0.0, out=D2)
    if same:
        np.fill_diagonal(D2, 0.0)
    return D2


def sq_dist(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Pairwise squared Euclidean distances, never negative.

    Parameters
    ----------
    X : array_like, shape (N, D)
    Y : array_like, shape (M, D), optional
        Defaults to ``X`` (then the result is symmetric with a zero diagonal).

    Returns
    -------
    ndarray, shape (N, M)
        ``D[i, j] = ||X[i] - Y[j]||^2`` in float64.

    Notes
    -----
    Direct differences (a parallel Numba kernel) for ``D <= 32`` features, the clamped
    BLAS expansion above.
    """
    X = check_array(X, "X", ndim=2, dtype=np.float64)
    if Y is not None:
        Y = check_array(Y, "Y", ndim=2, dtype=np.float64)
        check_last_dim(Y, "Y", X.shape[1])
    return _sq_dist(X, Y)


def _sq_dist(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """:func:`sq_dist` on validated float arrays (the kernels' inner call)."""
    same = Y is None or Y is X
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = X if same else np.ascontiguousarray(Y, dtype=np.float64)
    if X.shape[1] > DIRECT_MAX_FEATURES:
        return _sq_dist_blas(X, Y, same)
    YT = np.ascontiguousarray(Y.T)  # (D, M)
    if X.size * Y.shape[0] < PARALLEL_MIN_WORK:
        return _sq_dist_kernel_serial(X, YT)
    with parallel_region():  # Python threads may share the kernel (npml._threading)
        return _sq_dist_kernel(X, YT)


@njit(cache=True, error_model="numpy")
def _weighted_row(A_i, x_i, XT, out_i):  # pragma: no cover - compiled
    """``out_i[d] = sum_j A_i[j] (x_i[d] - X[j, d])^2``; inner loop over contiguous ``j``."""
    for d in range(x_i.shape[0]):
        xd = x_i[d]
        col = XT[d]
        acc = 0.0
        for j in range(A_i.shape[0]):
            t = xd - col[j]
            acc += A_i[j] * t * t
        out_i[d] = acc


@njit(parallel=True, cache=True, error_model="numpy")
def _weighted_sq_diff_sums_kernel(A, X, XT):  # pragma: no cover - compiled
    """Per-row partial sums in parallel, then a fixed-order sum over rows."""
    parts = np.empty(X.shape)
    for i in prange(X.shape[0]):
        _weighted_row(A[i], X[i], XT, parts[i])
    return parts.sum(axis=0)


@njit(cache=True, error_model="numpy")
def _weighted_sq_diff_sums_kernel_serial(A, X, XT):  # pragma: no cover - compiled
    parts = np.empty(X.shape)
    for i in range(X.shape[0]):
        _weighted_row(A[i], X[i], XT, parts[i])
    return parts.sum(axis=0)


def weighted_sq_diff_sums(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Per-feature weighted sums of squared differences, without an (N, N, D) tensor.

    .. math::

        s_d = \\sum_{ij} A_{ij} (x_{id} - x_{jd})^2

    for any ``A`` (not necessarily symmetric): one pass over ``A`` in a Numba kernel
    (:math:`3 N^2 D` flops, rows in parallel for large problems), with the readable twin
    :func:`_weighted_sq_diff_sums_reference`. Inputs are assumed validated.

    Parameters
    ----------
    A : ndarray, shape (N, N)
    X : ndarray, shape (N, D)

    Returns
    -------
    ndarray, shape (D,)
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    XT = np.ascontiguousarray(X.T)  # (D, N)
    if A.size * X.shape[1] < PARALLEL_MIN_WORK:
        return _weighted_sq_diff_sums_kernel_serial(A, X, XT)
    with parallel_region():
        return _weighted_sq_diff_sums_kernel(A, X, XT)


def _weighted_sq_diff_sums_reference(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Readable definition of :func:`weighted_sq_diff_sums`."""
    diff = X[:, None, :] - X[None, :, :]  # (N, N, D)
    return np.einsum("ij,ijd->d", A, diff * diff)
