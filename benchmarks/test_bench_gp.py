"""Kernels and GPs vs scikit-learn under pytest-benchmark (cases of chapters/gp.py).

python -m pytest benchmarks/test_bench_gp.py --benchmark-only
"""

import numpy as np
import pytest

from npml.bench.chapters.gp import NOISE, regression, sklearn_gp
from npml.gp import GaussianProcessRegressor
from npml.kernels import RBF

GRAM = "gp: RBF Gram 4000x4000x10"
FIT_PREDICT = "gp: fit+predict(std) n=2000 test=500 d=5"
OPTIMIZE = "gp: fit with L-BFGS-B n=400 d=5 restarts=1"


@pytest.fixture(scope="module")
def gram_data():
    return np.random.default_rng(1).standard_normal((4000, 10))


@pytest.fixture(scope="module")
def gp_data():
    return regression(2000)


@pytest.mark.benchmark(group=GRAM)
def test_gram_npml(benchmark, gram_data):
    K = benchmark(lambda: RBF(1.0)(gram_data))
    assert K.shape == (4000, 4000)


@pytest.mark.benchmark(group=GRAM)
def test_gram_sklearn(benchmark, gram_data):
    pairwise = pytest.importorskip("sklearn.metrics.pairwise")
    K = benchmark(lambda: pairwise.rbf_kernel(gram_data, gamma=0.5))
    assert K.shape == (4000, 4000)


@pytest.mark.benchmark(group=FIT_PREDICT)
def test_fit_predict_npml(benchmark, gp_data):
    X, y, X_test = gp_data
    _, std = benchmark(
        lambda: (
            GaussianProcessRegressor(RBF(1.5), noise=NOISE, optimize=False)
            .fit(X, y)
            .predict(X_test, return_std=True)
        )
    )
    assert std.shape == (500,)


@pytest.mark.benchmark(group=FIT_PREDICT)
def test_fit_predict_sklearn(benchmark, gp_data):
    sk_gp = pytest.importorskip("sklearn.gaussian_process")
    X, y, X_test = gp_data
    _, std = benchmark(lambda: sklearn_gp(sk_gp, False).fit(X, y).predict(X_test, return_std=True))
    assert std.shape == (500,)


@pytest.mark.benchmark(group=OPTIMIZE)
def test_optimize_npml(benchmark):
    X, y, _ = regression(400, seed=1)
    gp = benchmark(
        lambda: GaussianProcessRegressor(
            RBF(1.5), noise=NOISE, optimize=True, n_restarts=1, rng=0
        ).fit(X, y)
    )
    assert np.isfinite(gp.log_marginal_likelihood_value_)


@pytest.mark.benchmark(group=OPTIMIZE)
def test_optimize_sklearn(benchmark):
    sk_gp = pytest.importorskip("sklearn.gaussian_process")
    X, y, _ = regression(400, seed=1)
    gp = benchmark(lambda: sklearn_gp(sk_gp, True, 1).fit(X, y))
    assert np.isfinite(gp.log_marginal_likelihood_value_)
