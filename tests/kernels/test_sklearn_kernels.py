"""Gram matrices and log-space gradients against scikit-learn's kernels (the same model,
mapped hyperparameter by hyperparameter)."""

import numpy as np
import pytest

from npml.kernels import RBF, Constant, DotProduct, Matern, Periodic, RationalQuadratic, White

sklearn = pytest.importorskip("sklearn")
from sklearn.gaussian_process import kernels as sk  # noqa: E402

# (npml kernel, scikit-learn kernel, permutation: npml theta[i] = sklearn theta[perm[i]])
PAIRS = {
    "rbf": (RBF(0.7, 1.8), sk.ConstantKernel(1.8) * sk.RBF(0.7), [1, 0]),
    "rbf_ard": (
        RBF(np.array([0.5, 2.0]), 0.6),
        sk.ConstantKernel(0.6) * sk.RBF([0.5, 2.0]),
        [1, 2, 0],
    ),
    "matern12": (Matern(0.9, 0.5, 1.3), sk.ConstantKernel(1.3) * sk.Matern(0.9, nu=0.5), [1, 0]),
    "matern32": (Matern(1.2, 1.5), sk.ConstantKernel(1.0) * sk.Matern(1.2, nu=1.5), [1, 0]),
    "matern52_ard": (
        Matern(np.array([0.8, 1.5]), 2.5, 2.0),
        sk.ConstantKernel(2.0) * sk.Matern([0.8, 1.5], nu=2.5),
        [1, 2, 0],
    ),
    "rq": (
        RationalQuadratic(0.8, 1.7, 0.9),
        sk.ConstantKernel(0.9) * sk.RationalQuadratic(0.8, alpha=1.7),
        [2, 1, 0],
    ),
    "dot": (DotProduct(0.6), sk.DotProduct(0.6), [0]),
    "white": (White(0.3), sk.WhiteKernel(0.3), [0]),
    "constant": (Constant(2.2), sk.ConstantKernel(2.2), [0]),
    "sum": (
        RBF(0.7, 1.8) + White(0.2),
        sk.ConstantKernel(1.8) * sk.RBF(0.7) + sk.WhiteKernel(0.2),
        [1, 0, 2],
    ),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_gram_and_gradient_equal_sklearn(rng, name):
    ours, theirs, perm = PAIRS[name]
    X, Y = rng.standard_normal((9, 2)), rng.standard_normal((4, 2))
    np.testing.assert_allclose(ours(X), theirs(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours(X, Y), theirs(X, Y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.diag(X), theirs.diag(X), rtol=1e-12)
    np.testing.assert_allclose(ours.theta, theirs.theta[perm], rtol=1e-12)
    _, grad = theirs(X, eval_gradient=True)
    np.testing.assert_allclose(ours.gradient(X), grad[..., perm], rtol=1e-10, atol=1e-13)


def test_periodic_equals_exp_sine_squared_on_one_feature(rng):
    ours = Periodic(0.9, 1.6, 1.4)
    theirs = sk.ConstantKernel(1.4) * sk.ExpSineSquared(0.9, 1.6)
    X = rng.uniform(-3, 3, (11, 1))
    np.testing.assert_allclose(ours(X), theirs(X), rtol=1e-10, atol=1e-14)
    _, grad = theirs(X, eval_gradient=True)
    np.testing.assert_allclose(ours.gradient(X), grad[..., [1, 2, 0]], rtol=1e-8, atol=1e-12)


def test_polynomial_equals_sklearn_polynomial_kernel(rng):
    from sklearn.metrics.pairwise import polynomial_kernel

    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    expected = polynomial_kernel(X, Y, degree=3, gamma=1.0, coef0=0.7)
    np.testing.assert_allclose(__import__("npml").kernels.Polynomial(3, 0.7)(X, Y), expected)


def test_rbf_gram_equals_sklearn_rbf_kernel_at_scale(rng):
    from sklearn.metrics.pairwise import rbf_kernel

    X = rng.standard_normal((400, 10))
    np.testing.assert_allclose(
        RBF(1.7)(X), rbf_kernel(X, gamma=0.5 / 1.7**2), rtol=1e-11, atol=1e-15
    )
