"""l2_norm against math.hypot (an independent overflow-safe norm) and the plain definition."""

import math

import numpy as np
import pytest

from npml.ops import l2_norm


def test_huge_and_tiny_values_neither_overflow_nor_underflow():
    assert l2_norm([1e200, 1e200]) == pytest.approx(math.sqrt(2) * 1e200, rel=1e-15)
    assert l2_norm([1e-200, 1e-200]) == pytest.approx(math.sqrt(2) * 1e-200, rel=1e-15)
    with np.errstate(over="ignore", under="ignore"):  # the naive formula, for contrast
        assert np.sqrt(np.sum(np.array([1e200, 1e200]) ** 2)) == np.inf
        assert np.sqrt(np.sum(np.array([1e-200, 1e-200]) ** 2)) == 0.0
    assert l2_norm([5e-324] * 4) == pytest.approx(2 * 5e-324, rel=0.5)  # subnormals: 1 ulp


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1.0, 1e170, 1e300])
def test_matches_math_hypot_at_every_scale(scale, rng):
    x = rng.standard_normal(11) * scale
    assert l2_norm(x) == pytest.approx(math.hypot(*x), rel=1e-14)
    assert l2_norm(-x) == l2_norm(x)


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_axis_and_keepdims_match_the_definition(axis, keepdims, rng):
    x = rng.standard_normal((3, 4, 5))
    expected = np.sqrt(np.sum(x**2, axis=axis, keepdims=keepdims))
    got = l2_norm(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert np.shape(got) == expected.shape


def test_each_slice_is_scaled_on_its_own():
    x = np.array([[1e200, 1e200], [1e-200, 1e-200], [3.0, 4.0], [0.0, 0.0]])
    expected = [math.hypot(*row) for row in x]
    np.testing.assert_allclose(l2_norm(x, axis=1), expected, rtol=1e-15)
    np.testing.assert_allclose(l2_norm(x.T, axis=0, keepdims=True), [expected], rtol=1e-15)


def test_types_zeros_and_empty(rng):
    assert isinstance(l2_norm([3.0, 4.0]), float)
    assert l2_norm([3, 4]) == 5.0  # integers are converted to float64
    assert l2_norm(np.zeros(4)) == 0.0  # an all-zero vector is 0, not 0/0
    assert l2_norm(np.zeros(0)) == 0.0
    np.testing.assert_array_equal(l2_norm(np.zeros((2, 0)), axis=1), [0.0, 0.0])
    x32 = rng.standard_normal((4, 3)).astype(np.float32)
    got = l2_norm(x32, axis=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.linalg.norm(x32.astype(np.float64), axis=0), rtol=1e-6)


@pytest.mark.parametrize("bad", [[1.0, np.nan], [np.inf, 1.0]])
def test_non_finite_input_raises(bad):
    with pytest.raises(ValueError, match="non-finite"):
        l2_norm(bad)
