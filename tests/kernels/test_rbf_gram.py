import subprocess
import sys

import numpy as np
import pytest

from npml.kernels.rbf_gram import (
    _exp_row,
    _mirror_lower,
    _rbf_gram_kernel,
    _rbf_gram_kernel_serial,
    _rbf_gram_reference,
    _rbf_row,
    rbf_gram,
)


def test_exp_row_matches_numpy_to_an_ulp():
    x = np.concatenate([-np.linspace(0, 708, 100_001), -np.logspace(-300, 2.8, 5001), [-0.0]])
    out = np.empty_like(x)
    _exp_row(x, out, np.empty_like(x))
    ref = np.exp(x)
    assert np.max(np.abs(out - ref) / ref) < 5e-16  # ~2 ulp
    inplace = x.copy()
    _exp_row(inplace, inplace, np.empty_like(x))  # out may be x itself
    np.testing.assert_array_equal(inplace, out)


def test_exp_row_underflows_to_zero():
    x = np.array([-708.5, -745.0, -1e300, -np.inf])
    out = np.empty(4)
    _exp_row(x, out, np.empty(4))
    np.testing.assert_array_equal(out, 0.0)  # np.exp gives at most 3e-308 here


def test_row_functions_as_plain_python(rng):
    # What NUMBA_DISABLE_JIT=1 runs: the undecorated functions.
    x = -rng.random(7) * 30
    out = np.empty(7)
    _exp_row.py_func(x, out, np.empty(7))
    np.testing.assert_allclose(out, np.exp(x), rtol=5e-16)
    X = rng.standard_normal((3, 2))
    row = np.empty(3)
    _rbf_row.py_func(X[0], np.ascontiguousarray(X.T), 2.0, row, np.empty(3))
    np.testing.assert_allclose(row, _rbf_gram_reference(X[:1], X, 2.0)[0], rtol=1e-15)
    A = rng.standard_normal((70, 70))
    _mirror_lower.py_func(A)
    np.testing.assert_array_equal(A, np.tril(A) + np.tril(A, -1).T)


@pytest.mark.parametrize("N,M,D", [(1, 1, 1), (2, 5, 3), (9, 4, 1), (131, 77, 5), (64, 65, 2)])
@pytest.mark.parametrize("variance", [1.0, 0.3])
def test_kernels_match_reference(rng, N, M, D, variance):
    X, Y = rng.standard_normal((N, D)), rng.standard_normal((M, D))
    XT, YT = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    for kernel in (_rbf_gram_kernel, _rbf_gram_kernel_serial):
        np.testing.assert_allclose(
            kernel(X, YT, variance, False),
            _rbf_gram_reference(X, Y, variance),
            rtol=1e-14,
            atol=1e-300,
        )
        K = kernel(X, XT, variance, True)
        np.testing.assert_allclose(K, _rbf_gram_reference(X, X, variance), rtol=1e-14)
        np.testing.assert_array_equal(K, K.T)
        np.testing.assert_array_equal(np.diagonal(K), variance)


def test_dispatch_covers_parallel_serial_and_blas_paths(rng):
    for N, D in [(5, 3), (200, 8), (30, 40)]:  # serial, parallel, many features (BLAS)
        X = rng.standard_normal((N, D))
        np.testing.assert_allclose(
            rbf_gram(X, None, 1.5), _rbf_gram_reference(X, X, 1.5), rtol=1e-13, atol=1e-300
        )
        Y = rng.standard_normal((7, D))
        np.testing.assert_allclose(
            rbf_gram(X, Y, 1.5), _rbf_gram_reference(X, Y, 1.5), rtol=1e-13, atol=1e-300
        )


@pytest.mark.slow
def test_correct_with_jit_disabled():
    code = (
        "import numpy as np; from npml.kernels import RBF, sq_dist;"
        "from npml.kernels.rbf_gram import _rbf_gram_reference;"
        "from npml.kernels.distances import _sq_dist_reference;"
        "X = np.random.default_rng(0).standard_normal((120, 10));"
        "assert np.allclose(RBF(1.0)(X), _rbf_gram_reference(X, X, 1.0), rtol=1e-14);"
        "assert np.allclose(sq_dist(X), _sq_dist_reference(X, X), rtol=1e-14); print('ok')"
    )
    env = {
        "NUMBA_DISABLE_JIT": "1",
        "PATH": "",
        "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2]),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
