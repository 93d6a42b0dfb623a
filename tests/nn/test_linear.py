import numpy as np
import pytest

from npml.nn.linear import Linear, linear_backward, linear_forward
from npml.testing import check_gradient


@pytest.mark.parametrize("x_shape, d_out", [((1, 3), 2), ((2, 1, 5), 7), ((3, 4, 7), 1), ((5,), 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(rng, x_shape, d_out, bias):
    x = rng.standard_normal(x_shape)
    W = rng.standard_normal((x_shape[-1], d_out))
    b = rng.standard_normal(d_out) if bias else None
    y, cache = linear_forward(x, W, b)
    np.testing.assert_allclose(y, x @ W + (0 if b is None else b), atol=1e-14)
    dout = rng.standard_normal(y.shape)
    dx, dW, db = linear_backward(dout, cache)
    assert check_gradient(lambda z: linear_forward(z, W, b)[0], x, dx, dout) < 1e-6
    assert check_gradient(lambda z: linear_forward(x, z, b)[0], W, dW, dout) < 1e-6
    if bias:
        assert check_gradient(lambda z: linear_forward(x, W, z)[0], b, db, dout) < 1e-6
    else:
        assert db is None


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
