"""Issue 14, messages: fitted-style estimators (ElasticNet, BradleyTerry) raise the error
types scikit-learn's estimator checks pin, with messages that name the user's argument.

``UNFITTED`` lists every method that needs ``fit`` first; ``BAD_DATA`` every bad ``X``/``y``
for ElasticNet with scikit-learn's wording. scikit-learn's own estimator checks run in
``tests/test_sklearn_compat.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from npml._checks import check_is_fitted
from npml.exceptions import NotFittedError
from npml.linear import ElasticNet
from npml.preference import BradleyTerry


def _X_y(n=12, p=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    return X, X @ np.arange(1.0, p + 1)


_CMP = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])

UNFITTED = [
    ("ElasticNet.predict", lambda: ElasticNet().predict(np.ones((2, 3)))),
    ("BradleyTerry.predict_proba", lambda: BradleyTerry().predict_proba([[0, 1]])),
    ("BradleyTerry.log_likelihood", lambda: BradleyTerry().log_likelihood(_CMP)),
    ("BradleyTerry.probability", lambda: BradleyTerry().probability(0, 1)),
]


@pytest.mark.parametrize(("what", "call"), UNFITTED, ids=[u[0] for u in UNFITTED])
def test_use_before_fit_raises_not_fitted_error(what, call):
    name = what.split(".")[0]
    with pytest.raises(NotFittedError, match=f"this {name} is not fitted yet; call fit") as info:
        call()
    # scikit-learn's NotFittedError is a ValueError and an AttributeError; npml raised a
    # RuntimeError before, and still does, so that older handlers keep working
    assert isinstance(info.value, ValueError | AttributeError | RuntimeError)


def test_check_is_fitted_raises_the_shared_class():
    class Est:
        pass

    with pytest.raises(NotFittedError, match="this Est is not fitted yet"):
        check_is_fitted(Est(), "coef_")
    est = Est()
    est.coef_ = 1
    check_is_fitted(est, "coef_")  # fitted: nothing raised


_RESHAPE = r"Reshape your data either using array\.reshape\(-1, 1\)"
X3, Y3 = _X_y()

# (what, call, error, pattern)
BAD_DATA = [
    (
        "fit 1-D X",
        lambda: ElasticNet().fit(X3[:, 0], Y3),
        ValueError,
        r"Expected 2D array, got 1D array instead: X has ndim=1 .*" + _RESHAPE,
    ),  # fmt: skip
    (
        "predict 1-D X",
        lambda: ElasticNet().fit(X3, Y3).predict(X3[0]),
        ValueError,
        "Expected 2D array, got 1D array instead: X has ndim=1",
    ),  # fmt: skip
    ("fit 3-D X", lambda: ElasticNet().fit(X3[None], Y3), ValueError, "X has ndim=3"),
    (
        "predict 1 feature after 3",
        lambda: ElasticNet().fit(X3, Y3).predict(X3[:, :1]),
        ValueError,
        r"^X has 1 features, but ElasticNet is expecting 3 features as input\.$",
    ),
    (
        "fit complex X",
        lambda: ElasticNet().fit(X3 + 1j, Y3),
        ValueError,
        "Complex data not supported: X",
    ),  # fmt: skip
    (
        "fit complex y",
        lambda: ElasticNet().fit(X3, Y3 + 1j),
        ValueError,
        "Complex data not supported: y",
    ),  # fmt: skip
    (
        "predict complex X",
        lambda: ElasticNet().fit(X3, Y3).predict(X3 + 1j),
        ValueError,
        "Complex data not supported: X",
    ),  # fmt: skip
    (
        "fit 0 samples",
        lambda: ElasticNet().fit(X3[:0], Y3[:0]),
        ValueError,
        r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 is required",
    ),
    (
        "fit 0 features",
        lambda: ElasticNet().fit(X3[:, :0], Y3),
        ValueError,
        r"0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1 is required",
    ),  # fmt: skip
    (
        "fit y=None",
        lambda: ElasticNet().fit(X3, None),
        ValueError,
        "requires y to be passed, but the target y is None",
    ),  # fmt: skip
    (
        "fit short y",
        lambda: ElasticNet().fit(X3, Y3[:-1]),
        ValueError,
        "X has 12 rows but y has 11",
    ),
    ("fit NaN X", lambda: ElasticNet().fit(np.where(X3 > 1, np.nan, X3), Y3), ValueError, "X"),
    (
        "predict inf X",
        lambda: ElasticNet().fit(X3, Y3).predict(np.full((1, 3), np.inf)),
        ValueError,
        "X contains 3 non-finite",
    ),  # fmt: skip
    ("fit string X", lambda: ElasticNet().fit([["a", "b", "c"]], [1.0]), TypeError, "X has dtype"),
    (
        "BradleyTerry float pairs",
        lambda: BradleyTerry().fit(_CMP + 0.5),
        TypeError,
        "comparisons has dtype float64; expected integers",
    ),  # fmt: skip
    ("BradleyTerry 1-D", lambda: BradleyTerry().fit(_CMP[0]), ValueError, "comparisons has ndim=1"),
    (
        "BradleyTerry 3 columns",
        lambda: BradleyTerry().fit(np.ones((2, 3), int)),
        ValueError,
        r"comparisons has shape \(2, 3\); expected \(n, 2\)",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("what", "call", "error", "match"), BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_raises_scikit_learns_error_naming_the_argument(what, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sparse_input_is_refused_explicitly():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse input is not supported by ElasticNet"):
        ElasticNet().fit(sparse.csr_matrix(X3), Y3)


# scikit-learn's estimator checks for ElasticNet (all of them now, no expected failure) run
# in tests/test_sklearn_compat.py, with the other estimators'.
