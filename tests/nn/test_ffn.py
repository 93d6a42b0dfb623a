import numpy as np
import pytest

from npml.nn.activations import gelu_forward
from npml.nn.ffn import FeedForward


@pytest.mark.parametrize("D", [1, 3, 8, 16])
def test_parameter_counts(D):
    assert FeedForward(D, rng=0).n_params() == 8 * D**2 + 5 * D
    assert FeedForward(D, bias=False, rng=0).n_params() == 8 * D**2
    assert FeedForward(D, d_ff=2 * D, rng=0).n_params() == 4 * D**2 + 3 * D
    assert FeedForward(D, rng=0).W_1.shape == (D, 4 * D)


def test_matches_the_formula(rng):
    x = rng.standard_normal((2, 3, 4))
    for activation in ("relu", "gelu"):
        m = FeedForward(4, 6, activation=activation, rng=1, dtype=np.float64)
        m.b_1.data[...] = rng.standard_normal(6)
        h = x @ m.W_1.data + m.b_1.data
        h = np.maximum(h, 0) if activation == "relu" else gelu_forward(h)[0]
        np.testing.assert_allclose(m(x), h @ m.W_2.data + m.b_2.data, atol=1e-13)


def test_module_backward_and_dtype(rng):
    m = FeedForward(4, activation="gelu", rng=2, dtype=np.float32)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = m(x)
    assert y.dtype == np.float32
    dx = m.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in m.parameters())


def test_bad_inputs(rng):
    m = FeedForward(4, rng=0)
    with pytest.raises(ValueError, match=r"x has shape \(2, 5\); expected last dimension 4"):
        m(rng.standard_normal((2, 5)))
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        m(np.array([[1.0, 2.0, np.inf, 0.0]]))
    with pytest.raises(ValueError, match="activation='tanh'"):
        FeedForward(4, activation="tanh")
    with pytest.raises(ValueError, match="d_ff=0"):
        FeedForward(4, d_ff=0)
