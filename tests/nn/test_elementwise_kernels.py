"""The Numba kernels of GELU, LayerNorm and softmax cross-entropy against their NumPy twins."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from npml.nn import activations as act
from npml.nn import ffn, losses
from npml.nn import layer_norm as ln
from npml.testing import check_gradient

SHAPES = [(1, 1), (1, 7), (3, 5), (2, 3, 9), (4, 129)]  # one row, odd widths, 3-D
TOL = {np.float64: 1e-12, np.float32: 1e-6}


def rel_err(a, b):
    """Max-norm relative difference."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    return np.abs(a - b).max() / max(np.abs(b).max(), np.finfo(b.dtype).tiny)


@pytest.fixture
def kernels_always(monkeypatch):
    """Route every call, however small, through the kernels, on all threads."""
    from npml.nn import _activation_kernels as kern

    for module in (act, ln, losses):
        monkeypatch.setattr(module, "KERNEL_MIN_SIZE", 1)
    monkeypatch.setattr(kern, "PARALLEL_MIN_SIZE", 0)  # per-worker partial sums too


def test_erf_and_exp_helpers_on_a_dense_grid():
    from npml.nn import _activation_kernels as kern

    x64 = np.linspace(-6, 6, 400_001)
    for dtype, tol in ((np.float32, 4e-7), (np.float64, 5e-16)):
        x = x64.astype(dtype)
        e, p = np.empty_like(x), np.empty_like(x)
        kern._erf_exp_kernel(x, e, p)
        assert e.dtype == p.dtype == dtype
        truth = erf(x.astype(np.float64))
        # float32: below 4e-7 absolute, a few ulps of the values near 1 (ulp 6e-8 there);
        # float64 (math.erf) and scipy differ by up to 1.5 ulp of 1
        assert np.abs(e - truth).max() < tol, dtype
        small = np.abs(x) < 1e-3  # near 0 erf(x) ~ 2x/sqrt(pi): relative accuracy too
        assert (np.abs(e - truth)[small] / np.abs(truth[small] + 1e-300)).max() < 10 * tol
        rel = np.abs(p - np.exp(x.astype(np.float64))) / np.exp(x.astype(np.float64))
        assert rel.max() < (1e-6 if dtype == np.float32 else 1e-15), dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gelu_kernels_match_twins(rng, kernels_always, shape, approximate, dtype):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, cache = act.gelu_forward(x, approximate)
    ref, rcache = act._gelu_forward_reference(x, approximate)
    assert cache.t is None  # the kernel path
    assert rel_err(out, ref) < TOL[dtype]
    dx = act.gelu_backward(dout, cache)
    assert rel_err(dx, act._gelu_backward_reference(dout, rcache)) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_bias_gelu_kernels_match_twins(rng, kernels_always, shape, approximate, dtype, bias):
    a = (3 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype) if bias else None
    dh = rng.standard_normal(shape).astype(dtype)
    h, cache = act._bias_gelu_forward(a.copy(), b, approximate)
    assert cache.grad is not None  # the kernel path
    ref, rcache = act._gelu_forward_reference(a if b is None else a + b, approximate)
    assert rel_err(h, ref) < TOL[dtype]
    da, db = act._bias_gelu_backward(dh.copy(), cache, bias)
    rda = act._gelu_backward_reference(dh, rcache)
    assert rel_err(da, rda) < TOL[dtype]
    if bias:
        assert rel_err(db, rda.reshape(-1, shape[-1]).sum(axis=0)) < TOL[dtype]
    else:
        assert db is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_layer_norm_kernels_match_twins(rng, kernels_always, shape, dtype):
    D = shape[-1]
    x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = (rng.standard_normal(D).astype(dtype) for _ in range(2))
    dout = rng.standard_normal(shape).astype(dtype)
    y, cache = ln.layer_norm_forward(x, gamma, beta, 1e-5)
    ref, rcache = ln._layer_norm_forward_reference(x, gamma, beta, 1e-5)
    assert rel_err(y, ref) < TOL[dtype]
    for field, rfield in zip(cache, rcache, strict=True):
        assert rel_err(field, rfield) < TOL[dtype]
    grads = ln.layer_norm_backward(dout, cache)
    for g, r in zip(grads, ln._layer_norm_backward_reference(dout, rcache), strict=True):
        assert rel_err(g, r) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_kernels_match_twins(rng, kernels_always, shape, dtype):
    logits = (3 * rng.standard_normal(shape)).astype(dtype)
    targets = rng.integers(0, shape[-1], shape[:-1])
    if targets.size > 1:
        targets.flat[1] = -100
    loss, cache = losses.softmax_cross_entropy_forward(logits, targets, ignore_index=-100)
    z, t = logits.reshape(-1, shape[-1]), cache.targets
    probs, nll = losses._cross_entropy_forward_reference(z, t)
    keep = cache.keep
    assert rel_err(cache.probs, probs) < TOL[dtype]
    assert abs(loss - nll[keep].sum() / keep.sum()) <= TOL[dtype] * abs(loss)
    dz = losses.softmax_cross_entropy_backward(0.7, cache)
    ref = losses._cross_entropy_backward_reference(probs, t, keep, 0.7 / keep.sum())
    assert rel_err(dz, ref.reshape(shape)) < TOL[dtype]


def test_cross_entropy_kernel_raises_on_non_finite_logits(rng, kernels_always):
    for bad in (np.nan, np.inf, -np.inf):
        logits = rng.standard_normal((3, 4))
        logits[1, 2] = bad
        with pytest.raises(ValueError, match="logits contains 1 non-finite"):
            losses.softmax_cross_entropy_forward(logits, [0, 1, 2])


def test_layer_norm_kernel_raises_on_non_finite_input(rng, kernels_always):
    for bad in (np.nan, np.inf, -np.inf):
        x = rng.standard_normal((3, 4))
        x[2, 0] = bad
        with pytest.raises(ValueError, match="x contains 1 non-finite"):
            ln.layer_norm_forward(x, np.ones(4), np.zeros(4))


def test_gradients_through_the_kernels(rng, kernels_always):
    # the float64 finite-difference checks of the public functions, on the kernel path
    x = 2 * rng.standard_normal((2, 3, 5))
    dout = rng.standard_normal(x.shape)
    for approximate in ("none", "tanh"):
        y, cache = act.gelu_forward(x, approximate)
        dx = act.gelu_backward(dout, cache)
        f = lambda z, ap=approximate: act.gelu_forward(z, ap)[0]  # noqa: E731
        assert check_gradient(f, x, dx, dout) < 1e-6
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    _, cache = ln.layer_norm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ln.layer_norm_backward(dout, cache)
    assert check_gradient(lambda z: ln.layer_norm_forward(z, gamma, beta)[0], x, dx, dout) < 1e-6
    assert (
        check_gradient(lambda z: ln.layer_norm_forward(x, z, beta)[0], gamma, dgamma, dout) < 1e-6
    )
    assert check_gradient(lambda z: ln.layer_norm_forward(x, gamma, z)[0], beta, dbeta, dout) < 1e-6
    targets = rng.integers(0, 5, (2, 3))
    _, cache = losses.softmax_cross_entropy_forward(x, targets)
    dz = losses.softmax_cross_entropy_backward(1.3, cache)
    f = lambda z: losses.softmax_cross_entropy_forward(z, targets)[0]  # noqa: E731
    assert check_gradient(f, x, dz, np.array(1.3)) < 1e-6
    # and the FFN with its fused bias + GELU
    d, d_ff = 5, 7
    W_1, W_2 = rng.standard_normal((d, d_ff)), rng.standard_normal((d_ff, d))
    b_1, b_2 = rng.standard_normal(d_ff), rng.standard_normal(d)
    args = [x, W_1, b_1, W_2, b_2]
    for activation in ("gelu", "gelu_tanh"):
        y, cache = ffn.ffn_forward(*args, activation=activation)
        grads = ffn.ffn_backward(dout, cache)
        for i, g in enumerate(grads):

            def fi(z, i=i, activation=activation):
                return ffn.ffn_forward(*args[:i], z, *args[i + 1 :], activation=activation)[0]

            assert check_gradient(fi, args[i], g, dout) < 1e-6


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_ffn_kernel_path_matches_reference_path(rng, monkeypatch, activation):
    x = rng.standard_normal((2, 5, 8))
    W_1, W_2 = rng.standard_normal((8, 13)), rng.standard_normal((13, 8))
    b_1, b_2 = rng.standard_normal(13), rng.standard_normal(8)
    dout = rng.standard_normal(x.shape)
    results = []
    for min_size in (10**9, 1):  # NumPy path, then kernels
        monkeypatch.setattr(act, "KERNEL_MIN_SIZE", min_size)
        y, cache = ffn.ffn_forward(x, W_1, b_1, W_2, b_2, activation)
        results.append((y, *ffn.ffn_backward(dout, cache)))
    for a, b in zip(*results, strict=True):
        assert rel_err(a, b) < 1e-12


def test_float32_stays_float32_everywhere(rng, kernels_always):
    f32 = np.float32
    x = rng.standard_normal((3, 4, 16)).astype(f32)
    dout = rng.standard_normal(x.shape).astype(f32)

    def all_f32(*arrays):
        return all(a is None or not isinstance(a, np.ndarray) or a.dtype == f32 for a in arrays)

    for approximate in ("none", "tanh"):
        y, cache = act.gelu_forward(x, approximate)
        assert all_f32(y, *cache, act.gelu_backward(dout, cache))
    gamma, beta = np.ones(16, f32), np.zeros(16, f32)
    y, cache = ln.layer_norm_forward(x, gamma, beta)
    assert all_f32(y, *cache, *ln.layer_norm_backward(dout, cache))
    loss, cache = losses.softmax_cross_entropy_forward(x, rng.integers(0, 16, (3, 4)))
    assert all_f32(cache.probs, losses.softmax_cross_entropy_backward(1.0, cache))
    W_1, W_2 = rng.standard_normal((16, 24)).astype(f32), rng.standard_normal((24, 16)).astype(f32)
    b_1, b_2 = np.zeros(24, f32), np.zeros(16, f32)
    for activation in ("gelu", "gelu_tanh"):
        y, cache = ffn.ffn_forward(x, W_1, b_1, W_2, b_2, activation)
        assert all_f32(y, *cache, *cache.gelu, *ffn.ffn_backward(dout, cache))


def test_kernel_threads_restores_the_thread_count():
    import numba

    from npml.nn import _activation_kernels as kern

    n = numba.get_num_threads()
    with kern.kernel_threads(10) as workers:
        assert workers == 1 == numba.get_num_threads()
    assert numba.get_num_threads() == n
    with kern.kernel_threads(kern.PARALLEL_MIN_SIZE) as workers:
        assert workers == n


def test_public_functions_pick_the_kernel_for_large_inputs(rng, monkeypatch):
    calls = []
    monkeypatch.setattr(act, "_gelu_forward_reference", lambda *a: calls.append(a))
    act.gelu_forward(rng.standard_normal((64, 128)).astype(np.float32))  # 8192 >= min size
    assert not calls
    act.gelu_forward(rng.standard_normal((3, 4)))
    assert len(calls) == 1


def test_correct_without_jit():
    # readers step through the kernels with NUMBA_DISABLE_JIT=1: still the right answer
    code = textwrap.dedent(
        """
        import numpy as np
        from npml.nn import activations as act, layer_norm as ln, losses
        for m in (act, ln, losses):
            m.KERNEL_MIN_SIZE = 1
        rng = np.random.default_rng(0)
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
            x = (3 * rng.standard_normal((2, 3, 5))).astype(dtype)
            dout = rng.standard_normal(x.shape).astype(dtype)
            b = rng.standard_normal(5).astype(dtype)
            errs = []
            for ap in ("none", "tanh"):
                h, c = act._bias_gelu_forward(x.copy(), b, ap)
                r, rc = act._gelu_forward_reference(x + b, ap)
                da, db = act._bias_gelu_backward(dout.copy(), c, True)
                rda = act._gelu_backward_reference(dout, rc)
                y, c = act.gelu_forward(x, ap)
                dx = act.gelu_backward(dout, c)
                r2, rc2 = act._gelu_forward_reference(x, ap)
                errs += [abs(h - r).max(), abs(da - rda).max(),
                         abs(db - rda.reshape(-1, 5).sum(0)).max(), abs(y - r2).max(),
                         abs(dx - act._gelu_backward_reference(dout, rc2)).max()]
            g, be = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
            y, c = ln.layer_norm_forward(x, g, be)
            ry, rc = ln._layer_norm_forward_reference(x, g, be, 1e-5)
            grads = ln.layer_norm_backward(dout, c)
            rgrads = ln._layer_norm_backward_reference(dout, rc)
            errs += [abs(a - b).max() for a, b in zip((y, *grads), (ry, *rgrads))]
            t = rng.integers(0, 5, (2, 3))
            loss, c = losses.softmax_cross_entropy_forward(x, t)
            dz = losses.softmax_cross_entropy_backward(1.0, c)
            p, nll = losses._cross_entropy_forward_reference(x.reshape(-1, 5), t.reshape(-1))
            rdz = losses._cross_entropy_backward_reference(p, t.reshape(-1), c.keep, 1 / 6)
            errs += [abs(loss - nll.mean()), abs(dz.reshape(-1, 5) - rdz).max()]
            assert max(errs) < 10 * tol, (dtype, errs)
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = str(Path(act.__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
