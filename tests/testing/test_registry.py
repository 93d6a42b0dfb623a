"""The generic layer checks of :mod:`npml.testing.checks`, run over every registered layer.

(a) float64 gradients of every input and parameter; (b) dtypes kept; (c) torch oracles;
(d) Numba kernels against their NumPy twins; (e) refused inputs; (f) wrong ``dout`` shapes;
(g) every public name of npml.nn and npml.models registered or exempt; and the forward and
backward passes leave their inputs unchanged. (Every other subpackage's names, and every
boolean flag, are checked against the hardening tables in tests/test_hardening_coverage.py.)
"""

import subprocess
import sys

import numpy as np
import pytest

import npml.models
import npml.nn
from npml.testing import ErrorInput, LayerInfo, Sample, checks, register, registered
from npml.testing.npml_layers import EXEMPT

SEED = 20261202
INFOS = registered()


def samples(info, dtype=np.float64, twin=False):
    """The entry's samples, the same at collection and in the test (one seed per call)."""
    make = (info.twin_samples or info.samples) if twin else info.samples
    return list(make(np.random.default_rng(SEED), np.dtype(dtype)))


def sample_params(infos, dtype=np.float64):
    return [
        pytest.param(info, i, id=f"{info.name}-{s.desc}")
        for info in infos
        for i, s in enumerate(samples(info, dtype))
    ]


def info_params(infos):
    return [pytest.param(info, id=info.name) for info in infos]


@pytest.fixture
def rng():
    return np.random.default_rng(SEED + 1)


# ---- (a) gradients ----------------------------------------------------------------------
@pytest.mark.parametrize(("info", "i"), sample_params(INFOS))
def test_gradients(info, i, rng):
    checks.check_gradients(info, samples(info)[i], rng)


# ---- (b) dtypes -------------------------------------------------------------------------
DTYPE_PARAMS = [
    pytest.param(info, i, dtype, id=f"{np.dtype(dtype)}-{info.name}-{s.desc}")
    for dtype in (np.float32, np.float64)
    for info in INFOS
    if dtype in info.dtypes
    for i, s in enumerate(samples(info, dtype))
]


@pytest.mark.parametrize(("info", "i", "dtype"), DTYPE_PARAMS)
def test_dtype_is_kept(info, i, dtype, rng):
    checks.check_dtype(info, samples(info, dtype)[i], dtype, rng)


# ---- (c) oracles ------------------------------------------------------------------------
@pytest.mark.parametrize("info", info_params([info for info in INFOS if info.oracle]))
def test_oracle(info, rng):
    pytest.importorskip("torch")
    compared = [
        s.desc
        for s in samples(info)
        if checks.check_against(info, s, info.oracle, info.oracle_tol, rng)
    ]
    assert compared, f"{info.name}: the oracle compared no sample"


# ---- (d) twins --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("info", info_params([info for info in INFOS if info.twin]))
def test_twin(info, dtype, rng):
    tol = info.twin_tol[np.dtype(dtype)]
    for s in samples(info, dtype, twin=True):
        assert checks.check_against(info, s, info.twin, tol, rng), s.desc


# ---- (e) refused inputs -----------------------------------------------------------------
def error_inputs(info, dtype=np.float64):
    return list(checks.error_inputs(info, np.random.default_rng(SEED), np.dtype(dtype)))


ERROR_PARAMS = [
    pytest.param(info, j, id=f"{info.name}-{bad.arg}-{bad.desc or bad.error.__name__}-{j}")
    for info in INFOS
    for j, bad in enumerate(error_inputs(info))
]


@pytest.mark.parametrize(("info", "j"), ERROR_PARAMS)
def test_bad_input_is_refused(info, j):
    checks.check_error_input(error_inputs(info)[j])


@pytest.mark.parametrize("info", info_params([info for info in INFOS if info.flags]))
def test_numpy_bools_are_accepted_as_flags(info, rng):
    checks.check_numpy_bools_are_flags(info, rng)


# ---- (f) dout shapes --------------------------------------------------------------------
DOUT_INFOS = [info for info in INFOS if info.checks_dout and not info.scalar_output]


@pytest.mark.parametrize("kind", ["permuted", "leading 1", "trailing"])
@pytest.mark.parametrize("info", info_params(DOUT_INFOS))
def test_wrong_dout_shape_is_refused(info, kind, rng):
    tried = [s.desc for s in samples(info) if checks.check_wrong_dout(info, s, kind, rng)]
    assert tried, f"{info.name}: no sample has a {kind} wrong dout shape"


def test_every_backward_checks_dout():
    """Issue 14: no registered layer's backward takes a dout of the wrong shape silently."""
    assert {info.name for info in INFOS if not info.checks_dout} == set()


# ---- inputs are not modified --------------------------------------------------------------
@pytest.mark.parametrize(("info", "i"), sample_params(INFOS))
def test_inputs_are_unchanged(info, i, rng):
    sample = samples(info)[i]
    before = {k: v.copy() for k, v in sample.kwargs.items() if isinstance(v, np.ndarray)}
    checks.run(info, sample, rng)
    for name, value in before.items():
        np.testing.assert_array_equal(sample.kwargs[name], value, err_msg=name)


# ---- (g) coverage -----------------------------------------------------------------------
def test_every_public_layer_is_registered_or_exempt():
    covered = {name for info in INFOS for name in info.covers}
    public = set(npml.nn.__all__) | set(npml.models.__all__)
    missing = public - covered - set(EXEMPT)
    assert not missing, f"neither registered nor in EXEMPT: {sorted(missing)}"
    assert not covered & set(EXEMPT), "a name is both registered and exempt"
    assert not (covered | set(EXEMPT)) - public, "registered or exempt names that are not public"
    assert all(reason.strip() for reason in EXEMPT.values())


# ---- the registry itself ----------------------------------------------------------------
def scale_samples(rng, dtype):
    for shape in [(1,), (2, 3)]:
        x = rng.standard_normal(shape).astype(dtype)
        yield Sample({"x": x, "s": np.asarray(2.0, dtype)}, desc=f"x{shape}")


SCALE = LayerInfo(
    "scale",
    forward=lambda x, s: (x * s, (x, s)),
    backward=lambda dout, c: (dout * c[1], np.sum(dout * c[0])),
    grad_names=("x", "s"),
    samples=scale_samples,
)


def test_the_docstring_example_passes_the_checks(rng):
    for s in samples(SCALE):
        assert max(checks.check_gradients(SCALE, s, rng).values()) < 1e-8
    for s in samples(SCALE, np.float32):
        checks.check_dtype(SCALE, s, np.float32, rng)


def test_a_wrong_backward_fails_the_gradient_check(rng):
    wrong = LayerInfo(
        "wrong", SCALE.forward, lambda d, c: (1.01 * d * c[1], np.sum(d * c[0])), ("x", "s"),
        scale_samples,
    )  # fmt: skip
    with pytest.raises(AssertionError, match="relative errors"):
        checks.check_gradients(wrong, samples(wrong)[1], rng)


def test_register_refuses_duplicates_and_non_entries():
    with pytest.raises(ValueError, match="already registered"):
        register(INFOS[0])
    with pytest.raises(TypeError, match="LayerInfo"):
        register("linear")
    with pytest.raises(TypeError, match="grad_names"):
        LayerInfo("x", SCALE.forward, SCALE.backward, "x", scale_samples)
    with pytest.raises(TypeError, match="forward/backward"):
        LayerInfo("x", None, None, ("x",), scale_samples)


def test_wrong_douts():
    wrong = {"permuted": (4, 3, 2), "leading 1": (1, 3, 4), "trailing": (4,)}
    assert checks.wrong_douts((2, 3, 4)) == wrong
    wrong = {"permuted": (1, 2, 2), "leading 1": (1, 1, 2), "trailing": (2,)}
    assert checks.wrong_douts((2, 1, 2)) == wrong
    assert checks.wrong_douts((1, 5)) == {"permuted": (5, 1), "trailing": (5,)}
    assert checks.wrong_douts((3,)) == {"leading 1": (1,)}
    assert checks.wrong_douts((1,)) == {}


def test_importing_npml_testing_loads_no_layer_numba_or_torch():
    code = (
        "import sys, npml.testing; print(sorted({'numba', 'torch', 'npml.nn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _raise(message):
    raise ValueError(message)


def test_the_bad_input_check_fails_on_silence_and_on_unnamed_arguments():
    checks.check_error_input(ErrorInput("x", lambda: _raise("x has shape (2,)")))
    with pytest.raises(AssertionError, match="no ValueError for a bad x"):
        checks.check_error_input(ErrorInput("x", lambda: None, desc="silent"))
    with pytest.raises(AssertionError, match="does not name 'x'"):
        checks.check_error_input(ErrorInput("x", lambda: _raise("x_1 has shape (2,)")))
    with pytest.raises(AssertionError, match="!~"):
        checks.check_error_input(ErrorInput("x", lambda: _raise("x is bad"), match="shape"))
