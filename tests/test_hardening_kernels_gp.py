"""Hardening of npml.kernels and npml.gp (issue 14): each defect class is one table over
the entry points it concerns; every error names the argument."""

import numpy as np
import pytest

from npml.gp import GaussianProcessRegressor, log_marginal_likelihood
from npml.kernels import (
    RBF,
    Constant,
    DotProduct,
    KernelRidge,
    Linear,
    Matern,
    NotPositiveDefiniteError,
    Periodic,
    Polynomial,
    Product,
    RationalQuadratic,
    Sum,
    White,
    cholesky_lower,
    cholesky_solve,
    polynomial_features,
    sq_dist,
)
from npml.kernels.distances import weighted_sq_diff_sums

X = np.linspace(0.0, 1.0, 6)[:, None]
Y = np.sin(5.0 * X[:, 0])


def fitted_gp(**kwargs):
    return GaussianProcessRegressor(RBF(0.3), noise=1e-2, optimize=False, **kwargs).fit(X, Y)


# -- 1. flags that are not booleans --------------------------------------------------------
FLAG_CALLS = {
    "normalize_y": lambda v: GaussianProcessRegressor(RBF(), normalize_y=v, optimize=False).fit(
        X, Y
    ),
    "optimize": lambda v: GaussianProcessRegressor(RBF(), optimize=v).fit(X, Y),
    "return_std": lambda v: fitted_gp().predict(X, return_std=v),
    "return_cov": lambda v: fitted_gp().predict(X, return_cov=v),
    "eval_gradient": lambda v: fitted_gp().log_marginal_likelihood(eval_gradient=v),
    "eval_gradient ": lambda v: log_marginal_likelihood(RBF(), X, Y, 0.1, eval_gradient=v),
    "deep": lambda v: RBF().get_params(deep=v),
}


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, np.array([True])])
@pytest.mark.parametrize("flag", FLAG_CALLS)
def test_flags_must_be_bools(flag, value):
    with pytest.raises(TypeError, match=f"{flag.strip()}=.*expected True or False"):
        FLAG_CALLS[flag](value)


@pytest.mark.parametrize("flag", FLAG_CALLS)
def test_numpy_bools_are_flags(flag):
    FLAG_CALLS[flag](np.bool_(False))


# -- 2. complex input is refused, not cast -----------------------------------------------------
Z = X + 1j


COMPLEX_CALLS = {
    "X": [
        lambda: RBF()(Z),
        lambda: Matern()(Z),
        lambda: Periodic()(Z),
        lambda: Polynomial()(Z),
        lambda: RBF().diag(Z),
        lambda: RBF().gradient(Z),
        lambda: RBF().gradient_dot(Z, np.eye(6)),
        lambda: sq_dist(Z),
        lambda: polynomial_features(Z),
        lambda: KernelRidge(RBF()).fit(Z, Y),
        lambda: KernelRidge(RBF()).fit(X, Y).predict(Z),
        lambda: GaussianProcessRegressor(RBF(), optimize=False).fit(Z, Y),
        lambda: fitted_gp().predict(Z),
        lambda: fitted_gp().sample_prior(Z),
        lambda: log_marginal_likelihood(RBF(), Z, Y, 0.1),
    ],
    "Y": [lambda: RBF()(X, Z), lambda: sq_dist(X, Z)],
    "y": [
        lambda: KernelRidge(RBF()).fit(X, Y + 1j),
        lambda: GaussianProcessRegressor(RBF(), optimize=False).fit(X, Y + 1j),
        lambda: log_marginal_likelihood(RBF(), X, Y + 1j, 0.1),
    ],
    "W": [lambda: RBF().gradient_dot(X, np.eye(6) + 0j)],
    "theta": [
        lambda: RBF().with_theta(np.zeros(2) + 1j),
        lambda: fitted_gp().log_marginal_likelihood(np.zeros(3) + 1j),
    ],
    "length_scale": [lambda: RBF(np.ones(2) + 1j), lambda: Matern(np.ones(2) * 1j)],
}
COMPLEX_CASES = [(name, call) for name, calls in COMPLEX_CALLS.items() for call in calls]


@pytest.mark.parametrize(("name", "call"), COMPLEX_CASES)
def test_complex_input_is_refused(name, call):
    with pytest.raises(ValueError, match=f"Complex data not supported: {name} has dtype complex"):
        call()


@pytest.mark.parametrize(
    "make", [lambda v: RBF(v), lambda v: Constant(v), lambda v: Linear(v), lambda v: White(v)]
)
def test_complex_scalar_hyperparameters_are_refused(make):
    with pytest.raises(TypeError, match="of type complex"):
        make(1 + 1j)


# -- 3. output sizes that would hang -----------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "degree", "c", "kwargs", "match"),
    [
        ((2, 20), 30, 1.0, {}, r"degree=30 on X with D=20 features gives F=4.713e\+13"),
        ((2, 10_000), 2, 1.0, {}, r"degree=2 on X with D=10000 features gives F=5.002e\+07"),
        ((2, 20), 30, 0.0, {}, r"degree=30 on X with D=20 features gives F=1.885e\+13"),
        ((2, 3), 2, 1.0, {"max_features": 9}, "F=10 output features, above max_features=9"),
        ((2, 1), 2000, 1.0, {}, "degree=2000 with c=1: the feature weights overflow"),
        ((2, 1), 300, 1e10, {}, "degree=300 with c=1e.10: the feature weights overflow"),
    ],
)
def test_polynomial_features_refuses_sizes_up_front(shape, degree, c, kwargs, match):
    with pytest.raises(ValueError, match=match):
        polynomial_features(np.ones(shape), degree, c, **kwargs)


def test_polynomial_features_size_is_exact_at_the_limit():
    Phi = polynomial_features(np.ones((2, 3)), 2, max_features=10)  # C(5, 2) = 10
    assert Phi.shape == (2, 10)
    assert polynomial_features(np.ones((2, 0)), 3).shape == (2, 1)  # only the constant


# -- 4. ranges and extremes ------------------------------------------------------------------
HYPERPARAMETER_CASES = [
    (lambda v: RBF(length_scale=v), "length_scale"),
    (lambda v: RBF(variance=v), "variance"),
    (lambda v: RBF(length_scale=[1.0, v]), "length_scale"),
    (lambda v: Matern(length_scale=v), "length_scale"),
    (lambda v: RationalQuadratic(alpha=v), "alpha"),
    (lambda v: RationalQuadratic(length_scale=v), "length_scale"),
    (lambda v: Periodic(period=v), "period"),
    (lambda v: Periodic(length_scale=v), "length_scale"),
    (lambda v: Periodic(variance=v), "variance"),
    (lambda v: Linear(variance=v), "variance"),
    (lambda v: Constant(v - 1.0), "value"),  # 0 is allowed here (fixed), -1 is not
    (lambda v: White(v - 1.0), "noise"),
    (lambda v: DotProduct(v - 1.0), "sigma_0"),
    (lambda v: Polynomial(c=v - 1.0), "c"),
    (lambda v: KernelRidge(RBF(), alpha=v - 1.0).fit(X, Y), "alpha"),
    (lambda v: GaussianProcessRegressor(RBF(), noise=v - 1.0, optimize=False).fit(X, Y), "noise"),
    (lambda v: log_marginal_likelihood(RBF(), X, Y, v - 1.0), "noise"),
    (lambda v: log_marginal_likelihood(RBF(), X, Y, 0.1, jitter=v - 1.0), "jitter"),
]


@pytest.mark.parametrize("value", [0.0, -1.0, -1e-3, np.nan, np.inf])
@pytest.mark.parametrize(("make", "name"), HYPERPARAMETER_CASES)
def test_hyperparameters_out_of_range_are_refused(make, name, value):
    if value == 0.0 and name in ("value", "noise", "sigma_0", "c", "alpha", "jitter"):
        value = -1e-3  # these take v - 1: probe just below their lower bound 0
    with pytest.raises(ValueError, match=name):
        make(value)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Matern(nu=2.0), "nu"),
        (lambda: Matern(nu="1.5"), "nu"),
        (lambda: Matern(nu=np.inf), "nu"),
        (lambda: Polynomial(degree=0), "degree"),
        (lambda: Polynomial(degree=1.5), "degree"),
        (lambda: Polynomial(degree=True), "degree"),
        (
            lambda: GaussianProcessRegressor(RBF(), n_restarts=-1, optimize=False).fit(X, Y),
            "n_restarts",
        ),
        (lambda: fitted_gp().sample_posterior(X, n_samples=0), "n_samples"),
        (lambda: polynomial_features(X, max_features=0), "max_features"),
        (lambda: RBF().with_theta([1000.0, 0.0]), r"theta\[0\]=1000"),
        (lambda: (RBF() + White()).with_theta([0.0, 0.0, -800.0]), r"theta\[2\]=-800"),
        (lambda: fitted_gp().log_marginal_likelihood([0.0, 0.0, -800.0]), r"theta\[-1\]=-800"),
        (lambda: RBF().gradient_dot(X, np.eye(6), K="a"), "K="),
        (lambda: RBF().gradient_dot(X, np.eye(6), K=np.eye(5)), r"K has shape \(5, 5\)"),
    ],
)
def test_other_hyperparameters_are_checked(make, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make()


@pytest.mark.parametrize("scale", [1e308, -1e308, 1e200, 1e150])
def test_normalize_y_handles_extreme_target_scales(scale):
    ref = fitted_gp(normalize_y=True)
    gp = fitted_gp(normalize_y=True)
    gp.fit(X, Y * scale)
    mean, std = gp.predict(X, return_std=True)
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    np.testing.assert_allclose(mean / scale, ref.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std / abs(scale), ref.predict(X, return_std=True)[1], rtol=1e-9)
    assert np.isfinite(gp.log_marginal_likelihood_value_)


def test_normalize_y_of_huge_constant_targets():
    gp = GaussianProcessRegressor(RBF(0.3), noise=1e-2, normalize_y=True, optimize=False)
    np.testing.assert_allclose(gp.fit(X, np.full(6, 1e308)).predict(X), 1e308, rtol=1e-12)


OVERFLOW_CASES = [
    (lambda: log_marginal_likelihood(RBF(0.3), X, Y * 1e200, 1e-2), "y"),
    (lambda: log_marginal_likelihood(RBF(0.3), X, Y * 1e155, 1e-2, eval_gradient=True), "y"),
    (lambda: GaussianProcessRegressor(RBF(0.3), noise=1e-2, optimize=False).fit(X, Y * 1e200), "y"),
    (lambda: GaussianProcessRegressor(RBF(0.3), 1e-2, optimize=True).fit(X, Y * 1e200), "y"),
    (lambda: fitted_gp(normalize_y=True).fit(X, Y * 1e308).predict(X, return_cov=True), "y"),
    (lambda: Polynomial(degree=3)(X * 1e200), "X"),
    (lambda: Linear()(X * 1e200), "X"),
    (lambda: (RBF() * Polynomial(30))(X * 1e20), "X"),
    (lambda: Matern()(np.array([[1e200], [-1e200]])), "X"),
    (lambda: polynomial_features(X * 1e200, 3), "X"),
    (lambda: KernelRidge(Polynomial(3)).fit(X * 1e200, Y), "X"),
]


@pytest.mark.parametrize(("call", "name"), OVERFLOW_CASES)
def test_overflow_raises_naming_the_users_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b") as info:
        call()  # pytest's config turns any RuntimeWarning into a failure
    assert "W " not in str(info.value)  # never the likelihood's internal matrix


def test_not_positive_definite_names_the_remedy():
    Xd = np.zeros((3, 1))  # three identical points: a singular Gram matrix
    with pytest.raises(ValueError, match="not positive definite.*increase noise"):
        log_marginal_likelihood(RBF(), Xd, np.arange(3.0), 0.0)
    with pytest.raises(ValueError, match="not positive definite.*increase alpha"):
        KernelRidge(RBF(), alpha=0.0).fit(Xd, np.arange(3.0))


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: log_marginal_likelihood("rbf", X, Y, 0.1), TypeError, "kernel"),
        (lambda: log_marginal_likelihood(RBF(), X, Y[:3], 0.1), ValueError, "X has 6 rows"),
        (lambda: log_marginal_likelihood(RBF(), X[:, 0], Y, 0.1), ValueError, "X has ndim=1"),
        (lambda: log_marginal_likelihood(RBF(), X, Y, "0.1"), TypeError, "noise"),
        (lambda: log_marginal_likelihood(RBF(), X, Y * np.nan, 0.1), ValueError, "y contains"),
        (lambda: weighted_sq_diff_sums(np.eye(6), X), None, None),
    ],
)
def test_log_marginal_likelihood_checks_its_arguments(call, error, name):
    if error is None:
        call()
        return
    with pytest.raises(error, match=name):
        call()


def test_bounded_kernels_still_give_finite_grams_on_extreme_input():
    Xe = np.array([[1e200], [-1e200], [0.0]])
    for k in (RBF(), RationalQuadratic(), RBF() + White(0.1), Constant(2.0) * RBF()):
        K = k(Xe)
        assert np.isfinite(K).all()
        np.testing.assert_allclose(np.diag(K), k.diag(Xe))


# -- 5. composites and the linear algebra ------------------------------------------------------
_NAN_K = np.array([[1.0, np.nan], [np.nan, 1.0]])
LINALG_CASES = [
    ("Sum k2='a'", lambda: Sum(RBF(), "a"), TypeError, "k2='a' is not a Kernel"),
    ("Sum k1=3.0", lambda: Sum(3.0, RBF()), TypeError, "k1=3.0 is not a Kernel"),
    ("Product k1=None", lambda: Product(None, RBF()), TypeError, "k1=None is not a Kernel"),
    ("Product k2=RBF class", lambda: Product(RBF(), RBF), TypeError, "k2=.* is not a Kernel"),
    ("cholesky_lower K str", lambda: cholesky_lower("K"), TypeError, "K is a str"),
    ("cholesky_lower K list", lambda: cholesky_lower([[1.0]]), TypeError, "K is a list"),
    (
        "cholesky_lower not square",
        lambda: cholesky_lower(np.ones((2, 3))),
        ValueError,
        r"K: expected a square float64 matrix, got float64 \(2, 3\)",
    ),
    (
        "cholesky_lower complex",
        lambda: cholesky_lower(np.eye(2) + 0j),
        ValueError,
        "K: expected a square float64 matrix, got complex128",
    ),
    (
        "cholesky_lower NaN",  # LAPACK returned a factor of NaNs without an error
        lambda: cholesky_lower(_NAN_K.copy()),
        ValueError,
        "K contains 2 non-finite",
    ),
    (
        "cholesky_lower NaN named",
        lambda: cholesky_lower(_NAN_K.copy(), name="K(X, X)"),
        ValueError,
        r"K\(X, X\) contains 2 non-finite",
    ),
    (
        "cholesky_lower not PD",
        lambda: cholesky_lower(np.array([[1.0, 2.0], [2.0, 1.0]]), remedy="add jitter"),
        NotPositiveDefiniteError,
        "K is not positive definite .*; add jitter",
    ),
    ("cholesky_solve L list", lambda: cholesky_solve([[1.0]], np.ones(1)), TypeError, "L is a"),
    (
        "cholesky_solve L not square",
        lambda: cholesky_solve(np.ones((2, 3)), np.ones(2)),
        ValueError,
        r"L: expected a square float64 matrix, got float64 \(2, 3\)",
    ),
    (
        "cholesky_solve L singular",  # dpotrs divided by the zero pivot: NaN
        lambda: cholesky_solve(np.zeros((2, 2)), np.ones(2)),
        ValueError,
        "L is not a Cholesky factor",
    ),
    (
        "cholesky_solve L NaN",
        lambda: cholesky_solve(np.array([[1.0, 0.0], [np.nan, 1.0]]), np.ones(2)),
        ValueError,
        "L is not a Cholesky factor",
    ),
    (
        "cholesky_solve b rows",
        lambda: cholesky_solve(np.eye(2), np.ones(3)),
        ValueError,
        r"b has shape \(3,\); expected 2 rows like L",
    ),
    (
        "cholesky_solve b 3-D",
        lambda: cholesky_solve(np.eye(2), np.ones((2, 2, 2))),
        ValueError,
        "b has ndim=3",
    ),
    (
        "cholesky_solve b NaN",
        lambda: cholesky_solve(np.eye(2), np.array([1.0, np.nan])),
        ValueError,
        "b contains 1 non-finite",
    ),
    (
        "cholesky_solve b complex",  # cast with a ComplexWarning before
        lambda: cholesky_solve(np.eye(2), np.ones(2) + 1j),
        ValueError,
        "Complex data not supported: b",
    ),
    ("cholesky_solve b str", lambda: cholesky_solve(np.eye(2), "b"), TypeError, "b='b'"),
]


@pytest.mark.parametrize(
    ("what", "call", "error", "match"), LINALG_CASES, ids=[c[0] for c in LINALG_CASES]
)
def test_composites_and_linear_algebra_refuse_bad_input_by_name(what, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_cholesky_solve_still_solves():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    K = A @ A.T + 4.0 * np.eye(4)
    b = rng.standard_normal((4, 2))
    L = cholesky_lower(K.copy())
    np.testing.assert_allclose(K @ cholesky_solve(L, b), b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(K @ cholesky_solve(L, b[:, 0]), b[:, 0], rtol=1e-10, atol=1e-12)
