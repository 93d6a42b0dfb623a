import numpy as np
import pytest

from npml.nn.linear import Linear, linear_forward


def test_module_accumulates_and_counts(rng):
    layer = Linear(4, 3, rng=0, dtype=np.float64)
    assert layer.n_params() == 4 * 3 + 3
    assert [n for n, _ in layer.named_parameters()] == ["W", "b"]
    assert Linear(4, 3, bias=False, rng=0, dtype=np.float64).n_params() == 12
    x, dout = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    layer(x)
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, dout @ layer.W.data.T)
    first = layer.W.grad.copy()
    layer(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.W.grad, 2 * first)  # accumulated, not overwritten
    layer.zero_grad()
    assert not layer.W.grad.any() and not layer.b.grad.any()


def test_init_is_seeded_and_scaled():
    a, b = Linear(100, 50, rng=3, dtype=np.float64), Linear(100, 50, rng=3, dtype=np.float64)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert np.abs(a.W.data).max() <= 1 / np.sqrt(100)
    assert not a.b.data.any()
    assert Linear(3, 2, rng=0, dtype=np.float32).W.data.dtype == np.float32


def test_float32_stays_float32(rng):
    layer = Linear(4, 3, rng=0, dtype=np.float32)
    y = layer(rng.standard_normal((2, 4)).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_bad_inputs(rng):
    layer = Linear(4, 3, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"x has shape \(2, 5\); expected last dimension 4"):
        layer(rng.standard_normal((2, 5)))
    x = rng.standard_normal((2, 4))
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        layer(x)
    with pytest.raises(ValueError, match=r"W has shape \(4,\)"):
        linear_forward(np.ones((2, 4)), np.ones(4))
    with pytest.raises(ValueError, match=r"b has shape \(2,\); expected \(3,\)"):
        linear_forward(np.ones((2, 4)), np.ones((4, 3)), np.ones(2))
    with pytest.raises(ValueError, match="d_in=0"):
        Linear(0, 3, dtype=np.float64)
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(2, 2, dtype=np.float64).backward(np.ones((1, 2)))
