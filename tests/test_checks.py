import numpy as np
import pytest

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_choice,
    check_is_fitted,
    check_last_dim,
    check_same_length,
    check_scalar,
)


def test_as_rng_accepts_none_int_and_generator():
    g = np.random.default_rng(3)
    assert as_rng(g) is g
    assert as_rng(5).integers(1000) == np.random.default_rng(5).integers(1000)
    assert isinstance(as_rng(None), np.random.Generator)


@pytest.mark.parametrize("bad", ["seed", 1.5, True, [1, 2]])
def test_as_rng_rejects_other_types(bad):
    with pytest.raises(TypeError, match="rng="):
        as_rng(bad)


def test_as_rng_rejects_negative_seed():
    with pytest.raises(ValueError, match="rng=-1"):
        as_rng(-1)


def test_check_array_messages_name_argument_value_and_expectation():
    with pytest.raises(ValueError, match=r"X has ndim=1 \(shape \(3,\)\); expected 2"):
        check_array([1, 2, 3], "X", ndim=2)
    with pytest.raises(ValueError, match="y contains 1 non-finite"):
        check_array([1.0, np.nan], "y")
    with pytest.raises(TypeError, match="ids has dtype float64; expected integers"):
        check_array([0.5, 1.0], "ids", dtype="int")
    with pytest.raises(TypeError, match="expected numbers"):
        check_array(["a"], "x")
    with pytest.raises(ValueError, match="at least 2"):
        check_array([1.0], "x", min_size=2)


def test_check_array_converts_ints_to_float64_and_keeps_float32():
    assert check_array([1, 2], "x").dtype == np.float64
    assert check_array(np.ones(2, np.float32), "x").dtype == np.float32
    assert check_array([1.0, 2.0], "ids", dtype="int").dtype == np.int64
    assert check_array([np.inf], "x", finite=False)[0] == np.inf


def test_size_checks():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        check_same_length(np.ones((3, 1)), "X", np.ones(2), "y")
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\); expected last dimension 4"):
        check_last_dim(np.ones((2, 3)), "x", 4)


def test_check_scalar_ranges():
    assert check_scalar(0.1, "lr", low=0) == 0.1
    with pytest.raises(ValueError, match="lr=-1 is out of range; expected lr >= 0"):
        check_scalar(-1, "lr", low=0)
    with pytest.raises(ValueError, match="eps > 0"):
        check_scalar(0.0, "eps", low=0, low_inclusive=False)
    with pytest.raises(TypeError, match="lr=True"):
        check_scalar(True, "lr")
    with pytest.raises(ValueError, match="not finite"):
        check_scalar(float("nan"), "lr")
    with pytest.raises(ValueError, match="expected one of 'mm', 'newton'"):
        check_choice("em", "method", ("mm", "newton"))


def test_check_is_fitted():
    class Est:
        pass

    with pytest.raises(RuntimeError, match="Est is not fitted yet"):
        check_is_fitted(Est(), "coef_")


def test_check_scalar_accepts_numpy_scalars_for_int_and_float():
    assert check_scalar(np.int64(4), "d_model", kind=int, low=1) == 4
    assert check_scalar(np.float32(0.5), "p", kind=float) == np.float32(0.5)
    with pytest.raises(TypeError, match="d_model=2.5 of type float; expected Integral"):
        check_scalar(2.5, "d_model", kind=int)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_check_bool_accepts_bools(value):
    out = check_bool(value, "causal")
    assert out is bool(value)


@pytest.mark.parametrize("value", ["no", "", 0, 1, 1.0, None, np.array([True]), [True]])
def test_check_bool_rejects_everything_else_naming_the_argument(value):
    with pytest.raises(TypeError, match="causal=.*expected True or False"):
        check_bool(value, "causal")


@pytest.mark.parametrize(
    "dtype", ["float", np.float64, np.float32, "float64", np.dtype(np.float32), np.int64]
)
@pytest.mark.parametrize("x", [np.ones(3) + 1j, np.ones((2, 2), np.complex64), [1 + 0j]])
def test_check_array_refuses_complex_for_every_real_target(x, dtype):
    with pytest.raises(ValueError, match="Complex data not supported: X has dtype complex"):
        check_array(x, "X", dtype=dtype)


def test_check_array_keeps_complex_only_when_asked():
    assert check_array(np.ones(2) + 1j, "z", dtype=None).dtype == np.complex128
    assert check_array(np.ones(2) + 1j, "z", dtype=np.complex128).dtype == np.complex128
    with pytest.raises(ValueError, match="z contains 1 non-finite"):
        check_array(np.array([1 + 1j, np.nan]), "z", dtype=None)


def test_trusted_inputs_skips_only_the_finiteness_scan():
    from npml._checks import trusted_inputs

    bad = np.array([1.0, np.nan])
    with trusted_inputs():
        assert np.isnan(check_array(bad, "x")).any()  # no scan inside a validated model
        with pytest.raises(TypeError, match="x"):
            check_array("abc", "x")  # types are still checked
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        check_array(bad, "x")  # and the scan is back outside the block


def test_check_dout_is_shape_only():
    from npml._checks import check_dout

    assert check_dout(np.zeros((2, 3)), (2, 3)).shape == (2, 3)
    assert np.isnan(check_dout(np.full((2, 3), np.nan), (2, 3))).all()  # no scan
    for bad, err in [(np.zeros((3, 2)), ValueError), (np.zeros(3), ValueError),
                     (np.zeros((1, 3)), ValueError), ("a", TypeError),
                     (np.zeros((2, 3), complex), TypeError)]:  # fmt: skip
        with pytest.raises(err, match="dout"):
            check_dout(bad, (2, 3))
