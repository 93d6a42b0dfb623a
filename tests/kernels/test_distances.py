import numpy as np
import pytest

from npml.kernels import sq_dist
from npml.kernels.distances import (
    _sq_dist_blas,
    _sq_dist_kernel,
    _sq_dist_kernel_serial,
    _sq_dist_reference,
    _sq_dist_row,
    _weighted_row,
    _weighted_sq_diff_sums_kernel,
    _weighted_sq_diff_sums_kernel_serial,
    _weighted_sq_diff_sums_reference,
    weighted_sq_diff_sums,
)


@pytest.mark.parametrize("N,M,D", [(1, 1, 1), (7, 5, 3), (13, 1, 2), (6, 9, 40), (300, 150, 3)])
def test_kernel_reference_and_blas_agree(rng, N, M, D):
    X = rng.standard_normal((N, D))
    Y = rng.standard_normal((M, D))
    ref = _sq_dist_reference(X, Y)
    YT = np.ascontiguousarray(Y.T)
    np.testing.assert_allclose(_sq_dist_kernel(X, YT), ref, rtol=1e-13)
    np.testing.assert_array_equal(_sq_dist_kernel_serial(X, YT), _sq_dist_kernel(X, YT))
    np.testing.assert_allclose(_sq_dist_blas(X, Y, same=False), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sq_dist(X, Y), ref, rtol=1e-10, atol=1e-12)


def test_kernel_runs_as_plain_python(rng):
    # What NUMBA_DISABLE_JIT=1 executes: the undecorated function (prange is range).
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    out = np.zeros((4, 5))
    for i in range(4):
        _sq_dist_row.py_func(X[i], np.ascontiguousarray(Y.T), out[i])
    np.testing.assert_allclose(out, _sq_dist_reference(X, Y), rtol=1e-13)


@pytest.mark.parametrize("D", [3, 64])
def test_no_negative_distances_and_exact_zero_diagonal(rng, D):
    # Points far from the origin and very close to each other: the expansion
    # |x|^2 + |y|^2 - 2 x.y cancels catastrophically here.
    X = 1e4 + 1e-7 * rng.standard_normal((50, D))
    D2 = sq_dist(X)
    assert D2.min() >= 0.0
    np.testing.assert_array_equal(np.diagonal(D2), 0.0)
    np.testing.assert_array_equal(D2, D2.T)
    raw = np.einsum("nd,nd->n", X, X)[:, None] + np.einsum("nd,nd->n", X, X) - 2 * X @ X.T
    assert raw.min() < 0  # the unclamped expansion does go negative on this data


def test_direct_differences_are_accurate_for_close_points(rng):
    X = 1e4 + 1e-3 * rng.standard_normal((20, 3))
    np.testing.assert_allclose(sq_dist(X), _sq_dist_reference(X, X), rtol=1e-12, atol=1e-20)


@pytest.mark.parametrize("N,D", [(1, 1), (9, 4), (300, 3)])
def test_weighted_sq_diff_sums_matches_definition(rng, N, D):
    A = rng.standard_normal((N, N))  # not symmetric on purpose
    X = 3.0 + rng.standard_normal((N, D))
    ref = _weighted_sq_diff_sums_reference(A, X)
    np.testing.assert_allclose(weighted_sq_diff_sums(A, X), ref, rtol=1e-10, atol=1e-12)
    XT = np.ascontiguousarray(X.T)
    for kernel in (_weighted_sq_diff_sums_kernel, _weighted_sq_diff_sums_kernel_serial):
        np.testing.assert_allclose(kernel(A, X, XT), ref, rtol=1e-10, atol=1e-12)
    out = np.empty(D)  # the row function as plain Python (NUMBA_DISABLE_JIT=1)
    _weighted_row.py_func(A[0], X[0], XT, out)
    np.testing.assert_allclose(out, np.einsum("j,jd->d", A[0], (X[0] - X) ** 2), rtol=1e-12)


def test_sq_dist_rejects_bad_input(rng):
    X = rng.standard_normal((3, 2))
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        sq_dist(np.where(np.arange(6).reshape(3, 2) == 4, np.nan, X))
    with pytest.raises(ValueError, match="Y has shape"):
        sq_dist(X, rng.standard_normal((3, 3)))
    with pytest.raises(ValueError, match="ndim=1"):
        sq_dist(np.ones(3))
