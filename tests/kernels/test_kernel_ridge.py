import numpy as np
import pytest

from npml.kernels import RBF, Kernel, KernelRidge, Polynomial, polynomial_features


def _data(rng, N=30, D=3):
    X = rng.standard_normal((N, D))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(N)
    return X, y


@pytest.mark.parametrize("degree,c,alpha", [(2, 1.0, 0.1), (3, 0.5, 1.0), (1, 2.0, 1e-3)])
def test_equals_ridge_on_explicit_features(rng, degree, c, alpha):
    X, y = _data(rng)
    X_test = rng.standard_normal((7, 3))
    model = KernelRidge(Polynomial(degree, c), alpha=alpha).fit(X, y)
    Phi = polynomial_features(X, degree, c)  # (N, F)
    w = np.linalg.solve(Phi.T @ Phi + alpha * np.eye(Phi.shape[1]), Phi.T @ y)  # primal ridge
    np.testing.assert_allclose(
        model.predict(X_test), polynomial_features(X_test, degree, c) @ w, rtol=1e-7, atol=1e-9
    )


def test_equals_sklearn_kernel_ridge(rng):
    sk = pytest.importorskip("sklearn.kernel_ridge")
    X, y = _data(rng)
    Y2 = np.stack([y, np.cos(X[:, 0])], axis=1)  # two targets at once
    X_test = rng.standard_normal((6, 3))
    ours = KernelRidge(RBF(1.3), alpha=0.2).fit(X, Y2)
    theirs = sk.KernelRidge(alpha=0.2, kernel="rbf", gamma=0.5 / 1.3**2).fit(X, Y2)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-9)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, rtol=1e-9)
    ours = KernelRidge(Polynomial(3, 0.4), alpha=0.5).fit(X, y)
    theirs = sk.KernelRidge(alpha=0.5, kernel="poly", degree=3, gamma=1.0, coef0=0.4).fit(X, y)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-9)


def test_scikit_learn_conventions(rng):
    X, y = _data(rng)
    kernel = RBF(np.array([1.0, 2.0, 3.0]))
    model = KernelRidge(kernel, alpha=-1.0)  # the constructor only stores
    assert model.alpha == -1.0 and not hasattr(model, "dual_coef_")
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        model.predict(X)
    with pytest.raises(ValueError, match="alpha=-1.0 is out of range"):
        model.fit(X, y)
    model.alpha = 0.1
    model.fit(X, y)
    assert model.kernel_ is not kernel and model.fit(X, y) is model
    np.testing.assert_array_equal(kernel.length_scale, [1.0, 2.0, 3.0])


class _Indefinite(Kernel):
    """Not a valid kernel: -I (used to check the error message)."""

    def _gram(self, X, Y):
        return -np.eye(X.shape[0])

    def _diag(self, X):
        return -np.ones(X.shape[0])


def test_bad_input_raises(rng):
    X, y = _data(rng)
    with pytest.raises(ValueError, match="not positive definite.*increase alpha"):
        KernelRidge(_Indefinite(), alpha=0.5).fit(X, y)
    with pytest.raises(ValueError, match="X has 30 rows but y has 29"):
        KernelRidge(RBF()).fit(X, y[:-1])
    with pytest.raises(ValueError, match="y contains 1 non-finite"):
        KernelRidge(RBF()).fit(X, np.where(np.arange(30) == 3, np.nan, y))
    with pytest.raises(TypeError, match="not an npml.kernels.Kernel"):
        KernelRidge("rbf").fit(X, y)
    model = KernelRidge(RBF()).fit(X, y)
    # scikit-learn's wording (its check_n_features_in_after_fitting looks for it)
    with pytest.raises(ValueError, match="^X has 4 features, but KernelRidge is expecting 3 f"):
        model.predict(np.ones((2, 4)))
