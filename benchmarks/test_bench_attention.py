"""Fused attention vs PyTorch SDPA under pytest-benchmark (cases of chapters/attention.py).

python -m pytest benchmarks/test_bench_attention.py --benchmark-only
"""

import numpy as np
import pytest

from npml.bench.chapters.attention import (
    inputs,
    naive_forward,
    npml_forward,
    npml_forward_backward,
    torch_forward,
    torch_forward_backward,
)

T = 1024  # one sequence, 8 heads, D = 64, float32
FORWARD = f"attention: forward B=1 H=8 T={T} D=64 f32"
FORWARD_BACKWARD = f"attention: forward+backward B=1 H=8 T={T} D=64 f32"


@pytest.fixture(scope="module")
def data():
    return inputs(T, np.float32)


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    import numba

    torch.set_num_threads(numba.get_num_threads())
    return torch


@pytest.mark.benchmark(group=FORWARD)
def test_forward_npml_fused(benchmark, data):
    q, k, v, _ = data
    out = benchmark(npml_forward(q, k, v))
    assert out.shape == q.shape


@pytest.mark.benchmark(group=FORWARD)
def test_forward_numpy_plain(benchmark, data):
    q, k, v, _ = data
    out, _ = benchmark(naive_forward(q, k, v))
    assert out.shape == q.shape


@pytest.mark.benchmark(group=FORWARD)
def test_forward_torch(benchmark, data, torch):
    q, k, v, _ = data
    out = benchmark(torch_forward(torch, q, k, v))
    assert tuple(out.shape) == q.shape


@pytest.mark.benchmark(group=FORWARD_BACKWARD)
def test_forward_backward_npml_fused(benchmark, data):
    q, k, v, dout = data
    dq, dk, dv = benchmark(npml_forward_backward(q, k, v, dout))
    assert dq.shape == q.shape and dv.shape == v.shape


@pytest.mark.benchmark(group=FORWARD_BACKWARD)
def test_forward_backward_torch(benchmark, data, torch):
    q, k, v, dout = data
    benchmark(torch_forward_backward(torch, q, k, v, dout))
