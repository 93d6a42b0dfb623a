"""Convolutions under pytest-benchmark (cases of npml/bench/chapters/conv.py).

python -m pytest benchmarks/test_bench_conv.py --benchmark-only
"""

import numpy as np
import pytest

from npml.bench.chapters.conv import (
    conv1d_inputs,
    conv2d_inputs,
    npml_conv1d,
    npml_conv2d,
    torch_conv1d,
    torch_conv2d,
)

B, SIDE = 64, 16  # batch 64, 32 -> 32 channels, 3 x 3, padding 1, float32
FORWARD = f"conv2d: forward B={B} 32->32 3x3 {SIDE}x{SIDE} f32"
FORWARD_BACKWARD = f"conv2d: forward+backward B={B} 32->32 3x3 {SIDE}x{SIDE} f32"
CONV1D = "conv1d: causal d=4 forward+backward B=32 C=64 T=1024 K=3 f32"


@pytest.fixture(scope="module")
def data():
    return conv2d_inputs(B, SIDE)


@pytest.fixture(scope="module")
def data1d():
    return conv1d_inputs(32, 64, 1024)


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    import numba

    torch.set_num_threads(numba.get_num_threads())
    return torch


@pytest.mark.benchmark(group=FORWARD)
@pytest.mark.parametrize("reference", [False, True], ids=["kernel", "numpy-reference"])
def test_forward_npml(benchmark, data, reference):
    x, W, b, _ = data
    y, _ = benchmark(npml_conv2d(x, W, b, reference=reference))
    assert y.shape == (B, 32, SIDE, SIDE)


@pytest.mark.benchmark(group=FORWARD)
def test_forward_torch(benchmark, data, torch):
    x, W, b, _ = data
    y = benchmark(torch_conv2d(torch, x, W, b))
    assert tuple(y.shape) == (B, 32, SIDE, SIDE)


@pytest.mark.benchmark(group=FORWARD_BACKWARD)
@pytest.mark.parametrize("reference", [False, True], ids=["kernel", "numpy-reference"])
def test_forward_backward_npml(benchmark, data, reference):
    x, W, b, dout = data
    dx, dW, db = benchmark(npml_conv2d(x, W, b, dout, reference=reference))
    assert dx.shape == x.shape and dW.shape == W.shape and np.isfinite(db).all()


@pytest.mark.benchmark(group=FORWARD_BACKWARD)
def test_forward_backward_torch(benchmark, data, torch):
    x, W, b, dout = data
    benchmark(torch_conv2d(torch, x, W, b, dout))


@pytest.mark.benchmark(group=CONV1D)
def test_conv1d_npml(benchmark, data1d):
    x, W, b, dout = data1d
    dx, _, _ = benchmark(npml_conv1d(x, W, b, dout))
    assert dx.shape == x.shape


@pytest.mark.benchmark(group=CONV1D)
def test_conv1d_torch(benchmark, data1d, torch):
    x, W, b, dout = data1d
    benchmark(torch_conv1d(torch, x, W, b, dout))
