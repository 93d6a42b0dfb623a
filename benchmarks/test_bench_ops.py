"""pytest-benchmark cases of the ops chapter: npml next to its peer in each group.

python -m pytest benchmarks/test_bench_ops.py --benchmark-only
"""

import numpy as np
import pytest

from npml.ops import RunningStats, einsum

CASES = {
    "bhqd,bhkd->bhqk": [(4, 8, 256, 64), (4, 8, 256, 64)],
    "bhqk,bhkd->bhqd": [(4, 8, 256, 256), (4, 8, 256, 64)],
    "ij,jk,kl->il": [(256, 256)] * 3,
    "ii->": [(256, 256)],
    "i,i->": [(4096,), (4096,)],
}
ATTENTION = {"bhqd,bhkd->bhqk", "bhqk,bhkd->bhqd"}


def _contenders(subscripts):
    names = ["npml", "numpy"]
    if subscripts in ATTENTION:
        names.append("opt_einsum")
    return names


@pytest.mark.parametrize(
    ("subscripts", "who"),
    [(s, who) for s in CASES for who in _contenders(s)],
)
def test_einsum(benchmark, subscripts, who):
    benchmark.group = f"einsum {subscripts}"
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s) for s in CASES[subscripts]]
    if who == "npml":
        fn = lambda: einsum(subscripts, *ops)
    elif who == "numpy":
        fn = lambda: np.einsum(subscripts, *ops, optimize=True)
    else:
        oe = pytest.importorskip("opt_einsum")
        fn = lambda: oe.contract(subscripts, *ops)
    benchmark(fn)


@pytest.mark.benchmark(group="variance of 10^6 float64 (chunks of 10^5)")
@pytest.mark.parametrize("who", ["npml RunningStats", "np.var"])
def test_running_variance(benchmark, who):
    x = np.random.default_rng(1).standard_normal(10**6)
    chunks = np.split(x, 10)

    def running():
        rs = RunningStats()
        for c in chunks:
            rs.update(c)
        return rs.variance()

    result = benchmark(running if who.startswith("npml") else lambda: np.var(x))
    assert result == pytest.approx(np.var(x), rel=1e-10)
