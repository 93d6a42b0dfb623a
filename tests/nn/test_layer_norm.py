import numpy as np
import pytest

from npml.nn.layer_norm import LayerNorm, layer_norm_backward, layer_norm_forward


def test_output_is_standardised(rng):
    x = 5 + 3 * rng.standard_normal((4, 9))
    y = LayerNorm(9)(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-5)  # eps=1e-5 shrinks it slightly
    # invariant to shifting and scaling each row
    ln = LayerNorm(9, eps=0.0)
    np.testing.assert_allclose(ln(2 * x + 7), ln(x), atol=1e-12)


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    dout = rng.standard_normal(x.shape)
    y, cache = layer_norm_forward(x, gamma, beta, eps=1e-5)
    grads = layer_norm_backward(dout, cache)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    ty = torch.nn.functional.layer_norm(tx, (6,), tg, tb, eps=1e-5)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=1e-10)
    for g, t in zip(grads, (tx, tg, tb), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=0, atol=1e-10)


def test_module(rng):
    ln = LayerNorm(5, dtype=np.float32)
    assert ln.n_params() == 10 and [n for n, _ in ln.named_parameters()] == ["gamma", "beta"]
    x = rng.standard_normal((3, 5)).astype(np.float32)
    y = ln(x)
    assert y.dtype == np.float32
    dx = ln.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and ln.gamma.grad.shape == (5,)
    np.testing.assert_allclose(ln.beta.grad, 3.0)


def test_bad_inputs(rng):
    ln = LayerNorm(4)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\); expected last dimension 4"):
        ln(rng.standard_normal((2, 3)))
    x = rng.standard_normal((2, 4))
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        ln(x)
    with pytest.raises(ValueError, match="eps=-1"):
        LayerNorm(4, eps=-1.0)
    with pytest.raises(ValueError, match="beta has shape"):
        layer_norm_forward(np.ones((2, 4)), np.ones(4), np.ones(3))
