"""softmax, log_softmax and logsumexp against their definitions and SciPy, at the extremes."""

import warnings

import numpy as np
import pytest
from scipy import special

from npml.ops import log_softmax, logsumexp, softmax


def _softmax_definition(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_ordinary_logits_match_the_definitions(axis, rng):
    x = rng.standard_normal((3, 4, 5)) * 3
    np.testing.assert_allclose(softmax(x, axis=axis), _softmax_definition(x, axis), rtol=1e-14)
    np.testing.assert_allclose(
        log_softmax(x, axis=axis), np.log(_softmax_definition(x, axis)), rtol=1e-13, atol=1e-14
    )
    np.testing.assert_allclose(softmax(x, axis=axis).sum(axis=axis), 1.0, rtol=1e-14)
    np.testing.assert_allclose(softmax(x + 123.0, axis=axis), softmax(x, axis=axis), rtol=1e-13)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_definition_and_scipy(axis, keepdims, rng):
    x = rng.standard_normal((3, 4, 5))
    expected = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    got = logsumexp(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    np.testing.assert_allclose(got, special.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    assert np.shape(got) == np.shape(expected)


@pytest.mark.parametrize("big", [1e4, -1e4])
def test_logits_of_ten_thousand_stay_finite(big):
    x = np.array([[big, big - 1.0, big - 30.0], [big, -big, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(_softmax_definition(x)).all()  # naive: inf/inf or 0/0
    p = softmax(x)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, special.softmax(x, axis=-1), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(log_softmax(x), special.log_softmax(x, axis=-1), rtol=1e-13)
    assert logsumexp(x[0]) == pytest.approx(big + np.log1p(np.exp(-1.0) + np.exp(-30.0)), rel=1e-15)
    np.testing.assert_allclose(softmax(np.full(4, big)), 0.25, rtol=1e-15)
    assert logsumexp(np.full(4, big)) == pytest.approx(big + np.log(4.0), rel=1e-15)


def test_minus_inf_masks_entries(rng):
    x = rng.standard_normal((4, 6))
    mask = rng.random((4, 6)) < 0.4
    mask[:, 0] = False  # every row keeps at least one entry here
    xm = np.where(mask, -np.inf, x)
    p = softmax(xm)
    assert np.all(p[mask] == 0.0)
    for row, keep in zip(range(4), ~mask, strict=True):
        np.testing.assert_allclose(p[row, keep], _softmax_definition(x[row, keep]), rtol=1e-14)
        assert logsumexp(xm[row]) == pytest.approx(np.log(np.exp(x[row, keep]).sum()), rel=1e-14)
    lp = log_softmax(xm)
    assert np.all(np.isneginf(lp[mask]))
    np.testing.assert_allclose(lp[~mask], np.log(p[~mask]), rtol=1e-13, atol=1e-14)


def test_all_minus_inf_slices_have_the_documented_results():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN and no RuntimeWarning on the way
        p, lp, lse = softmax(x), log_softmax(x), logsumexp(x, axis=1)
        p0, lp0 = softmax(x, axis=0), log_softmax(x, axis=0)
    np.testing.assert_array_equal(p[0], 0.0)  # zeros for softmax
    assert np.all(np.isneginf(lp[0]))  # -inf for log_softmax
    assert np.isneginf(lse[0])  # -inf for logsumexp
    np.testing.assert_allclose(p[1], _softmax_definition(np.array([0.0, -np.inf, 1.0])))
    np.testing.assert_array_equal(p0[:, 1], 0.0)  # column 1 is all -inf along axis 0
    assert np.all(np.isneginf(lp0[:, 1]))
    assert np.isneginf(logsumexp(np.full(3, -np.inf)))


def test_empty_slices_and_bad_input():
    assert softmax(np.zeros((2, 0))).shape == (2, 0)
    np.testing.assert_array_equal(logsumexp(np.zeros((2, 0)), axis=1), -np.inf)  # empty sum
    with pytest.raises(ValueError, match="empty"):
        logsumexp(np.zeros(0))
    for f in (softmax, log_softmax, logsumexp):
        with pytest.raises(ValueError, match=r"NaN or \+inf"):
            f(np.array([0.0, np.inf]))
        with pytest.raises(ValueError, match=r"NaN or \+inf"):
            f(np.array([0.0, np.nan]))


def test_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for f in (softmax, log_softmax):
        assert f(x).dtype == np.float32
    assert logsumexp(x, axis=1).dtype == np.float32
    np.testing.assert_allclose(
        softmax(x), special.softmax(x.astype(np.float64), axis=-1), rtol=1e-6
    )
