"""Bradley-Terry fits vs choix under pytest-benchmark (the cases of chapters/preference.py,
at sizes where choix's pure-Python loops take seconds rather than minutes).

python -m pytest benchmarks/test_bench_preference.py --benchmark-only
"""

import numpy as np
import pytest

from npml.bench.chapters.preference import simulate
from npml.preference import BradleyTerry

N_ITEMS = 200
MLE = "preference: Bradley-Terry MLE, 200 items, 20k comparisons"
L2 = "preference: Bradley-Terry L2 alpha=1, 200 items, 5k comparisons"


@pytest.fixture(scope="module")
def mle_data():
    comparisons = simulate(N_ITEMS, 20_000)
    return comparisons, [tuple(r) for r in comparisons.tolist()]


@pytest.fixture(scope="module")
def l2_data():
    comparisons = simulate(N_ITEMS, 5_000, seed=1)
    return comparisons, [tuple(r) for r in comparisons.tolist()]


@pytest.mark.benchmark(group=MLE)
@pytest.mark.parametrize("method", ["squarem", "mm", "newton"])
def test_mle_npml(benchmark, mle_data, method):
    fit = benchmark(lambda: BradleyTerry(method=method).fit(mle_data[0], N_ITEMS))
    assert abs(fit.scores_.mean()) < 1e-9


@pytest.mark.benchmark(group=MLE)
def test_mle_choix_ilsr(benchmark, mle_data):
    choix = pytest.importorskip("choix")
    scores = benchmark.pedantic(
        lambda: choix.ilsr_pairwise(N_ITEMS, mle_data[1], tol=1e-8), rounds=3, iterations=1
    )
    ours = BradleyTerry().fit(mle_data[0], N_ITEMS).scores_
    assert np.max(np.abs(scores - scores.mean() - ours)) < 1e-6


@pytest.mark.benchmark(group=L2)
@pytest.mark.parametrize("method", ["squarem", "mm", "newton"])
def test_l2_npml(benchmark, l2_data, method):
    fit = benchmark(lambda: BradleyTerry(alpha=1.0, method=method).fit(l2_data[0], N_ITEMS))
    assert abs(fit.scores_.mean()) < 1e-9


@pytest.mark.benchmark(group=L2)
def test_l2_choix_opt(benchmark, l2_data):
    choix = pytest.importorskip("choix")
    scores = benchmark.pedantic(
        lambda: choix.opt_pairwise(N_ITEMS, l2_data[1], alpha=1.0, tol=1e-8),
        rounds=1,
        iterations=1,
    )
    ours = BradleyTerry(alpha=1.0).fit(l2_data[0], N_ITEMS).scores_
    assert np.max(np.abs(scores - scores.mean() - ours)) < 1e-6
