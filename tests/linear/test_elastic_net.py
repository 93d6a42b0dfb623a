"""ElasticNet and enet_path: scikit-learn's solutions (and iteration counts), optimality,
the lasso and ridge special cases, warm starts and input checking."""

import warnings

import numpy as np
import pytest

from npml.linear import ConvergenceWarning, ElasticNet, enet_path


def _data(rng, n, p, offset=0.0):
    X = rng.standard_normal((n, p))
    X[:, : p // 2] += 0.8 * X[:, [p - 1]]  # correlated features
    X += offset
    w = np.zeros(p)
    w[: max(1, p // 3)] = 2.0 * rng.standard_normal(max(1, p // 3))
    y = X @ w + 0.5 * rng.standard_normal(n) + 3.0
    return X, y


def _objective(X, y, w, b, alpha, l1_ratio):
    """scikit-learn's elastic-net objective, written out independently of npml."""
    r = y - X @ w - b
    return (
        r @ r / (2 * len(y))
        + alpha * l1_ratio * np.abs(w).sum()
        + 0.5 * alpha * (1 - l1_ratio) * w @ w
    )


SHAPES = [(60, 9), (20, 35)]  # n > p runs on the Gram matrix, p > n on the residual


@pytest.mark.parametrize("n, p", SHAPES)
@pytest.mark.parametrize("alpha", [0.01, 0.3, 2.0])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coefficients_equal_sklearn(rng, n, p, alpha, l1_ratio, fit_intercept):
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y = _data(rng, n, p)
    kw = dict(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, max_iter=100000)
    ours = ElasticNet(**kw, tol=1e-10).fit(X, y)
    ref = sklearn.ElasticNet(**kw, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-5)
    # with the default tol both run the same iteration and stop at the same sweep
    ours = ElasticNet(**kw).fit(X, y)
    ref = sklearn.ElasticNet(**kw).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.dual_gap_, ref.dual_gap_, rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("n, p", SHAPES)
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_solution_beats_perturbed_points_and_meets_kkt(rng, n, p, l1_ratio):
    X, y = _data(rng, n, p)
    alpha = 0.2
    m = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=100000).fit(X, y)
    w, b = m.coef_, m.intercept_
    f0 = _objective(X, y, w, b, alpha, l1_ratio)
    for scale in (1e-2, 1e-4):
        for _ in range(20):
            dw = scale * rng.standard_normal(p) * (rng.random(p) < 0.5)
            db = scale * rng.standard_normal()
            assert f0 <= _objective(X, y, w + dw, b + db, alpha, l1_ratio) + 1e-12
    # KKT: the smooth gradient g_j = -X_j^T r / n + alpha (1 - rho) w_j must equal
    # -alpha rho sign(w_j) on the support and lie in [-alpha rho, alpha rho] off it
    r = y - X @ w - b
    g = -X.T @ r / n + alpha * (1 - l1_ratio) * w
    on = w != 0
    np.testing.assert_allclose(g[on], -alpha * l1_ratio * np.sign(w[on]), atol=1e-6)
    assert np.all(np.abs(g[~on]) <= alpha * l1_ratio + 1e-6)
    assert abs(r.mean()) < 1e-10  # the unpenalised intercept zeroes the mean residual


def test_ridge_special_case_equals_closed_form(rng):
    # l1_ratio = 0: w = (Xc^T Xc + n alpha I)^-1 Xc^T yc, and the gap (formulation B) -> 0
    X, y = _data(rng, 50, 8)
    alpha = 0.4
    m = ElasticNet(alpha=alpha, l1_ratio=0.0, tol=1e-12, max_iter=10000).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + len(y) * alpha * np.eye(8), Xc.T @ yc)
    np.testing.assert_allclose(m.coef_, w, rtol=1e-8, atol=1e-10)
    assert np.all(m.coef_ != 0)  # ridge does not select
    # at the optimum the gap is zero up to round-off in R^T R (it can come out -1e-16)
    assert abs(m.dual_gap_) <= 1e-12 * (yc @ yc) / len(y)


def test_lasso_special_case_is_sparse_and_equals_sklearn_lasso(rng):
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y = _data(rng, 80, 20)
    m = ElasticNet(alpha=0.3, l1_ratio=1.0, tol=1e-10).fit(X, y)
    ref = sklearn.Lasso(alpha=0.3, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=0, atol=1e-6)
    assert 0 < np.count_nonzero(m.coef_) < 20


def test_alpha_zero_is_least_squares(rng):
    X, y = _data(rng, 40, 5)
    m = ElasticNet(alpha=0.0, tol=1e-14, max_iter=100000).fit(X, y)
    A = np.column_stack([X, np.ones(40)])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(m.coef_, sol[:5], rtol=1e-6)
    np.testing.assert_allclose(m.intercept_, sol[5], rtol=1e-6)


def test_intercept_handles_offsets_and_constant_columns(rng):
    X, y = _data(rng, 70, 6)
    X[:, 2] = 5.0  # constant: no information, weight 0
    ref = ElasticNet(alpha=0.05, tol=1e-12).fit(X, y)
    assert ref.coef_[2] == 0.0
    # shifting X by 1e6 leaves the slopes unchanged (the Gram matrix is centred exactly)
    shifted = ElasticNet(alpha=0.05, tol=1e-12).fit(X + 1e6, y)
    np.testing.assert_allclose(shifted.coef_, ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(shifted.predict(X + 1e6), ref.predict(X), atol=1e-5)
    # a constant target is fitted by the intercept alone, with no sweep at all
    m = ElasticNet(alpha=0.1).fit(X, np.full(70, 2.5))
    assert m.n_iter_ == 0 and np.all(m.coef_ == 0) and m.intercept_ == pytest.approx(2.5)


def test_warm_start(rng):
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y = _data(rng, 60, 12)
    cold = ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-10).fit(X, y)
    m = ElasticNet(alpha=0.06, l1_ratio=0.5, tol=1e-10, warm_start=True).fit(X, y)
    m.set_params(alpha=0.05).fit(X, y)  # starts from the alpha=0.06 solution
    assert m.n_iter_ < cold.n_iter_
    np.testing.assert_allclose(m.coef_, cold.coef_, rtol=0, atol=1e-6)
    # with the default tol, the same number of sweeps as scikit-learn's warm start
    cold = ElasticNet(alpha=0.05, l1_ratio=0.5).fit(X, y)
    m = ElasticNet(alpha=0.06, l1_ratio=0.5, warm_start=True).fit(X, y)
    m.set_params(alpha=0.05).fit(X, y)
    ref = sklearn.ElasticNet(alpha=0.06, l1_ratio=0.5, warm_start=True).fit(X, y)
    ref.set_params(alpha=0.05).fit(X, y)
    assert m.n_iter_ == ref.n_iter_
    m.fit(X, y)  # refitting from its own solution: nothing left to do
    assert m.n_iter_ == 0
    # warm_start=False always starts from zero
    again = ElasticNet(alpha=0.05, l1_ratio=0.5).fit(X, y).fit(X, y)
    assert again.n_iter_ == cold.n_iter_
    with pytest.raises(ValueError, match="warm_start"):
        m.fit(X[:, :5], y)


def test_convergence_warning_and_n_iter(rng):
    X, y = _data(rng, 30, 10)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        m = ElasticNet(alpha=0.01, tol=1e-14, max_iter=2).fit(X, y)
    assert m.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ElasticNet(alpha=0.01).fit(X, y)
    assert 0 < m.n_iter_ < 1000
    assert m.dual_gap_ <= 1e-4 * np.sum((y - y.mean()) ** 2) / len(y)


def test_sklearn_conventions(rng):
    X, y = _data(rng, 30, 4)
    m = ElasticNet(alpha=-1.0, l1_ratio=7)  # the constructor only stores
    assert m.alpha == -1.0 and m.l1_ratio == 7 and not hasattr(m, "coef_")
    with pytest.raises(RuntimeError, match="not fitted"):
        ElasticNet().predict(X)
    m = ElasticNet(alpha=0.1, l1_ratio=0.2)
    assert m.fit(X, y) is m
    assert m.get_params() == dict(
        alpha=0.1, l1_ratio=0.2, fit_intercept=True, max_iter=1000, tol=1e-4, warm_start=False
    )
    assert m.coef_.shape == (4,) and isinstance(m.intercept_, float)
    with pytest.raises(ValueError, match="X has 3 features, but ElasticNet is expecting 4"):
        m.predict(X[:, :3])
    base = pytest.importorskip("sklearn.base")
    c = base.clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "coef_")
    # Fortran-ordered and strided X give the same fit as C-ordered X
    ref = ElasticNet(alpha=0.1, l1_ratio=0.2).fit(X, y)
    for X_other in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2]):
        other = ElasticNet(alpha=0.1, l1_ratio=0.2).fit(X_other, y)
        np.testing.assert_allclose(other.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
        assert other.n_iter_ == ref.n_iter_
    # lists and float32 are accepted, and give float64 results
    m32 = ElasticNet(alpha=0.1, l1_ratio=0.2).fit(X.astype(np.float32).tolist(), y)
    assert m32.coef_.dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, X_bad, y_bad, match",
    [
        ({}, "nan", None, "X contains 1 non-finite"),
        ({}, "inf", None, "X contains 1 non-finite"),
        ({}, None, "nan", "y contains 1 non-finite"),
        ({}, None, "short", "X has 20 rows but y has 19"),
        ({"alpha": -0.1}, None, None, "alpha=-0.1 is out of range"),
        ({"l1_ratio": -0.01}, None, None, "l1_ratio=-0.01 is out of range"),
        ({"l1_ratio": 1.5}, None, None, "l1_ratio=1.5 is out of range"),
        ({"max_iter": 0}, None, None, "max_iter=0 is out of range"),
        ({"tol": -1.0}, None, None, "tol=-1.0 is out of range"),
        ({}, "1d", None, "X has ndim=1"),
    ],
)
def test_bad_input_raises_value_error(rng, kwargs, X_bad, y_bad, match):
    X, y = _data(rng, 20, 3)
    if X_bad == "nan":
        X[3, 1] = np.nan
    elif X_bad == "inf":
        X[0, 0] = np.inf
    elif X_bad == "1d":
        X = X[:, 0]
    if y_bad == "nan":
        y[5] = np.nan
    elif y_bad == "short":
        y = y[:-1]
    with pytest.raises(ValueError, match=match):
        ElasticNet(**kwargs).fit(X, y)


@pytest.mark.parametrize("shape", [(20, 3), (3, 20)])
def test_overflowing_input_raises_value_error(rng, shape):
    X = rng.standard_normal(shape) * 1e200  # finite, but its squares are not
    y = rng.standard_normal(shape[0])
    with pytest.raises(ValueError, match="overflow"):
        ElasticNet(alpha=0.1).fit(X, y)
    with pytest.raises(ValueError, match="overflow"):
        ElasticNet(alpha=0.1).fit(X / 1e200, y * 1e200)


def test_bad_types_raise_type_error(rng):
    X, y = _data(rng, 20, 3)
    with pytest.raises(TypeError, match="alpha='1'"):
        ElasticNet(alpha="1").fit(X, y)
    with pytest.raises(TypeError, match="fit_intercept=1"):
        ElasticNet(fit_intercept=1).fit(X, y)


@pytest.mark.parametrize("n, p", SHAPES)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_enet_path_equals_separate_fits(rng, n, p, fit_intercept):
    X, y = _data(rng, n, p)
    path = enet_path(
        X, y, 0.6, n_alphas=12, fit_intercept=fit_intercept, tol=1e-10, max_iter=100000
    )
    assert path.coefs.shape == (p, 12) and np.all(np.diff(path.alphas) < 0)
    for i, a in enumerate(path.alphas):
        m = ElasticNet(
            alpha=a, l1_ratio=0.6, fit_intercept=fit_intercept, tol=1e-10, max_iter=100000
        ).fit(X, y)
        np.testing.assert_allclose(path.coefs[:, i], m.coef_, rtol=0, atol=1e-6)
        np.testing.assert_allclose(path.intercepts[i], m.intercept_, rtol=0, atol=1e-6)
    # alpha_max is the smallest penalty with an all-zero solution
    assert np.all(path.coefs[:, 0] == 0)
    below = ElasticNet(alpha=path.alphas[0] * 0.98, l1_ratio=0.6, fit_intercept=fit_intercept).fit(
        X, y
    )
    assert np.any(below.coef_ != 0)
    # warm starts make the path cheaper than cold fits
    cold = sum(
        ElasticNet(alpha=a, l1_ratio=0.6, fit_intercept=fit_intercept).fit(X, y).n_iter_
        for a in path.alphas
    )
    warm = enet_path(X, y, 0.6, alphas=path.alphas, fit_intercept=fit_intercept)
    assert warm.n_iters.sum() < cold


def test_enet_path_equals_sklearn(rng):
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y = _data(rng, 50, 10)
    ours = enet_path(X, y, 0.5, n_alphas=20, eps=1e-2, tol=1e-10)
    alphas, coefs, gaps = sklearn.enet_path(X, y, l1_ratio=0.5, alphas=20, eps=1e-2, tol=1e-10)
    np.testing.assert_allclose(ours.alphas, alphas, rtol=1e-12)
    np.testing.assert_allclose(ours.coefs, coefs, rtol=0, atol=1e-6)
    # user alphas are solved in decreasing order
    ours = enet_path(X, y, 0.5, alphas=[0.01, 1.0, 0.1])
    np.testing.assert_array_equal(ours.alphas, [1.0, 0.1, 0.01])


def test_enet_path_bad_input(rng):
    X, y = _data(rng, 20, 3)
    with pytest.raises(ValueError, match="l1_ratio=0 with alphas=None"):
        enet_path(X, y, 0.0)
    with pytest.raises(ValueError, match="l1_ratio=2"):
        enet_path(X, y, 2)
    with pytest.raises(ValueError, match="alphas has a negative"):
        enet_path(X, y, 0.5, alphas=[0.1, -1.0])
    with pytest.raises(ValueError, match="eps=0"):
        enet_path(X, y, 0.5, eps=0)
    # ridge paths work when alphas are given
    path = enet_path(X, y, 0.0, alphas=[1.0, 0.1])
    assert np.all(path.coefs != 0)
