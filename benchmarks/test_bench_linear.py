"""Elastic net vs scikit-learn under pytest-benchmark (same cases as chapters/linear.py).

python -m pytest benchmarks/test_bench_linear.py --benchmark-only
"""

import warnings

import pytest

from npml.bench.chapters.linear import regression
from npml.linear import ElasticNet, enet_path

N, P = 5000, 200


@pytest.fixture(scope="module")
def data():
    return regression(N, P)


@pytest.mark.benchmark(group="linear: ElasticNet fit n=5000 p=200 alpha=0.1 l1_ratio=0.5")
def test_enet_fit_npml(benchmark, data):
    X, y = data
    m = benchmark(lambda: ElasticNet(alpha=0.1, l1_ratio=0.5).fit(X, y))
    assert m.n_iter_ > 0


@pytest.mark.benchmark(group="linear: ElasticNet fit n=5000 p=200 alpha=0.1 l1_ratio=0.5")
def test_enet_fit_sklearn(benchmark, data):
    sk = pytest.importorskip("sklearn.linear_model")
    X, y = data
    m = benchmark(lambda: sk.ElasticNet(alpha=0.1, l1_ratio=0.5).fit(X, y))
    assert m.n_iter_ > 0


@pytest.mark.benchmark(group="linear: enet_path 100 alphas n=5000 p=200")
def test_enet_path_npml(benchmark, data):
    X, y = data
    path = benchmark(lambda: enet_path(X, y, 0.5, n_alphas=100))
    assert path.coefs.shape == (P, 100)


@pytest.mark.benchmark(group="linear: enet_path 100 alphas n=5000 p=200")
def test_enet_path_sklearn(benchmark, data):
    sk = pytest.importorskip("sklearn.linear_model")
    X, y = data
    with warnings.catch_warnings():  # the path's smallest alphas may stop at max_iter
        warnings.simplefilter("ignore")
        _, coefs, _ = benchmark(lambda: sk.enet_path(X, y, l1_ratio=0.5, alphas=100))
    assert coefs.shape == (P, 100)
