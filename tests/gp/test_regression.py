import numpy as np
import pytest

from npml.exceptions import DataConversionWarning
from npml.gp import GaussianProcessRegressor
from npml.kernels import RBF, Kernel, Linear, Matern, Periodic, White


def _data(rng, N=12, D=2, noise=0.1):
    X = rng.uniform(-2, 2, (N, D))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] + noise * rng.standard_normal(N)
    return X, y


def _conditional(kernel, X1, y1, X2, noise):
    """The notes' formulas, with np.linalg.solve."""
    S11 = kernel(X1) + noise * np.eye(len(X1))
    S21, S22 = kernel(X2, X1), kernel(X2)
    mu = S21 @ np.linalg.solve(S11, y1)
    cov = S22 - S21 @ np.linalg.solve(S11, S21.T)
    return mu, cov


@pytest.mark.parametrize(
    "kernel",
    [RBF(0.8, 1.5), Matern(np.array([0.7, 1.3]), 2.5), RBF(1.0) + White(0.05)],
    ids=["rbf", "matern_ard", "rbf+white"],
)
def test_noisy_posterior_equals_conditional_gaussian(rng, kernel):
    X1, y1 = _data(rng)
    X2 = rng.uniform(-2, 2, (5, 2))
    gp = GaussianProcessRegressor(kernel, noise=0.04, optimize=False).fit(X1, y1)
    mu, cov = _conditional(kernel, X1, y1, X2, 0.04)
    mean, cov_gp = gp.predict(X2, return_cov=True)
    np.testing.assert_allclose(mean, mu, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov_gp, cov, rtol=1e-9, atol=1e-12)
    _, std = gp.predict(X2, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diag(cov)), rtol=1e-9)
    assert gp.jitter_ == 0.0


def test_noise_free_posterior_equals_conditional_gaussian(rng):
    # Well-separated inputs keep Sigma_11 well conditioned, so the documented jitter
    # (1e-10 of the prior variance) moves the result by ~1e-10 relative only.
    X1 = np.linspace(-2, 2, 6)[:, None]
    y1 = np.cos(X1[:, 0])
    X2 = np.array([[-1.7], [0.1], [1.3]])
    kernel = RBF(0.6, 2.0)
    gp = GaussianProcessRegressor(kernel, optimize=False).fit(X1, y1)
    assert gp.jitter_ == pytest.approx(2e-10)
    mu, cov = _conditional(kernel, X1, y1, X2, 0.0)
    mean, cov_gp = gp.predict(X2, return_cov=True)
    np.testing.assert_allclose(mean, mu, rtol=1e-7)
    np.testing.assert_allclose(cov_gp, cov, rtol=1e-6, atol=1e-9)


def test_noise_free_interpolates_training_targets(rng):
    # Close inputs and a long length scale: k(X, X) is singular to working precision,
    # the case the jitter is for.
    X = np.sort(rng.uniform(0, 5, 40))[:, None]
    y = np.sin(X[:, 0])
    gp = GaussianProcessRegressor(RBF(1.0), optimize=False).fit(X, y)
    mean, std = gp.predict(X, return_std=True)
    np.testing.assert_allclose(mean, y, atol=1e-5)
    assert std.max() < 1e-4  # ~sqrt(jitter) = 1e-5 times the prior standard deviation
    _, std_between = gp.predict(X[:-1] + 0.5 * np.diff(X, axis=0), return_std=True)
    assert std_between.max() > std.max()  # uncertainty grows between observations


def test_noisy_does_not_interpolate_and_keeps_std(rng):
    X, y = _data(rng, noise=0.3)
    gp = GaussianProcessRegressor(RBF(1.0), noise=0.09, optimize=False).fit(X, y)
    mean, std = gp.predict(X, return_std=True)
    assert np.abs(mean - y).max() > 1e-2
    assert std.min() > 1e-2


def test_normalize_y_equals_fitting_scaled_targets(rng):
    X, y = _data(rng)
    y = 50.0 + 20.0 * y
    X2 = rng.uniform(-2, 2, (4, 2))
    gp = GaussianProcessRegressor(RBF(0.9), noise=0.01, normalize_y=True, optimize=False).fit(X, y)
    m, s = y.mean(), y.std()
    ref = GaussianProcessRegressor(RBF(0.9), noise=0.01, optimize=False).fit(X, (y - m) / s)
    mean, std = gp.predict(X2, return_std=True)
    mean_ref, std_ref = ref.predict(X2, return_std=True)
    np.testing.assert_allclose(mean, m + s * mean_ref, rtol=1e-12)
    np.testing.assert_allclose(std, s * std_ref, rtol=1e-12)
    assert gp.log_marginal_likelihood_value_ == pytest.approx(ref.log_marginal_likelihood_value_)


def test_linear_kernel_gp_is_bayesian_ridge(rng):
    # Parametric model inside the non-parametric one: GP(Linear(v), noise) mean = ridge with
    # penalty noise / v.
    X, y = _data(rng, D=3)
    X2 = rng.standard_normal((5, 3))
    v, noise = 2.0, 0.3
    gp = GaussianProcessRegressor(Linear(v), noise=noise, optimize=False).fit(X, y)
    w = np.linalg.solve(X.T @ X + noise / v * np.eye(3), X.T @ y)
    np.testing.assert_allclose(gp.predict(X2), X2 @ w, rtol=1e-10)


def test_prior_samples_have_the_kernel_covariance(rng):
    X = np.array([[0.0], [0.3], [1.0], [2.5]])
    kernel = Matern(0.8, 1.5, 2.0)
    gp = GaussianProcessRegressor(kernel)
    f = gp.sample_prior(X, n_samples=20000, rng=0)
    assert f.shape == (20000, 4)
    # Sampling error of a covariance entry ~ sigma^2 sqrt(2 / n) = 0.02.
    np.testing.assert_allclose(np.cov(f, rowvar=False), kernel(X), atol=0.1)
    np.testing.assert_allclose(f.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_array_equal(gp.sample_prior(X, 3, rng=1), gp.sample_prior(X, 3, rng=1))


def test_prior_samples_of_a_singular_kernel(rng):
    X = np.arange(60)[:, None] / 60  # RBF on a dense grid: numerically rank-deficient
    f = GaussianProcessRegressor(RBF(0.5)).sample_prior(X, 4, rng=rng)
    assert f.shape == (4, 60) and np.isfinite(f).all()
    f = GaussianProcessRegressor(Periodic(1.0, 0.25)).sample_prior(X, 2, rng=rng)
    # Period 0.25 = 15 steps: the samples repeat (up to the round-off of the factor).
    np.testing.assert_allclose(f[:, :15], f[:, 15:30], atol=1e-5)


def test_posterior_samples(rng):
    X, y = _data(rng)
    X2 = rng.uniform(-2, 2, (3, 2))
    gp = GaussianProcessRegressor(RBF(0.9), noise=0.05, optimize=False).fit(X, y)
    f = gp.sample_posterior(X2, n_samples=20000, rng=3)
    mean, cov = gp.predict(X2, return_cov=True)
    np.testing.assert_allclose(f.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(f, rowvar=False), cov, atol=0.02)
    # Noise-free posterior samples pass through the training points.
    gp0 = GaussianProcessRegressor(RBF(0.9), optimize=False).fit(X, y)
    np.testing.assert_allclose(gp0.sample_posterior(X, 3, rng=4), np.tile(y, (3, 1)), atol=1e-3)


def test_scikit_learn_conventions(rng):
    X, y = _data(rng)
    kernel = RBF(np.array([1.0, 1.0]))
    gp = GaussianProcessRegressor(kernel, noise=-1.0, n_restarts=-3)  # stores, no checks
    assert gp.noise == -1.0 and gp.n_restarts == -3 and not hasattr(gp, "kernel_")
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        gp.predict(X)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        gp.log_marginal_likelihood()
    with pytest.raises(RuntimeError, match="not fitted yet"):
        gp.sample_posterior(X)
    gp = GaussianProcessRegressor(kernel, noise=0.1, optimize=True, rng=0)
    assert gp.fit(X, y) is gp
    assert gp.kernel_ is not kernel and gp.kernel is kernel
    np.testing.assert_array_equal(kernel.length_scale, [1.0, 1.0])  # not mutated
    assert gp.noise == 0.1 and gp.noise_ != 0.1  # hyperparameters stay, fitted values move
    assert not np.shares_memory(gp.X_train_, X)


class _Indefinite(Kernel):
    """Not a valid kernel (its Gram matrix has a negative eigenvalue)."""

    def _gram(self, X, Y):
        K = np.eye(X.shape[0])
        K[0, 0] = -1.0
        return K

    def _diag(self, X):
        return np.diag(self._gram(X, None)).copy()

    def _diag(self, X):
        return np.ones(X.shape[0])


def test_bad_input_raises(rng):
    X, y = _data(rng)
    gp = GaussianProcessRegressor(RBF(), noise=0.1, optimize=False)
    Xbad = X.copy()
    Xbad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        gp.fit(Xbad, y)
    with pytest.raises(ValueError, match="y contains 1 non-finite"):
        gp.fit(X, np.where(np.arange(len(y)) == 2, np.inf, y))
    with pytest.raises(ValueError, match="X has 12 rows but y has 11"):
        gp.fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"y has shape \(12, 2\); GaussianProcessRegressor takes"):
        gp.fit(X, np.stack([y, y], axis=1))
    # a column vector is raveled with scikit-learn's warning (its check_supervised_y_2d)
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        gp.fit(X, y[:, None])
    with pytest.raises(ValueError, match="noise=-0.1 is out of range"):
        GaussianProcessRegressor(RBF(), noise=-0.1).fit(X, y)
    with pytest.raises(ValueError, match="n_restarts=-1 is out of range"):
        GaussianProcessRegressor(RBF(), n_restarts=-1).fit(X, y)
    with pytest.raises(TypeError, match="not an npml.kernels.Kernel"):
        GaussianProcessRegressor("rbf").fit(X, y)
    with pytest.raises(ValueError, match="not positive definite.*increase noise.*jitter"):
        GaussianProcessRegressor(_Indefinite(), optimize=False).fit(X, y)
    gp.fit(X, y)
    with pytest.raises(ValueError, match="at most one"):
        gp.predict(X, return_std=True, return_cov=True)
    with pytest.raises(ValueError, match="X has 5 features, but GaussianProcessRegressor is expe"):
        gp.predict(np.ones((3, 5)))
    with pytest.raises(ValueError, match="n_samples=0 is out of range"):
        gp.sample_posterior(X, 0)
    with pytest.raises(ValueError, match=r"theta has shape \(2,\); expected \(3,\)"):
        gp.log_marginal_likelihood(np.zeros(2))
