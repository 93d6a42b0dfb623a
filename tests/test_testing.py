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


NAN, INF = np.nan, np.inf


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.zeros(3), np.full(3, NAN)),  # max(0.0, nan) was 0.0: a NaN gradient "passed"
        (np.full(3, NAN), np.zeros(3)),
        (np.array([1.0, NAN]), np.array([1.0, 2.0])),
        (np.array([INF, 1.0]), np.array([INF, 1.0])),  # inf - inf is NaN, not agreement
        (np.array([1.0, -INF]), np.array([1.0, 0.0])),
        (np.full((2, 2), NAN), np.full((2, 2), NAN)),
    ],
)
def test_relative_error_of_non_finite_arrays_is_inf(a, b):
    assert relative_error(a, b) == np.inf


@pytest.mark.parametrize(
    "f",
    [
        lambda z: np.full_like(z, np.nan),
        lambda z: z * np.nan,
        lambda z: np.log(z - 10.0),  # NaN for these x
        lambda z: np.where(z > 0, np.inf, z),
    ],
)
def test_check_gradient_fails_on_functions_returning_non_finite_values(f, rng):
    x = rng.uniform(0.5, 1.0, (2, 3))
    with np.errstate(invalid="ignore"):
        err = check_gradient(f, x, np.zeros_like(x))
    assert not err < 1e-6


class Boom(Exception):
    pass


def _raises_at(n):
    calls = [0]

    def f(z):
        calls[0] += 1
        if calls[0] == n:
            raise Boom
        return z**2

    return f


@pytest.mark.parametrize("call", [1, 2, 3, 4, 7])  # on the +eps and on the -eps evaluation
@pytest.mark.parametrize(
    "run",
    [
        lambda f, x: numerical_gradient(f, x),
        lambda f, x: check_gradient(f, x, 2 * x),
    ],
)
def test_x_is_restored_when_f_raises(run, call, rng):
    x = rng.standard_normal((2, 3))
    before = x.copy()
    with pytest.raises(Boom):
        run(_raises_at(call), x)
    assert x.tobytes() == before.tobytes()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": 0.0}, ValueError, "eps"),
        ({"eps": -1e-6}, ValueError, "eps"),
        ({"eps": np.nan}, ValueError, "eps"),
        ({"eps": "1e-6"}, TypeError, "eps"),
        ({"f": "not callable"}, TypeError, "f="),
        ({"x": np.ones(3).view()}, None, None),  # a writeable view is fine
        ({"x": np.broadcast_to(np.ones(1), (3,))}, ValueError, "x is read-only"),
        ({"x": [1.0, 2.0]}, TypeError, "x must be an ndarray"),
    ],
)
def test_numerical_gradient_argument_checks(kwargs, error, match):
    args = {"f": np.sin, "x": np.ones(3), **kwargs}
    if error is None:
        numerical_gradient(**args)
        return
    with pytest.raises(error, match=match):
        numerical_gradient(**args)
