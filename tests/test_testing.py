import numpy as np
import pytest

from npml.testing import check_gradient, numerical_gradient, relative_error


def test_numerical_gradient_of_known_functions(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda z: np.sum(z**3), x), 3 * x**2, rtol=1e-7)
    dout = rng.standard_normal((3, 4))
    g = numerical_gradient(np.sin, x, dout)
    np.testing.assert_allclose(g, np.cos(x) * dout, rtol=1e-7, atol=1e-10)


def test_numerical_gradient_restores_x(rng):
    x = rng.standard_normal(5)
    before = x.copy()
    numerical_gradient(lambda z: z**2, x)
    np.testing.assert_array_equal(x, before)


def test_check_gradient_detects_a_wrong_backward(rng):
    W = rng.standard_normal((4, 2))
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 2))
    assert check_gradient(lambda z: z @ W, x, dout @ W.T, dout) < 1e-8
    assert check_gradient(lambda z: z @ W, x, 1.01 * (dout @ W.T), dout) > 1e-3


def test_relative_error_and_input_checks():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-12])) < 1e-11
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="expected a float array"):
        numerical_gradient(lambda z: z, np.arange(3))
