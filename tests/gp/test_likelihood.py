import numpy as np
import pytest

from npml.gp import GaussianProcessRegressor, log_marginal_likelihood
from npml.gp.likelihood import lml_weights, posterior_factor
from npml.kernels import RBF, DotProduct, Matern, Periodic, RationalQuadratic, White
from npml.testing import check_gradient


def _data(rng, N=15, D=2):
    X = rng.uniform(-2, 2, (N, D))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, -1] + 0.1 * rng.standard_normal(N)
    return X, y


def test_lml_equals_gaussian_density(rng):
    X, y = _data(rng)
    kernel = Matern(0.9, 1.5, 1.2)
    K = kernel(X) + 0.05 * np.eye(len(y))
    _, logdet = np.linalg.slogdet(K)
    expected = -0.5 * y @ np.linalg.solve(K, y) - 0.5 * logdet - 0.5 * len(y) * np.log(2 * np.pi)
    assert log_marginal_likelihood(kernel, X, y, 0.05) == pytest.approx(expected, rel=1e-12)
    gp = GaussianProcessRegressor(kernel, noise=0.05, optimize=False).fit(X, y)
    assert gp.log_marginal_likelihood() == pytest.approx(expected, rel=1e-12)


def test_folded_weights_give_the_trace(rng):
    X, y = _data(rng, N=7)
    K = RBF(0.8)(X) + 0.1 * np.eye(7)
    Kinv = np.linalg.inv(K)
    alpha = np.linalg.solve(K, y)
    W_full = np.outer(alpha, alpha) - Kinv
    L, a, _ = posterior_factor(K.copy(), y)
    W = lml_weights(L, a)
    S = rng.standard_normal((7, 7))
    S = S + S.T  # any symmetric dK/dtheta
    assert np.sum(W * S) == pytest.approx(np.sum(W_full * S), rel=1e-10)


KERNELS = {
    "rbf_ard": (RBF(np.array([0.8, 1.5]), 1.2), 0.05),
    "matern12": (Matern(0.7, 0.5), 0.1),
    "matern52": (Matern(1.1, 2.5, 0.8), 0.02),
    "rq+white": (RationalQuadratic(0.9, 1.5) + White(0.05), 0.0),
    "periodic*rbf": (Periodic(1.0, 2.0) * RBF(2.0), 0.1),
    "dot+rbf": (DotProduct(0.5) + RBF(1.0), 0.2),
    "noise_free": (RBF(0.6), 0.0),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("N", [1, 4, 15])
def test_lml_gradient_matches_finite_differences(rng, name, N):
    kernel, noise = KERNELS[name]
    X, y = _data(rng, N=N)
    gp = GaussianProcessRegressor(kernel, noise=noise, optimize=False).fit(X, y)
    theta = gp.theta_.copy()
    assert theta.size == kernel.n_theta + (noise > 0)
    lml, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    assert lml == pytest.approx(gp.log_marginal_likelihood_value_, rel=1e-12)
    err = check_gradient(lambda t: gp.log_marginal_likelihood(t), theta, grad)
    assert err < 1e-6


def test_optimize_increases_lml_and_is_reproducible(rng):
    X, y = _data(rng, N=30)
    start = GaussianProcessRegressor(RBF(np.array([3.0, 3.0])), noise=0.5, optimize=False).fit(X, y)
    gp = GaussianProcessRegressor(
        RBF(np.array([3.0, 3.0])), noise=0.5, optimize=True, n_restarts=2, rng=7
    ).fit(X, y)
    assert gp.log_marginal_likelihood_value_ > start.log_marginal_likelihood_value_ + 5.0
    _, grad = gp.log_marginal_likelihood(eval_gradient=True)
    lo, hi = np.log(1e-5), np.log(1e5)
    interior = (gp.theta_ > lo + 1e-3) & (gp.theta_ < hi - 1e-3)
    assert np.abs(grad[interior]).max() < 1e-2  # a stationary point
    again = GaussianProcessRegressor(
        RBF(np.array([3.0, 3.0])), noise=0.5, optimize=True, n_restarts=2, rng=7
    ).fit(X, y)
    np.testing.assert_array_equal(gp.theta_, again.theta_)


def test_noise_free_stays_noise_free_when_optimised(rng):
    X, y = _data(rng, N=10)
    gp = GaussianProcessRegressor(RBF(1.0), optimize=True, rng=0).fit(X, y)
    assert gp.noise_ == 0.0 and gp.theta_.size == 2 and gp.jitter_ > 0


def test_nothing_to_optimise(rng):
    X, y = _data(rng, N=6)
    gp = GaussianProcessRegressor(DotProduct(0.0), noise=0.0, optimize=True).fit(X, y)
    assert gp.theta_.size == 0 and np.isfinite(gp.log_marginal_likelihood_value_)
