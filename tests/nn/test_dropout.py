import numpy as np
import pytest

from npml.nn.dropout import Dropout, dropout_backward, dropout_forward
from npml.testing import check_gradient


def test_drops_the_right_fraction_and_keeps_the_mean(rng):
    x = np.ones((200, 500))
    y, cache = dropout_forward(x, 0.3, rng=0)
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7)
    assert abs(y.mean() - 1.0) < 0.02


def test_backward_uses_the_same_mask(rng):
    x = rng.standard_normal((3, 7))
    y, cache = dropout_forward(x, 0.5, rng=1)
    dout = rng.standard_normal(x.shape)
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx == 0, y == 0)
    # with the mask held fixed, dropout is linear: gradcheck it
    assert check_gradient(lambda z: z * cache.scale, x, dx, dout) < 1e-6


def test_eval_mode_and_p_zero_are_identity(rng):
    x = rng.standard_normal((4, 5))
    d = Dropout(0.5, rng=0)
    d.eval()
    assert d(x) is x or np.array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(x), x)
    d.train()
    assert not np.array_equal(d(x), x)
    y, _ = dropout_forward(x, 0.0, rng=None)
    np.testing.assert_array_equal(y, x)


def test_seeded_and_no_global_state(rng):
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    a = Dropout(0.4, rng=3)(np.ones(50))
    b = Dropout(0.4, rng=3)(np.ones(50))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_bad_inputs():
    with pytest.raises(ValueError, match="p=1.0 is out of range"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="p=-0.1"):
        dropout_forward(np.ones(3), -0.1, rng=0)
    with pytest.raises(ValueError, match="x contains"):
        dropout_forward(np.array([np.nan]), 0.1, rng=0)
