from math import comb

import numpy as np
import pytest

from npml.kernels import Polynomial, polynomial_features


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
@pytest.mark.parametrize("c", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("D", [1, 3])
def test_kernel_trick_identity(rng, degree, c, D):
    X, Y = rng.standard_normal((5, D)), rng.standard_normal((4, D))
    phi_x, phi_y = polynomial_features(X, degree, c), polynomial_features(Y, degree, c)
    K = (X @ Y.T + c) ** degree
    # Entries near 0 come from cancelling sums, so the tolerance is relative to the largest.
    atol = 1e-12 * np.abs(K).max()
    np.testing.assert_allclose(phi_x @ phi_y.T, K, rtol=1e-12, atol=atol)
    np.testing.assert_allclose(phi_x @ phi_y.T, Polynomial(degree, c)(X, Y), rtol=1e-12, atol=atol)


@pytest.mark.parametrize("degree,D", [(2, 3), (3, 4), (1, 5)])
def test_number_of_features(rng, degree, D):
    X = rng.standard_normal((2, D))
    assert polynomial_features(X, degree, 1.0).shape == (2, comb(D + degree, degree))
    assert polynomial_features(X, degree, 0.0).shape == (2, comb(D + degree - 1, degree))


def test_features_are_weighted_monomials():
    x = np.array([[2.0, 3.0]])
    # (x.y + 1)^2 = 1 + 2 x1 y1 + 2 x2 y2 + x1^2 y1^2 + 2 x1 x2 y1 y2 + x2^2 y2^2
    expected = [1.0, np.sqrt(2) * 2, np.sqrt(2) * 3, 4.0, np.sqrt(2) * 6, 9.0]
    np.testing.assert_allclose(polynomial_features(x, 2, 1.0)[0], expected)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="degree=0 is out of range"):
        polynomial_features(np.ones((2, 2)), 0)
    with pytest.raises(ValueError, match="c=-1.0 is out of range"):
        polynomial_features(np.ones((2, 2)), 2, -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        polynomial_features(np.array([[np.nan, 1.0]]), 2)
