"""The complexity chapter's cases under pytest-benchmark (cases of chapters/complexity.py).

python -m pytest benchmarks/test_bench_complexity.py --benchmark-only

A few points of each sweep, each in its own group with npml's contenders and torch side by
side, on one thread per library as in the report (its docstring says why). Compare a group
at T with the group at 2T to read the cost's growth off the table.
"""

import pytest

from npml.bench.chapters._complexity_ops import FAMILIES
from npml.bench.chapters._complexity_sweeps import one_thread as _one_thread

CASES = {  # family: (T, D) points on the report's sweeps
    "attention": [(1024, 256), (2048, 256), (512, 1024)],
    "FFN": [(1024, 256), (2048, 256), (128, 1024)],
    "encoder layer": [(1024, 128), (2048, 128), (256, 512)],
}


def _params():
    for family, shapes in CASES.items():
        fam = FAMILIES[family]
        names = [*fam.contenders, fam.peer[0]]
        for T, D in shapes:
            for name in names:
                group = f"complexity: {family} T={T} D={D}"
                yield pytest.param(
                    family,
                    name,
                    T,
                    D,
                    marks=pytest.mark.benchmark(group=group),
                    id=f"{group} {name}",
                )


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with _one_thread():
        yield


@pytest.mark.parametrize(("family", "name", "T", "D"), list(_params()))
def test_complexity_case(benchmark, family, name, T, D):
    fam = FAMILIES[family]
    make = fam.peer[1] if name == fam.peer[0] else fam.contenders[name]
    if name == fam.peer[0]:
        pytest.importorskip("torch")
    fn = make(T, D)
    if fn is None:
        pytest.skip(f"{name} is not available here")
    out = benchmark(fn)
    assert out is not None
