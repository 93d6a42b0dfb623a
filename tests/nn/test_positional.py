import math

import numpy as np
import pytest

from npml.nn.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    sinusoidal_positions,
)
from npml.testing import check_gradient


def test_sinusoidal_values():
    pe = sinusoidal_positions(3, 4)
    t = 2
    expected = [math.sin(t), math.cos(t), math.sin(t / 100), math.cos(t / 100)]
    np.testing.assert_allclose(pe[t], expected, atol=1e-15)
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1])
    odd = sinusoidal_positions(5, 5)
    assert odd.shape == (5, 5)
    w = [10000 ** (-2 * i / 5) for i in range(3)]  # d = 5: three sines, two cosines
    expected = [math.sin(3 * w[0]), math.cos(3 * w[0]), math.sin(3 * w[1]), math.cos(3 * w[1])]
    np.testing.assert_allclose(odd[3], [*expected, math.sin(3 * w[2])], atol=1e-15)


def test_sinusoidal_shift_is_a_rotation():
    # PE_{t+k} is PE_t with each (sin, cos) pair rotated by an angle depending only on k
    pe = sinusoidal_positions(20, 6)
    z = pe[:, 1::2] + 1j * pe[:, 0::2]  # cos + i sin = e^{i t w}
    np.testing.assert_allclose(z[7] / z[2], z[15] / z[10], atol=1e-12)


def test_sinusoidal_module(rng):
    m = SinusoidalPositionalEmbedding(10, 4, dtype=np.float64)
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(m(x), x + sinusoidal_positions(3, 4))
    np.testing.assert_allclose(m(x, offset=5), x + sinusoidal_positions(8, 4)[5:])
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(m.backward(dout), dout)
    assert m.n_params() == 0
    # the module computes in its own dtype (as torch's modules do), whatever the input's
    assert m(x.astype(np.float32)).dtype == np.float64
    assert SinusoidalPositionalEmbedding(10, 4)(x).dtype == np.float32


def test_learned_gradient(rng):
    m = LearnedPositionalEmbedding(6, 3, rng=0, dtype=np.float64)
    assert m.n_params() == 18
    x = rng.standard_normal((2, 4, 3))
    y = m(x, offset=1)
    np.testing.assert_allclose(y, x + m.W.data[1:5])
    dout = rng.standard_normal(y.shape)
    m.zero_grad()
    dx = m.backward(dout)
    np.testing.assert_array_equal(dx, dout)
    assert check_gradient(lambda _: m.forward(x, offset=1), m.W.data, m.W.grad.copy(), dout) < 1e-6
    assert not m.W.grad[[0, 5]].any()


@pytest.mark.parametrize("cls", [SinusoidalPositionalEmbedding, LearnedPositionalEmbedding])
def test_bad_inputs(rng, cls):
    m = cls(4, 3)
    with pytest.raises(ValueError, match="sequence length T=5.*exceeds max_len=4"):
        m(rng.standard_normal((1, 5, 3)))
    with pytest.raises(ValueError, match="T=2 \\(from position offset=3\\) exceeds max_len=4"):
        m(rng.standard_normal((1, 2, 3)), offset=3)
    with pytest.raises(ValueError, match=r"x has shape \(1, 2, 4\); expected last dimension d=3"):
        m(rng.standard_normal((1, 2, 4)))
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        m(np.array([[[np.nan, 0.0, 0.0]]]))
