"""AdamW step: npml's fused kernel next to torch.optim.AdamW (default and fused=True).

``python -m pytest benchmarks/test_bench_optim.py --benchmark-only``; the report chapter
``npml/bench/chapters/optim.py`` has the same case at the issue's 10M-parameter size.
"""

import pytest

from npml.bench.chapters.optim import make_problem, npml_adamw

D = 64  # 231 transformer-shaped tensors, about 1.1M float32 parameters


@pytest.fixture(scope="module")
def problem():
    return make_problem(D)


@pytest.mark.benchmark(group="adamw-step")
def test_npml_adamw(benchmark, problem):
    opt = npml_adamw(*problem)
    opt.step()  # compile / warm up outside the timing
    benchmark(opt.step)


@pytest.mark.benchmark(group="adamw-step")
@pytest.mark.parametrize("fused", [False, True], ids=["default", "fused"])
def test_torch_adamw(benchmark, problem, fused):
    torch = pytest.importorskip("torch")
    data, grads = problem
    ts = [torch.tensor(x.copy()) for x in data]
    for t, g in zip(ts, grads, strict=True):
        t.grad = torch.tensor(g.copy())
    opt = torch.optim.AdamW(ts, lr=1e-3, weight_decay=1e-2, fused=fused)
    opt.step()
    benchmark(opt.step)
