"""npml's fitted estimators as scikit-learn citizens (issue 16's first part, issue 14's messages).

scikit-learn is an optional peer: this whole file skips without it, and npml never imports
it (the last test checks that in a fresh interpreter). Covered here:

- ``sklearn.utils.estimator_checks`` for ElasticNet, KernelRidge and GaussianProcessRegressor
  (with its default hyperparameter fitting and with ``optimize=False``): every check passes.
  BradleyTerry's ``fit`` takes comparisons, not ``(X, y)``: the checks that feed it ``(X, y)``
  are expected failures, listed with the reason, and strict (a check that starts passing
  fails the test, so the list stays true);
- ``GridSearchCV`` over a ``StandardScaler`` + ``ElasticNet`` pipeline (default scoring and
  ``scoring="r2"``) and ``cross_val_score``: the same scores as scikit-learn's ElasticNet on
  the same folds (npml's ``alpha``/``l1_ratio`` are scikit-learn's, no conversion);
- a GP grid over ``kernel__length_scale``, nested ``get_params``/``set_params``, ``clone``;
- ``score`` against ``sklearn.metrics.r2_score`` (weights, several outputs, edge cases);
- npml's NotFittedError and DataConversionWarning are scikit-learn's when it is loaded.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional peer")

from sklearn import exceptions as sk_exceptions  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor as SkGP  # noqa: E402
from sklearn.gaussian_process import kernels as sk_kernels  # noqa: E402
from sklearn.linear_model import ElasticNet as SkElasticNet  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from npml._estimator import Regressor  # noqa: E402
from npml.exceptions import DataConversionWarning, NotFittedError  # noqa: E402
from npml.gp import GaussianProcessRegressor  # noqa: E402
from npml.kernels import RBF, KernelRidge, White  # noqa: E402
from npml.linear import ElasticNet  # noqa: E402
from npml.preference import BradleyTerry  # noqa: E402

# -- scikit-learn's estimator checks ------------------------------------------------------


def _checks_of(estimators, **kwargs):
    """``parametrize_with_checks``, quiet about what is deliberate: npml's estimators do not
    inherit ``sklearn.base.BaseEstimator`` (scikit-learn is not a dependency); they
    implement its protocol instead, which is what the checks verify."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Estimator .* does not inherit from `sklearn.base.BaseEstimator`"
        )
        return parametrize_with_checks(estimators, **kwargs)


@_checks_of(
    [
        ElasticNet(),
        KernelRidge(RBF()),
        GaussianProcessRegressor(RBF(), optimize=False),
        GaussianProcessRegressor(RBF()),  # the default: hyperparameters fitted in every fit
    ],
    xfail_strict=True,
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_regressors_pass_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


# BradleyTerry.fit(comparisons, n_items) takes (winner, loser) index pairs and an item count,
# not (X, y): the check's y lands in n_items and is refused (a TypeError naming n_items)
# before the check can test what it is about.
_NOT_X_Y = "fit takes (comparisons, n_items), not (X, y): y is refused as n_items"
# Every check that fits on (X, y); each fails only for the reason above.
BRADLEY_TERRY_NOT_APPLICABLE = {
    name: _NOT_X_Y
    for name in [
        "check_complex_data",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_estimator_sparse_tag",
        "check_estimators_dtypes",
        "check_estimators_empty_data_messages",
        "check_estimators_fit_returns_self",
        "check_estimators_nan_inf",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit1d",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
    ]
}


@_checks_of(
    [BradleyTerry()],
    expected_failed_checks=lambda estimator: BRADLEY_TERRY_NOT_APPLICABLE,
    xfail_strict=True,
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_bradley_terry_passes_the_checks_that_apply(estimator, check):
    # What applies: cloning, parameters, repr, tags, NotFittedError from predict_proba.
    check(estimator)


# -- pipelines, grid searches, cross-validation ------------------------------------------


def _regression(n=60, p=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 5.0, p) + rng.uniform(-3, 3, p)
    w = np.where(rng.uniform(size=p) < 0.5, 0.0, rng.standard_normal(p))
    return X, X @ w + 0.5 * rng.standard_normal(n) + 2.0


def _pipeline(enet):
    return Pipeline([("scale", StandardScaler()), ("enet", enet)])


# npml's objective is scikit-learn's (alpha and l1_ratio mean the same): no conversion.
GRID = {"enet__alpha": [0.01, 0.1, 1.0], "enet__l1_ratio": [0.2, 0.5, 0.9]}
TIGHT = {"tol": 1e-12, "max_iter": 100_000}


@pytest.mark.parametrize("scoring", [None, "r2"])
def test_grid_search_over_a_pipeline_matches_scikit_learns_elastic_net(scoring):
    X, y = _regression()
    folds = KFold(5, shuffle=True, random_state=0)
    ours = GridSearchCV(_pipeline(ElasticNet(**TIGHT)), GRID, cv=folds, scoring=scoring)
    theirs = GridSearchCV(_pipeline(SkElasticNet(**TIGHT)), GRID, cv=folds, scoring=scoring)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fit that fails must not turn into a NaN score
        ours.fit(X, y)
        theirs.fit(X, y)
    for k in range(5):
        key = f"split{k}_test_score"
        assert np.isfinite(ours.cv_results_[key]).all()
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key], atol=1e-8)
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_params_ != {"enet__alpha": 0.01, "enet__l1_ratio": 0.2}  # not the first
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-8)


def test_cross_val_score_matches_scikit_learns_elastic_net():
    X, y = _regression(n=53, p=5, seed=1)
    ours = cross_val_score(_pipeline(ElasticNet(alpha=0.05, l1_ratio=0.7, **TIGHT)), X, y, cv=5)
    theirs = cross_val_score(_pipeline(SkElasticNet(alpha=0.05, l1_ratio=0.7, **TIGHT)), X, y, cv=5)
    assert ours.shape == (5,) and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


def test_gp_grid_over_the_kernels_length_scale_matches_scikit_learns_gp():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (40, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.standard_normal(40)
    scales = [0.1, 0.5, 1.0, 3.0]
    kernel = RBF(1.0)
    gp = GaussianProcessRegressor(kernel, noise=1e-2, optimize=False)
    ours = GridSearchCV(gp, {"kernel__length_scale": scales}, cv=4).fit(X, y)
    sk_gp = SkGP(
        sk_kernels.ConstantKernel(1.0, "fixed") * sk_kernels.RBF(1.0, "fixed"),
        alpha=1e-2,
        optimizer=None,
    )
    theirs = GridSearchCV(sk_gp, {"kernel__k2__length_scale": scales}, cv=4).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], atol=1e-8
    )
    assert ours.best_params_["kernel__length_scale"] == 1.0
    assert ours.best_estimator_.kernel_.length_scale == 1.0
    assert kernel.length_scale == 1.0 and gp.kernel is kernel  # the search worked on clones


def test_clone_gives_independent_unfitted_copies():
    X, y = _regression(n=20, p=2)
    gp = GaussianProcessRegressor(RBF(np.array([1.0, 2.0])) + White(0.1), noise=0.1)
    copy = clone(gp)
    assert copy.kernel is not gp.kernel and repr(copy.kernel) == repr(gp.kernel)
    assert copy.kernel.k1.length_scale is not gp.kernel.k1.length_scale
    fitted = clone(ElasticNet(alpha=0.2)).fit(X, y)
    again = clone(fitted)
    assert not hasattr(again, "coef_") and again.alpha == 0.2
    assert clone(RBF(2.0)).length_scale == 2.0


# -- nested parameters -------------------------------------------------------------------


def test_nested_params_reach_the_kernel_and_its_children():
    gp = GaussianProcessRegressor(RBF(1.0) + White(0.1))
    params = gp.get_params()
    assert params["kernel__k1__length_scale"] == 1.0 and params["kernel__k2__noise"] == 0.1
    assert gp.set_params(kernel__k1__length_scale=2.5, noise=0.2) is gp
    assert gp.kernel.k1.length_scale == 2.5 and gp.noise == 0.2
    assert gp.get_params()["kernel__k1__length_scale"] == 2.5
    with pytest.raises(ValueError, match="'nope' is not a parameter of RBF"):
        gp.set_params(kernel__k1__nope=1.0)
    with pytest.raises(ValueError, match="'noise__x': noise=0.2 has no parameters"):
        gp.set_params(noise__x=1.0)


def test_kernel_set_params_checks_values_as_the_constructor_does():
    k = RBF(1.0)
    with pytest.raises(ValueError, match="length_scale=-1.0 is out of range"):
        k.set_params(length_scale=-1.0)
    assert k.length_scale == 1.0  # unchanged by the refused value
    assert k.set_params(length_scale=3) is k and k.length_scale == 3.0 and k.theta.size == 2


# -- score -------------------------------------------------------------------------------


class _Fixed(Regressor):
    """A regressor that predicts the given values, to test ``score`` alone."""

    def __init__(self, pred=None):
        self.pred = pred

    def predict(self, X):
        return np.asarray(self.pred, dtype=np.float64)


def test_score_is_scikit_learns_r2_with_and_without_weights():
    X, y = _regression(n=30, p=3, seed=3)
    w = np.random.default_rng(4).uniform(0.1, 2.0, 30)
    for model in (
        ElasticNet(alpha=0.3).fit(X[:20], y[:20]),
        GaussianProcessRegressor(RBF(3.0), noise=0.5).fit(X[:20], y[:20]),
    ):
        pred = model.predict(X[20:])
        assert model.score(X[20:], y[20:]) == pytest.approx(r2_score(y[20:], pred), abs=1e-14)
        assert model.score(X[20:], y[20:], sample_weight=w[20:]) == pytest.approx(
            r2_score(y[20:], pred, sample_weight=w[20:]), abs=1e-14
        )


def test_score_of_several_outputs_and_of_constant_targets():
    X, y = _regression(n=25, p=3, seed=5)
    Y = np.stack([y, -2 * y + 1, np.full(25, 3.0)], axis=1)  # the last column is constant
    model = KernelRidge(RBF(2.0), alpha=0.1).fit(X, Y)
    assert model.score(X, Y) == pytest.approx(r2_score(Y, model.predict(X)), abs=1e-14)
    # a constant y predicted exactly scores 1, predicted inexactly 0 (scikit-learn's rule)
    for pred in ([3.0, 3.0], [3.0, 4.0], [1.0, 5.0]):
        for y_true in ([3.0, 3.0], [1.0, 5.0]):
            expected = r2_score(y_true, pred)
            assert _Fixed(pred).score(np.zeros((2, 1)), y_true) == expected
    with pytest.warns(sk_exceptions.UndefinedMetricWarning, match="less than two samples"):
        assert np.isnan(model.score(X[:1], Y[:1]))


# -- errors and warnings as scikit-learn's ------------------------------------------------


def test_not_fitted_error_is_scikit_learns_when_it_is_loaded():
    with pytest.raises(sk_exceptions.NotFittedError) as info:
        ElasticNet().predict(np.ones((2, 3)))
    assert isinstance(info.value, NotFittedError) and type(info.value).__name__ == "NotFittedError"
    again = pickle.loads(pickle.dumps(info.value))  # pickles as npml's own class
    assert type(again) is NotFittedError and again.args == info.value.args


def test_column_vector_y_is_raveled_with_scikit_learns_warning():
    X, y = _regression(n=20, p=2)
    with pytest.warns(sk_exceptions.DataConversionWarning, match="A column-vector y was passed"):
        model = ElasticNet(alpha=0.1).fit(X, y[:, None])
    with pytest.warns(DataConversionWarning):
        ElasticNet(alpha=0.1).fit(X, y[:, None])
    np.testing.assert_array_equal(model.coef_, ElasticNet(alpha=0.1).fit(X, y).coef_)


def test_convergence_warning_is_scikit_learns_when_it_is_loaded():
    X, y = _regression(n=30, p=6)
    with pytest.warns(sk_exceptions.ConvergenceWarning):
        ElasticNet(alpha=1e-4, max_iter=1, tol=1e-12).fit(X, y)


def test_object_arrays_of_numbers_are_converted_and_others_refused():
    X, y = _regression(n=20, p=2)
    model = ElasticNet(alpha=0.1).fit(X.astype(object), y.astype(object))
    np.testing.assert_array_equal(model.coef_, ElasticNet(alpha=0.1).fit(X, y).coef_)
    bad = X.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="X has dtype object and could not be converted"):
        ElasticNet().fit(bad, y)


def test_tags_describe_each_estimator():
    from sklearn.utils import get_tags

    for model in (ElasticNet(), GaussianProcessRegressor(RBF()), KernelRidge(RBF())):
        tags = get_tags(model)
        assert tags.estimator_type == "regressor" and tags.target_tags.required
        assert not tags.input_tags.sparse and not tags.input_tags.allow_nan
    assert get_tags(KernelRidge(RBF())).target_tags.multi_output
    assert not get_tags(ElasticNet()).target_tags.multi_output
    assert get_tags(BradleyTerry()).estimator_type is None
    assert not get_tags(GaussianProcessRegressor(RBF(), n_restarts=2, rng=0)).non_deterministic
    assert get_tags(GaussianProcessRegressor(RBF(), n_restarts=2)).non_deterministic
    assert not ElasticNet().__sklearn_is_fitted__()


def test_npml_never_imports_scikit_learn():
    code = (
        "import sys, numpy as np\n"
        "import npml.gp, npml.kernels, npml.linear, npml.preference\n"
        "from npml.linear import ElasticNet\n"
        "X = np.random.default_rng(0).standard_normal((20, 3))\n"
        "m = ElasticNet(alpha=0.1).fit(X, X[:, 0])\n"
        "m.score(X, X[:, 0]); m.get_params(); m.set_params(alpha=0.2)\n"
        "try:\n"
        "    ElasticNet().predict(X)\n"
        "except npml.exceptions.NotFittedError:\n"
        "    pass\n"
        "assert not [k for k in sys.modules if k.startswith('sklearn')], 'sklearn imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
