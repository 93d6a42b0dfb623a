import warnings

import numpy as np
import pytest

from npml.nn.layer_norm import LayerNorm, layer_norm_backward, layer_norm_forward


def test_output_is_standardised(rng):
    x = 5 + 3 * rng.standard_normal((4, 9))
    y = LayerNorm(9, dtype=np.float64)(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-5)  # eps=1e-5 shrinks it slightly
    # invariant to shifting and scaling each row
    ln = LayerNorm(9, eps=1e-300, dtype=np.float64)  # eps must be positive; this one is nil
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
    for eps in (-1.0, 0.0):  # eps = 0 would give 0 / 0 on a constant row
        with pytest.raises(ValueError, match=f"eps={eps}"):
            LayerNorm(4, eps=eps)
        with pytest.raises(ValueError, match=f"eps={eps}"):
            layer_norm_forward(np.ones((2, 4)), np.ones(4), np.zeros(4), eps=eps)
    with pytest.raises(ValueError, match="beta has shape"):
        layer_norm_forward(np.ones((2, 4)), np.ones(4), np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 2048])  # the NumPy path and the kernel path
def test_rows_near_the_float_max_are_normalised_not_zeroed(dtype, n_rows, rng):
    big = np.finfo(dtype).max / 4
    x = rng.standard_normal((n_rows, 4)).astype(dtype)
    x[0] = [big, -big, 0, 0]  # its variance overflows
    gamma, beta = np.ones(4, dtype), np.zeros(4, dtype)
    y, cache = layer_norm_forward(x, gamma, beta)
    expected = np.array([1, -1, 0, 0]) * np.sqrt(2)  # LN is scale-invariant
    np.testing.assert_allclose(y[0], expected, rtol=1e-6)
    ref, _ = layer_norm_forward(x[1:].astype(np.float64), gamma.astype(float), beta.astype(float))
    np.testing.assert_allclose(y[1:], ref, rtol=1e-5, atol=1e-5)  # other rows untouched
    dx, dgamma, _ = layer_norm_backward(np.ones_like(x), cache)
    assert np.isfinite(dx).all() and np.isfinite(dgamma).all()


def test_module_defaults_to_float32_and_casts(rng):
    ln = LayerNorm(4)
    assert ln.gamma.data.dtype == np.float32
    y = ln(rng.standard_normal((2, 4)))  # float64 input is cast
    assert y.dtype == np.float32 and ln.backward(np.ones((2, 4))).dtype == np.float32


@pytest.mark.parametrize("shape", [(3, 2), (1, 4), (2, 1, 4)])
def test_backward_checks_dout_shape(shape, rng):
    _, cache = layer_norm_forward(rng.standard_normal((2, 4)), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="dout has shape"):
        layer_norm_backward(np.ones(shape), cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 2048])  # the NumPy path and the kernel path
def test_rows_whose_sum_overflows_are_normalised_without_warnings(dtype, n_rows, rng):
    # Five entries of max / 4 sum past the float max: mean and x_hat pass through inf and NaN
    # before the row is redone on x / max|x|; no RuntimeWarning may leak from that detour.
    big = np.finfo(dtype).max / 4
    x = rng.standard_normal((n_rows, 6)).astype(dtype)
    x[0] = [big, big, big, big, big, 0]
    gamma, beta = np.ones(6, dtype), np.zeros(6, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _ = layer_norm_forward(x, gamma, beta)
    # LN is scale-invariant, and eps / max|x|^2 is negligible: LN of the pattern with a tiny eps
    ones = np.array([[1, 1, 1, 1, 1, 0.0]])
    expected, _ = layer_norm_forward(ones, np.ones(6), np.zeros(6), eps=1e-12)
    np.testing.assert_allclose(y[0], expected[0], rtol=1e-5)
