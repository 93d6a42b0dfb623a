"""variance, std and RunningStats against the definitions, on hard data, and kernel vs twin."""

import os
import subprocess
import sys

import numpy as np
import pytest

from npml.ops import RunningStats, std, variance
from npml.ops.stats import _welford_kernel, _welford_reference


def _definition(x, axis=None, ddof=0):
    """The variance as written: the mean squared deviation from the mean, n - ddof divisor."""
    x = np.asarray(x, dtype=np.float64)
    dev = x - x.mean(axis=axis, keepdims=True)
    n = x.size if axis is None else np.prod([x.shape[a] for a in np.atleast_1d(axis)])
    return (dev**2).sum(axis=axis) / (n - ddof)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("ddof", [0, 1])
def test_variance_matches_definition(axis, ddof, rng):
    x = rng.standard_normal((4, 5, 3)) * 3 + 2
    np.testing.assert_allclose(
        variance(x, axis=axis, ddof=ddof), _definition(x, axis, ddof), rtol=1e-13
    )
    np.testing.assert_allclose(
        std(x, axis=axis, ddof=ddof), np.sqrt(_definition(x, axis, ddof)), rtol=1e-13
    )
    kept = variance(x, axis=axis, ddof=ddof, keepdims=True)
    assert kept.shape == np.var(x, axis=axis, keepdims=True).shape


def test_variance_types(rng):
    assert isinstance(variance([1.0, 2.0, 4.0]), float)
    assert variance([1, 2, 3, 4]) == pytest.approx(1.25, rel=1e-15)  # ints are converted
    x32 = rng.standard_normal((6, 2)).astype(np.float32)
    assert variance(x32, axis=0).dtype == np.float32
    assert variance(np.array(3.0)) == 0.0  # one value: no spread
    assert variance([5.0, 5.0, 5.0]) == 0.0  # never a tiny negative from the correction


def test_variance_survives_cancellation(rng):
    noise = rng.standard_normal(10_000)
    x = 1e9 + noise
    exact = _definition(x - 1e9)  # x - 1e9 is exact (Sterbenz); its spread is x's spread
    assert abs(variance(x) / exact - 1) < 1e-6
    assert abs(std(x) / np.sqrt(exact) - 1) < 1e-6
    naive = np.mean(x**2) - np.mean(x) ** 2  # the shortcut the docstring warns about
    assert abs(naive / exact - 1) > 1e-2


def test_variance_errors():
    with pytest.raises(ValueError, match="expected more than ddof=1"):
        variance([3.0], ddof=1)
    with pytest.raises(ValueError, match="ddof=-1 is out of range"):
        variance([1.0, 2.0], ddof=-1)
    with pytest.raises(TypeError, match="ddof=0.5"):
        variance([1.0, 2.0], ddof=0.5)
    with pytest.raises(ValueError, match="non-finite"):
        variance([1.0, np.nan])
    with pytest.raises(ValueError, match="axis=2 is invalid"):
        variance(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="has 0 value"):
        variance(np.ones((0, 3)), axis=0)


@pytest.mark.parametrize(
    "shape", [(0, 1), (1, 1), (7, 1), (63, 1), (1000, 1), (5, 3), (1001, 3), (97, 40)]
)
@pytest.mark.parametrize("lanes", [1, 3, 32])
def test_welford_kernel_equals_reference_twin(shape, lanes, rng):
    x = rng.standard_normal(shape) * 5 + 100
    mean_k, m2_k = _welford_kernel(x, lanes)
    mean_r, m2_r = _welford_reference(x)
    np.testing.assert_allclose(mean_k, mean_r, rtol=1e-13)
    # lanes reorder the additions, so M2 agrees to rounding of its size, not bit for bit
    np.testing.assert_allclose(m2_k, m2_r, rtol=1e-11, atol=1e-11)
    if shape[0]:
        np.testing.assert_allclose(mean_r, x.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(m2_r, ((x - x.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-10)


def test_running_stats_scalar_stream_equals_whole_array(rng):
    x = rng.standard_normal(10_007) * 2 - 3
    rs = RunningStats()
    for chunk in np.array_split(x, [1, 2, 50, 51, 4000, 4000, 9000]):  # uneven, one empty
        rs.update(chunk)
    assert rs.count == x.size
    assert isinstance(rs.mean, float)
    assert rs.mean == pytest.approx(x.mean(), rel=1e-13)
    assert rs.variance() == pytest.approx(_definition(x), rel=1e-12)
    assert rs.variance(ddof=1) == pytest.approx(_definition(x, ddof=1), rel=1e-12)
    assert rs.std() == pytest.approx(np.sqrt(_definition(x)), rel=1e-12)
    assert RunningStats().update(2.5).mean == 2.5  # a 0-d value is one sample


@pytest.mark.parametrize("sample_shape", [(3,), (2, 2), (40,)])
def test_running_stats_vector_samples(sample_shape, rng):
    x = rng.standard_normal((500, *sample_shape)) * np.arange(1, np.prod(sample_shape) + 1).reshape(
        sample_shape
    )
    rs = RunningStats().update(x[:123]).update(x[123:124]).update(x[124:])
    assert rs.mean.shape == sample_shape
    np.testing.assert_allclose(rs.mean, x.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rs.variance(), _definition(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(rs.std(ddof=1), np.sqrt(_definition(x, axis=0, ddof=1)), rtol=1e-12)


def test_merging_shards_equals_one_pass(rng):
    x = rng.standard_normal((2000, 3)) + [0.0, 1e3, -5.0]
    one_pass = RunningStats().update(x)
    cuts = np.sort(rng.integers(0, len(x), size=6))
    shards = [RunningStats().update(part) for part in np.split(x, cuts)]
    forward = RunningStats()
    for s in shards:
        forward.merge(s)
    backward = RunningStats()
    for s in reversed(shards):
        backward.merge(s)
    for merged in (forward, backward):
        assert merged.count == one_pass.count
        np.testing.assert_allclose(merged.mean, one_pass.mean, rtol=1e-13)
        np.testing.assert_allclose(merged.variance(), one_pass.variance(), rtol=1e-12)
    assert forward.merge(RunningStats()).count == len(x)  # merging an empty summary: no-op


def test_running_stats_survive_cancellation(rng):
    noise = rng.standard_normal(100_000)
    x = 1e9 + noise
    rs = RunningStats()
    for chunk in np.array_split(x, 10):
        rs.update(chunk)
    exact = _definition(x - 1e9)
    assert abs(rs.variance() / exact - 1) < 1e-6


def test_running_stats_errors():
    rs = RunningStats()
    with pytest.raises(ValueError, match="no samples yet"):
        rs.mean  # noqa: B018
    with pytest.raises(ValueError, match="expected more than ddof=0"):
        rs.variance()
    rs.update(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(3,\)"):
        rs.update(np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        rs.update(np.array([[1.0, np.nan, 2.0]]))
    assert rs.count == 4  # a rejected batch leaves the summary unchanged
    with pytest.raises(ValueError, match="expected more than ddof=4"):
        rs.variance(ddof=4)
    with pytest.raises(TypeError, match="expected RunningStats"):
        rs.merge(np.ones(3))
    with pytest.raises(ValueError, match="other's samples have shape"):
        rs.merge(RunningStats().update(np.ones(5)))
    assert "count=4" in repr(rs)


def test_kernel_runs_without_jit():
    """NUMBA_DISABLE_JIT=1 (for stepping through kernels) still gives the right numbers."""
    code = (
        "import numpy as np; from npml.ops import RunningStats; "
        "x = np.random.default_rng(0).standard_normal(1000) + 4; "
        "rs = RunningStats().update(x[:300]).update(x[300:]); "
        "print(abs(rs.variance() / x.var() - 1), abs(rs.mean - x.mean()))"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    rel_var, abs_mean = map(float, out.stdout.split())
    assert rel_var < 1e-12 and abs_mean < 1e-12
