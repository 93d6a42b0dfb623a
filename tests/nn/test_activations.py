import numpy as np
import pytest

from npml.nn.activations import GELU, ReLU, gelu_backward, gelu_forward, relu_forward


def test_gelu_values():
    x = np.array([-30.0, -1.0, 0.0, 1.0, 30.0])
    y, _ = gelu_forward(x)
    # x Phi(x): 0 far left, x far right, 0 at 0, and Phi(1) = 0.841344746...
    np.testing.assert_allclose(y, [0.0, -0.15865525393145707, 0.0, 0.8413447460685429, 30.0])
    tanh, _ = gelu_forward(np.linspace(-5, 5, 101), "tanh")
    exact, _ = gelu_forward(np.linspace(-5, 5, 101))
    assert np.abs(tanh - exact).max() < 1e-3  # a close approximation, but not the same function
    assert np.abs(tanh - exact).max() > 1e-5


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_torch(rng, approximate):
    torch = pytest.importorskip("torch")
    x = 3 * rng.standard_normal((4, 6))
    dout = rng.standard_normal(x.shape)
    y, cache = gelu_forward(x, approximate)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.gelu(tx, approximate=approximate)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(gelu_backward(dout, cache), tx.grad.numpy(), rtol=0, atol=1e-10)


def test_modules_and_dtype(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for m in (ReLU(), GELU(), GELU("tanh")):
        y = m(x)
        assert y.dtype == np.float32 and m.backward(np.ones_like(y)).dtype == np.float32
        assert m.n_params() == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="approximate='erf'"):
        GELU("erf")
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        relu_forward(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        gelu_forward(np.array([np.inf, 0.0]))
