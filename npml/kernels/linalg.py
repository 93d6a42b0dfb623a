"""Cholesky factorisation and solves for kernel matrices, with an error that says what to do.

A kernel matrix :math:`K` is positive semi-definite in exact arithmetic but often nearly
singular in floating point (smooth kernels on close points), so kernel methods factorise
:math:`K + \\lambda I = L L^\\top` with a ridge, noise or jitter :math:`\\lambda > 0`
(Rasmussen & Williams, 2006, Algorithm 2.1 and sec. A.4). When the factorisation fails,
:class:`NotPositiveDefiniteError` names the matrix and the remedy instead of LAPACK's
bare ``info`` code.

The factor is computed in place by LAPACK ``potrf`` (no copy of the :math:`N \\times N`
matrix); solves use ``potrs``, two triangular solves, never an explicit inverse.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from npml._checks import check_array


class NotPositiveDefiniteError(ValueError):
    """A kernel matrix could not be Cholesky-factorised (a ``ValueError``)."""


def cholesky_lower(K: np.ndarray, *, name: str = "K", remedy: str = "") -> np.ndarray:
    """Lower Cholesky factor :math:`L` with :math:`K = L L^\\top`, computed in ``K``'s memory.

    Parameters
    ----------
    K : ndarray, shape (N, N)
        Symmetric float64 matrix; **overwritten** (pass a copy to keep it).
    name : str
        How the error message calls the matrix (``"K(X, X) + noise * I"``).
    remedy : str
        What the user can do, appended to the error message.

    Returns
    -------
    ndarray, shape (N, N)
        :math:`L`, Fortran-ordered, zeros above the diagonal.

    Raises
    ------
    NotPositiveDefiniteError
        When a pivot is not positive.
    ValueError
        When ``K`` is not a square float64 matrix or holds NaN or infinity (LAPACK would
        return a factor of NaNs without an error).
    """
    if not isinstance(K, np.ndarray):
        raise TypeError(f"{name} is a {type(K).__name__}; expected a square float64 ndarray")
    if K.dtype != np.float64 or K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name}: expected a square float64 matrix, got {K.dtype} {K.shape}")
    if not np.isfinite(K).all():  # O(N^2) against the factorisation's O(N^3)
        n_bad = int(K.size - np.count_nonzero(np.isfinite(K)))
        raise ValueError(f"{name} contains {n_bad} non-finite value(s) (NaN or inf)")
    # K is symmetric, so its transpose (a free view) is the Fortran-ordered array LAPACK
    # factorises in place.
    A = K.T if K.flags.c_contiguous else K
    L, info = lapack.dpotrf(A, lower=1, clean=1, overwrite_a=1)
    if info > 0:
        raise NotPositiveDefiniteError(
            f"{name} is not positive definite (its leading minor of order {info} is not "
            f"positive, N = {K.shape[0]}); {remedy}".rstrip("; ")
        )
    if info < 0:  # pragma: no cover - an argument LAPACK rejects is a bug here
        raise RuntimeError(f"dpotrf rejected argument {-info}")
    return L


def cholesky_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve :math:`L L^\\top x = b` given the lower factor (``b``: (N,) or (N, K)).

    ``L`` must be a factor from :func:`cholesky_lower` (square float64, a positive diagonal);
    ``b`` real and finite with ``N`` rows. Both are checked (``O(N^2 + N K)``, against the
    solve's ``O(N^2 K)``): LAPACK would return NaN for a zero pivot or a NaN in ``b``.
    """
    if not isinstance(L, np.ndarray):
        raise TypeError(f"L is a {type(L).__name__}; expected the factor from cholesky_lower")
    if L.dtype != np.float64 or L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"L: expected a square float64 matrix, got {L.dtype} {L.shape}")
    diag = np.diagonal(L)
    if not (np.isfinite(L).all() and np.all(diag > 0.0)):
        raise ValueError(
            "L is not a Cholesky factor: it holds NaN or infinity, or a diagonal entry <= 0"
        )
    b = check_array(b, "b", ndim=(1, 2), dtype=np.float64)
    if b.shape[0] != L.shape[0]:
        raise ValueError(f"b has shape {b.shape}; expected {L.shape[0]} rows like L")
    x, info = lapack.dpotrs(L, b, lower=1)
    if info != 0:  # pragma: no cover
        raise RuntimeError(f"dpotrs rejected argument {-info}")
    return x
