import math

import numpy as np
import pytest

from npml.kernels import (
    RBF,
    Constant,
    DotProduct,
    Kernel,
    Linear,
    Matern,
    Periodic,
    Polynomial,
    Product,
    RationalQuadratic,
    Sum,
    White,
)
from npml.testing import check_gradient

# Each kernel with its formula written out for one pair of points (x, y are 1-d arrays).


def _r(x, y, ls):
    return math.sqrt(float(np.sum(((x - y) / ls) ** 2)))


CASES = {
    "rbf": (RBF(0.7, 1.3), lambda x, y: 1.3 * math.exp(-0.5 * _r(x, y, 0.7) ** 2)),
    "rbf_ard": (
        RBF(np.array([0.5, 1.0, 2.0]), 0.8),
        lambda x, y: 0.8 * math.exp(-0.5 * _r(x, y, np.array([0.5, 1.0, 2.0])) ** 2),
    ),
    "matern12": (Matern(0.9, 0.5, 1.2), lambda x, y: 1.2 * math.exp(-_r(x, y, 0.9))),
    "matern32": (
        Matern(1.1, 1.5),
        lambda x, y: (1 + math.sqrt(3) * _r(x, y, 1.1)) * math.exp(-math.sqrt(3) * _r(x, y, 1.1)),
    ),
    "matern52_ard": (
        Matern(np.array([0.6, 1.4, 1.0]), 2.5, 2.0),
        lambda x, y: (
            2.0
            * (
                1
                + math.sqrt(5) * _r(x, y, np.array([0.6, 1.4, 1.0]))
                + 5 / 3 * _r(x, y, np.array([0.6, 1.4, 1.0])) ** 2
            )
            * math.exp(-math.sqrt(5) * _r(x, y, np.array([0.6, 1.4, 1.0])))
        ),
    ),
    "rq": (
        RationalQuadratic(0.8, 0.6, 1.5),
        lambda x, y: 1.5 * (1 + _r(x, y, 0.8) ** 2 / (2 * 0.6)) ** -0.6,
    ),
    "periodic": (
        Periodic(0.9, 1.7, 1.1),
        lambda x, y: (
            1.1
            * math.exp(
                -2 * sum(math.sin(math.pi * (a - b) / 1.7) ** 2 for a, b in zip(x, y)) / 0.81
            )
        ),
    ),
    "linear": (Linear(0.7), lambda x, y: 0.7 * float(x @ y)),
    "dot": (DotProduct(1.3), lambda x, y: 1.3**2 + float(x @ y)),
    "poly3": (Polynomial(3, 0.5), lambda x, y: (float(x @ y) + 0.5) ** 3),
    "constant": (Constant(2.5), lambda x, y: 2.5),
    "sum": (
        RBF(0.7) + Linear(0.3),
        lambda x, y: math.exp(-0.5 * _r(x, y, 0.7) ** 2) + 0.3 * float(x @ y),
    ),
    "product": (
        Matern(1.0, 1.5) * Periodic(1.2, 2.0),
        lambda x, y: (
            (1 + math.sqrt(3) * _r(x, y, 1.0))
            * math.exp(-math.sqrt(3) * _r(x, y, 1.0))
            * math.exp(
                -2 * sum(math.sin(math.pi * (a - b) / 2.0) ** 2 for a, b in zip(x, y)) / 1.2**2
            )
        ),
    ),
    "scaled": (
        2.0 * RationalQuadratic(1.0, 2.0),
        lambda x, y: 2.0 * (1 + _r(x, y, 1.0) ** 2 / 4.0) ** -2.0,
    ),
}
IDS = list(CASES)


def _formula_gram(f, X, Y):
    return np.array([[f(x, y) for y in Y] for x in X])


@pytest.mark.parametrize("name", IDS)
def test_gram_matches_formula(rng, name):
    kernel, f = CASES[name]
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(kernel(X), _formula_gram(f, X, X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kernel(X, Y), _formula_gram(f, X, Y), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kernel.diag(X), [f(x, x) for x in X], rtol=1e-12)


@pytest.mark.parametrize("name", IDS)
def test_gram_symmetric_and_positive_semidefinite(rng, name):
    kernel, _ = CASES[name]
    X = rng.standard_normal((25, 3))
    K = kernel(X)
    np.testing.assert_array_equal(K, K.T)
    eigs = np.linalg.eigvalsh(K)
    assert eigs.min() >= -1e-10 * max(1.0, eigs.max())


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("N,D", [(1, 3), (6, 3), (5, 3)])
def test_gradient_matches_finite_differences(rng, name, N, D):
    kernel, _ = CASES[name]
    X = rng.standard_normal((N, D))
    W = rng.standard_normal((N, N))  # upstream weights, not symmetric
    theta = kernel.theta.copy()
    gram_of = lambda t: kernel.with_theta(t)(X)
    # The full tensor contracted with W, and the cheap contraction, against the same numbers.
    tensor = kernel.gradient(X)
    assert tensor.shape == (N, N, theta.size)
    assert check_gradient(gram_of, theta, np.einsum("ij,ijk->k", W, tensor), dout=W) < 1e-6
    assert check_gradient(gram_of, theta, kernel.gradient_dot(X, W), dout=W) < 1e-6


def test_ard_gradient_with_one_feature_and_odd_sizes(rng):
    kernel = Matern(np.array([0.7]), 0.5, 1.3)
    X = rng.standard_normal((9, 1))
    W = rng.standard_normal((9, 9))
    theta = kernel.theta.copy()
    err = check_gradient(lambda t: kernel.with_theta(t)(X), theta, kernel.gradient_dot(X, W), W)
    assert err < 1e-6


def test_white_is_noise_on_its_own_samples_only(rng):
    X = rng.standard_normal((4, 2))
    np.testing.assert_array_equal(White(0.3)(X), 0.3 * np.eye(4))
    np.testing.assert_array_equal(White(0.3)(X, X), np.zeros((4, 4)))
    np.testing.assert_array_equal(White(0.3).diag(X), np.full(4, 0.3))


def test_composition_builds_sums_and_products(rng):
    X = rng.standard_normal((5, 2))
    a, b = RBF(0.5), Periodic(1.0, 2.0)
    assert isinstance(a + b, Sum) and isinstance(a * b, Product)
    np.testing.assert_allclose((a + b)(X), a(X) + b(X))
    np.testing.assert_allclose((a * b)(X), a(X) * b(X))
    np.testing.assert_allclose((3.0 * a)(X), 3.0 * a(X))
    np.testing.assert_allclose((a + 1)(X), a(X) + 1.0)
    k = a + b
    np.testing.assert_array_equal(k.theta, np.concatenate([a.theta, b.theta]))
    assert k.hyperparameter_names[0] == "k1__length_scale"
    with pytest.raises(TypeError, match="expected a Kernel or a number"):
        a + "rbf"


def test_theta_is_log_hyperparameters_and_with_theta_copies():
    k = RBF(np.array([0.5, 2.0]), 3.0)
    np.testing.assert_allclose(k.theta, np.log([0.5, 2.0, 3.0]))
    assert k.bounds.shape == (3, 2)
    k2 = k.with_theta(np.log([1.0, 4.0, 0.25]))
    np.testing.assert_allclose(k2.length_scale, [1.0, 4.0])
    assert k2.variance == pytest.approx(0.25)
    np.testing.assert_allclose(k.length_scale, [0.5, 2.0])  # the original is untouched
    clone = k.clone()
    clone.length_scale[0] = 9.0
    assert k.length_scale[0] == 0.5
    with pytest.raises(ValueError, match="theta has 2 entries; expected 3"):
        k.with_theta(np.zeros(2))


def test_zero_offsets_are_fixed():
    assert Polynomial(2, 0.0).n_theta == 0
    assert DotProduct(0.0).n_theta == 0
    assert (RBF() * DotProduct(0.0)).n_theta == 2


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: RBF(-1.0), "length_scale=-1.0 is out of range"),
        (lambda: RBF([1.0, 0.0]), "length_scale=.* entries <= 0"),
        (lambda: RBF(1.0, variance=0.0), "variance=0.0 is out of range"),
        (lambda: Matern(1.0, nu=1.0), "nu=1.0; expected one of"),
        (lambda: RationalQuadratic(alpha=-2.0), "alpha=-2.0 is out of range"),
        (lambda: Periodic(period=0.0), "period=0.0 is out of range"),
        (lambda: White(-0.1), "noise=-0.1 is out of range"),
        (lambda: Constant(-1.0), "value=-1.0 is out of range"),
        (lambda: DotProduct(-1.0), "sigma_0=-1.0 is out of range"),
        (lambda: Polynomial(0), "degree=0 is out of range"),
        (lambda: Linear(float("nan")), "variance=nan is not finite"),
    ],
)
def test_bad_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise(rng):
    X = rng.standard_normal((4, 3))
    bad = X.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        RBF()(bad)
    with pytest.raises(ValueError, match="Y has shape"):
        RBF()(X, rng.standard_normal((2, 2)))
    with pytest.raises(ValueError, match="length_scale has 2 entries but X has 3 features"):
        RBF([1.0, 1.0])(X)
    with pytest.raises(ValueError, match=r"W has shape \(3, 3\); expected \(4, 4\)"):
        RBF().gradient_dot(X, np.ones((3, 3)))


def test_base_class_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Kernel()
