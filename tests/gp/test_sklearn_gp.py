"""GaussianProcessRegressor against scikit-learn's on the same kernel and noise."""

import numpy as np
import pytest

from npml.gp import GaussianProcessRegressor
from npml.kernels import RBF, DotProduct, Matern, Periodic, RationalQuadratic, White

sklearn = pytest.importorskip("sklearn")
from sklearn.gaussian_process import GaussianProcessRegressor as SkGP  # noqa: E402
from sklearn.gaussian_process import kernels as sk  # noqa: E402

PAIRS = {
    "rbf_ard": (RBF(np.array([0.8, 1.6]), 1.3), sk.ConstantKernel(1.3) * sk.RBF([0.8, 1.6])),
    "matern12": (Matern(0.7, 0.5, 0.9), sk.ConstantKernel(0.9) * sk.Matern(0.7, nu=0.5)),
    "matern32": (Matern(1.0, 1.5), sk.Matern(1.0, nu=1.5)),
    "matern52": (Matern(1.2, 2.5, 2.0), sk.ConstantKernel(2.0) * sk.Matern(1.2, nu=2.5)),
    "rq": (
        RationalQuadratic(0.9, 0.7, 1.1),
        sk.ConstantKernel(1.1) * sk.RationalQuadratic(0.9, alpha=0.7),
    ),
    "dot": (DotProduct(0.8), sk.DotProduct(0.8)),
    "rbf+white": (
        RBF(1.0, 0.7) + White(0.02),
        sk.ConstantKernel(0.7) * sk.RBF(1.0) + sk.WhiteKernel(0.02),
    ),
}


def _data(rng, N=25, D=2):
    X = rng.uniform(-3, 3, (N, D))
    y = np.sin(X[:, 0]) * np.cos(X[:, -1]) + 0.1 * rng.standard_normal(N)
    return X, y, rng.uniform(-3, 3, (8, D))


def _assert_same(ours, theirs, X2):
    mean, std = ours.predict(X2, return_std=True)
    mean_sk, std_sk = theirs.predict(X2, return_std=True)
    np.testing.assert_allclose(mean, mean_sk, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(std, std_sk, rtol=1e-8, atol=1e-12)
    _, cov = ours.predict(X2, return_cov=True)
    np.testing.assert_allclose(cov, theirs.predict(X2, return_cov=True)[1], rtol=1e-8, atol=1e-12)
    assert ours.log_marginal_likelihood_value_ == pytest.approx(
        theirs.log_marginal_likelihood_value_, rel=1e-8
    )


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("normalize_y", [False, True])
def test_same_predictions_and_lml_as_sklearn(rng, name, normalize_y):
    ours_k, theirs_k = PAIRS[name]
    X, y, X2 = _data(rng)
    y = 3.0 + 2.0 * y
    ours = GaussianProcessRegressor(
        ours_k, noise=0.05, normalize_y=normalize_y, optimize=False
    ).fit(X, y)
    theirs = SkGP(theirs_k, alpha=0.05, optimizer=None, normalize_y=normalize_y).fit(X, y)
    _assert_same(ours, theirs, X2)


def test_periodic_on_one_feature(rng):
    X, y, X2 = _data(rng, D=1)
    ours = GaussianProcessRegressor(Periodic(1.1, 2.5, 0.8), noise=0.03, optimize=False).fit(X, y)
    theirs = SkGP(
        sk.ConstantKernel(0.8) * sk.ExpSineSquared(1.1, 2.5), alpha=0.03, optimizer=None
    ).fit(X, y)
    _assert_same(ours, theirs, X2)


def test_noise_free_with_sklearn_alpha_equal_to_our_jitter(rng):
    X, y, X2 = _data(rng)
    ours = GaussianProcessRegressor(RBF(0.9, 1.5), optimize=False).fit(X, y)
    theirs = SkGP(sk.ConstantKernel(1.5) * sk.RBF(0.9), alpha=ours.jitter_, optimizer=None)
    _assert_same(ours, theirs.fit(X, y), X2)


def test_lml_gradient_equals_sklearn(rng):
    X, y, _ = _data(rng)
    ours = GaussianProcessRegressor(RBF(np.array([0.8, 1.6]), 1.3), noise=0.05, optimize=False).fit(
        X, y
    )
    theirs = SkGP(
        sk.ConstantKernel(1.3) * sk.RBF([0.8, 1.6]) + sk.WhiteKernel(0.05),
        alpha=0.0,
        optimizer=None,
    ).fit(X, y)
    lml, grad = ours.log_marginal_likelihood(ours.theta_, eval_gradient=True)
    lml_sk, grad_sk = theirs.log_marginal_likelihood(theirs.kernel_.theta, eval_gradient=True)
    assert lml == pytest.approx(lml_sk, rel=1e-10)
    # npml: [log l1, log l2, log variance, log noise]; sklearn: [log C, log l1, log l2, log noise]
    np.testing.assert_allclose(grad, grad_sk[[1, 2, 0, 3]], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_optimised_lml_at_least_sklearns(seed):
    rng = np.random.default_rng(seed)
    X, y, _ = _data(rng, N=40)
    ours = GaussianProcessRegressor(
        RBF(np.array([1.0, 1.0])), noise=0.1, optimize=True, n_restarts=2, rng=seed
    ).fit(X, y)
    theirs = SkGP(
        sk.ConstantKernel(1.0) * sk.RBF([1.0, 1.0]) + sk.WhiteKernel(0.1),
        alpha=0.0,
        n_restarts_optimizer=2,
        random_state=seed,
    ).fit(X, y)
    # L-BFGS-B stops on a tolerance, so two runs to the same optimum can differ in the
    # last digits of the objective.
    assert ours.log_marginal_likelihood_value_ >= theirs.log_marginal_likelihood_value_ - 1e-6
    # ... and our value is a true LML at our hyperparameters, by sklearn's own computation.
    mapped = np.concatenate([[ours.theta_[2]], ours.theta_[:2], [ours.theta_[3]]])
    assert theirs.log_marginal_likelihood(mapped) == pytest.approx(
        ours.log_marginal_likelihood_value_, rel=1e-10
    )
