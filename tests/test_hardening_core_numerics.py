"""Issue 14, non-finite and extreme input to ops: a documented result or a clear error, never
a silent NaN (or a RuntimeWarning) from finite input.

``RESULTS`` holds calls on huge, tiny or masked (``-inf``) input whose result is defined,
and the result; ``ERRORS`` holds calls whose result is not representable or whose input is
not allowed, and the error naming the argument. Every call runs with warnings as errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from npml.ops import RunningStats, l2_norm, log_softmax, logsumexp, softmax, std, variance

BIG = np.finfo(np.float64).max  # 1.797e308
F32_BIG = float(np.finfo(np.float32).max)
NINF = -np.inf

RESULTS = [
    ("softmax of +-1e308", lambda: softmax([1e308, -1e308]), [1.0, 0.0]),
    ("softmax of +-max", lambda: softmax([BIG, -BIG]), [1.0, 0.0]),
    ("softmax of equal huge", lambda: softmax([BIG, BIG]), [0.5, 0.5]),
    (
        "softmax float32 +-max",
        lambda: softmax(np.array([F32_BIG, -F32_BIG], np.float32)),
        [1.0, 0.0],
    ),  # fmt: skip
    ("softmax of all -inf", lambda: softmax([NINF, NINF]), [0.0, 0.0]),
    ("softmax with one -inf", lambda: softmax([0.0, NINF]), [1.0, 0.0]),
    ("log_softmax of +-1e308", lambda: log_softmax([1e308, -1e308]), [0.0, NINF]),
    ("log_softmax of all -inf", lambda: log_softmax([NINF, NINF]), [NINF, NINF]),
    ("logsumexp of +-1e308", lambda: logsumexp([1e308, -1e308]), 1e308),
    ("logsumexp of equal max", lambda: logsumexp([BIG, BIG]), BIG),  # + log 2 rounds away
    ("logsumexp of all -inf", lambda: logsumexp([NINF, NINF]), NINF),
    (
        "logsumexp of -inf rows",
        lambda: logsumexp([[NINF, NINF], [0.0, 0.0]], axis=1),
        [NINF, np.log(2.0)],
    ),  # fmt: skip
    ("logsumexp of tiny", lambda: logsumexp([-1e308, -1e308]), -1e308),
    ("l2_norm of huge", lambda: l2_norm([1e308, 1e308]), np.sqrt(2.0) * 1e308),
    ("l2_norm of tiny", lambda: l2_norm([3e-300, 4e-300]), 5e-300),
    ("l2_norm of zeros", lambda: l2_norm(np.zeros((2, 3)), axis=1), [0.0, 0.0]),
    ("std of +-1e308", lambda: std([1e308, -1e308]), 1e308),
    ("std of equal max", lambda: std([BIG, BIG]), 0.0),
    ("variance of equal max", lambda: variance([BIG, BIG]), 0.0),
    ("variance of +-1e150", lambda: variance([1e150, -1e150]), 1e300),
    ("std float32 +-3e38", lambda: std(np.array([3e38, -3e38], np.float32)), 3e38),
    (
        "std of mixed rows",
        lambda: std(np.array([[1e308, -1e308], [1.0, 2.0]]), axis=1),
        [1e308, 0.5],
    ),  # fmt: skip
]


@pytest.mark.parametrize(("what", "call", "expected"), RESULTS, ids=[r[0] for r in RESULTS])
def test_extreme_input_gives_the_documented_result(what, call, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = call()
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=1e-7)


def _update(batch):
    return RunningStats().update(np.asarray(batch))


ERRORS = [
    ("softmax NaN", lambda: softmax([1.0, np.nan]), ValueError, "x contains NaN or"),
    ("softmax +inf", lambda: softmax([1.0, np.inf]), ValueError, r"x contains NaN or \+inf"),
    ("log_softmax NaN", lambda: log_softmax([np.nan]), ValueError, "x contains NaN"),
    ("logsumexp +inf", lambda: logsumexp([np.inf, 0.0]), ValueError, r"x contains NaN or \+inf"),
    ("logsumexp empty", lambda: logsumexp([]), ValueError, "x is empty"),
    ("l2_norm NaN", lambda: l2_norm([1.0, np.nan]), ValueError, "x contains 1 non-finite"),
    ("l2_norm inf", lambda: l2_norm([np.inf]), ValueError, "x contains 1 non-finite"),
    ("variance NaN", lambda: variance([1.0, np.nan]), ValueError, "x contains 1 non-finite"),
    ("std -inf", lambda: std([1.0, NINF]), ValueError, "x contains 1 non-finite"),
    (
        "variance overflow",
        lambda: variance([1e200, -1e200]),
        ValueError,
        r"the variance of x overflows float64.*std\(x\) is still representable",
    ),  # fmt: skip
    (
        "variance float32 overflow",
        lambda: variance(np.array([3e38, -3e38], np.float32)),
        ValueError,
        "the variance of x overflows float32",
    ),  # fmt: skip
    (
        "RunningStats NaN",
        lambda: _update([[1.0], [np.nan]]),
        ValueError,
        "batch contains 1 NaN or infinity",
    ),  # fmt: skip
    (
        "RunningStats inf",
        lambda: _update([np.inf, 1.0]),
        ValueError,
        "batch contains 1 NaN or infinity",
    ),  # fmt: skip
    (
        "RunningStats overflow",
        lambda: _update([1e308, -1e308]),
        ValueError,
        "squared deviations of batch overflows float64",
    ),  # fmt: skip
    ("RunningStats complex", lambda: _update([1j, 2.0]), ValueError, "Complex data not supported"),
    ("softmax complex", lambda: softmax([1j, 2.0]), ValueError, "Complex data not supported"),
    ("l2_norm complex", lambda: l2_norm([1j, 2.0]), ValueError, "Complex data not supported"),
    ("variance complex", lambda: variance([1j, 2.0]), ValueError, "Complex data not supported"),
    ("softmax strings", lambda: softmax(["a", "b"]), TypeError, "x has dtype <U1"),
]


@pytest.mark.parametrize(("what", "call", "error", "match"), ERRORS, ids=[e[0] for e in ERRORS])
def test_unrepresentable_or_invalid_input_raises_by_name(what, call, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=match):
            call()


def test_a_rejected_batch_leaves_running_stats_unchanged():
    rs = RunningStats().update(np.arange(4.0))
    for bad in ([np.nan], [1e308, -1e308]):
        with pytest.raises(ValueError, match="batch"):
            rs.update(np.array(bad))
    assert rs.count == 4 and rs.mean == 1.5


def test_rescaling_leaves_ordinary_slices_bit_for_bit():
    # the overflow fallback touches only the slices that overflowed
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7))
    ordinary = std(x, axis=1)
    mixed = np.vstack([x, [1e308, -1e308] + [0.0] * 5])
    np.testing.assert_array_equal(std(mixed, axis=1)[:3], ordinary)
