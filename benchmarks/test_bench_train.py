"""One training step of the char-level GPT: npml next to the same model in torch.

``python -m pytest benchmarks/test_bench_train.py --benchmark-only``; the report chapter
``benchmarks/chapters/train.py`` has the same step at d_model 128 and 256, the breakdown of
npml's step, and generation with the KV cache.
"""

import pytest

from npml.bench.chapters._train_models import (
    GPT,
    batch,
    npml_model,
    npml_step,
    torch_gpt,
    torch_step,
)

CFG = GPT(128)  # 4 layers, 4 heads, vocab 65, T=128, batch 16, float32


@pytest.fixture(scope="module")
def xy():
    return batch(CFG)


@pytest.mark.benchmark(group="gpt-train-step")
def test_npml_train_step(benchmark, xy):
    step = npml_step(npml_model(CFG), *xy)
    step()  # compile / warm up outside the timing
    benchmark(step)


@pytest.mark.benchmark(group="gpt-train-step")
@pytest.mark.parametrize("fused", [False, True], ids=["default-adamw", "fused-adamw"])
def test_torch_train_step(benchmark, xy, fused):
    torch = pytest.importorskip("torch")
    step = torch_step(torch, torch_gpt(torch, npml_model(CFG)), *xy, fused)
    step()
    benchmark(step)
