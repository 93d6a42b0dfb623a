import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import npml.nn._flash_driver as drv
import npml.nn.flash_attention as fa
from npml.nn._flash_exp2 import EXP2_LOW, _exp2_row
from npml.nn.attention import attention_backward, attention_forward
from npml.nn.flash_attention import (
    fused_attention,
    fused_attention_backward,
    fused_attention_forward,
    use_fused,
)

# (q shape, k shape, v shape, mask kind, causal, block_size); small blocks give several tiles
CASES = {
    "T=1": ((1, 4), (1, 4), (1, 3), None, False, None),
    "T_q != T_k, odd D, partial tiles": ((2, 13, 5), (2, 21, 5), (2, 21, 3), None, False, (4, 8)),
    "batch and heads": ((2, 3, 19, 8), (2, 3, 19, 8), (2, 3, 19, 8), None, False, (8, 8)),
    "causal square": ((2, 2, 23, 6), (2, 2, 23, 6), (2, 2, 23, 6), None, True, (8, 4)),
    "causal T_q < T_k": ((3, 9, 4), (3, 30, 4), (3, 30, 7), None, True, (4, 8)),
    "causal T_q > T_k (empty rows)": ((2, 17, 4), (2, 6, 4), (2, 6, 5), None, True, (4, 4)),
    "causal decode T_q=1": ((2, 2, 1, 8), (2, 2, 37, 8), (2, 2, 37, 8), None, True, (1, 16)),
    "padding mask over heads": ((2, 3, 11, 6), (2, 3, 26, 6), (2, 3, 26, 6), "pad", False, 8),
    "arbitrary mask, empty rows": ((2, 2, 15, 5), (2, 2, 18, 5), (2, 2, 18, 4), "full", False, 4),
    "mask and causal": ((2, 2, 20, 4), (2, 2, 20, 4), (2, 2, 20, 4), "full", True, (8, 4)),
    "one 2-D mask for all heads": ((3, 2, 9, 4), (3, 2, 12, 4), (3, 2, 12, 4), "2d", False, 5),
    "k, v shared by heads": ((2, 3, 10, 5), (2, 1, 14, 5), (2, 1, 14, 3), "pad", False, (4, 4)),
    "no batch axes": ((33, 7), (40, 7), (40, 2), None, True, None),
}


def make(rng, case, dtype=np.float64):
    q_shape, k_shape, v_shape, mask_kind, causal, block = CASES[case]
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in (q_shape, k_shape, v_shape))
    T_q, T_k = q_shape[-2], k_shape[-2]
    B = q_shape[0]
    mask = None
    if mask_kind == "pad":  # key padding (B, 1, 1, T_k): each sequence keeps a prefix
        lengths = rng.integers(1, T_k + 1, size=B)
        mask = (np.arange(T_k)[None, :] < lengths[:, None])[:, None, None, :]
    elif mask_kind == "full":  # an arbitrary mask per batch and head, with empty rows
        mask = rng.random(q_shape[:-1] + (T_k,)) < 0.4
        mask[..., 1, :] = False
        mask[0, -1, -1, :] = False
    elif mask_kind == "2d":
        mask = rng.random((T_q, T_k)) < 0.5
    return q, k, v, mask, causal, block


def tol(dtype):
    return {"rtol": 1e-10, "atol": 1e-10} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_forward_and_backward_match_the_reference(rng, case, dtype):
    q, k, v, mask, causal, block = make(rng, case, dtype)
    out, cache = fused_attention_forward(q, k, v, mask, causal, block)
    # reference in float64 from the same inputs: the float32 kernel must be within 1e-5 of it
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    ref, ref_cache = attention_forward(q64, k64, v64, mask, causal)
    assert out.dtype == dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, **tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = fused_attention_backward(dout, cache)
    ref_grads = attention_backward(dout.astype(np.float64), ref_cache)
    for name, g, r, x in zip("qkv", grads, ref_grads, (q, k, v), strict=True):
        assert g.shape == x.shape and g.dtype == dtype, name
        np.testing.assert_allclose(g, r, err_msg=f"d{name}", **tol(dtype))


def test_rows_without_allowed_keys_give_zeros_and_zero_gradients(rng):
    q, k, v = (rng.standard_normal((2, 3, 6, 4)) for _ in range(3))
    mask = np.ones((2, 3, 6, 6), dtype=bool)
    mask[1, 2, 4] = False  # one fully masked query row
    out, cache = fused_attention_forward(q, k, v, mask)
    assert np.all(out[1, 2, 4] == 0.0) and np.isfinite(out).all()
    assert np.isposinf(cache.lse.reshape(2, 3, 6)[1, 2, 4])
    dq, dk, dv = fused_attention_backward(np.ones_like(out), cache)
    assert np.all(dq[1, 2, 4] == 0.0)
    assert all(np.isfinite(g).all() for g in (dq, dk, dv))
    # a masked key gets no gradient from any row
    mask[:, :, :, 2] = False
    _, cache = fused_attention_forward(q, k, v, mask)
    _, dk, dv = fused_attention_backward(np.ones_like(out), cache)
    assert np.all(dk[..., 2, :] == 0.0) and np.all(dv[..., 2, :] == 0.0)


@pytest.mark.parametrize("scale", [None, 0.6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_agree_with_their_numpy_twins(rng, dtype, scale):
    q, k, v, mask, causal, _ = make(rng, "mask and causal", dtype)
    block = (8, 4)
    out, cache = fused_attention_forward(q, k, v, mask, causal, block, scale=scale)
    assert cache.scale == (0.5 if scale is None else scale)  # D = 4
    # the twins take the driver's arguments: packed (N, T, D) arrays, layout, scale, tiles
    args = (cache.q, cache.k, cache.v, cache.mask, causal, cache.scale, *block)
    ref_out, ref_lse = fa._flash_forward_reference(*args)
    np.testing.assert_allclose(cache.out, ref_out, **tol(dtype))
    np.testing.assert_allclose(cache.lse, ref_lse, **tol(dtype))  # both +inf on empty rows
    dout = rng.standard_normal(out.shape).astype(dtype).reshape(cache.out.shape)
    grads = drv.flash_backward(dout, cache.q, cache.k, cache.v, cache.out, cache.lse, *args[3:])
    ref = fa._flash_backward_reference(
        dout, cache.q, cache.k, cache.v, cache.out, cache.lse, *args[3:]
    )
    for g, r in zip(grads, ref, strict=True):
        np.testing.assert_allclose(g, r, **tol(dtype))


PARALLEL_CASES = [
    "mask and causal",
    "causal decode T_q=1",
    "k, v shared by heads",
    "causal T_q < T_k",
]


def _assert_matches_reference(rng, case):
    """Fused output and gradients equal the reference attention's to 1e-10 (float64)."""
    q, k, v, mask, causal, block = make(rng, case)
    out, cache = fused_attention_forward(q, k, v, mask, causal, block)
    ref, ref_cache = attention_forward(q, k, v, mask, causal)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    grads = fused_attention_backward(dout, cache)
    for g, r in zip(grads, attention_backward(dout, ref_cache), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", PARALLEL_CASES)
def test_parallel_path_matches_the_reference(rng, case, monkeypatch):
    # small problems run on one thread (PARALLEL_WORK); force the multi-worker path here; the
    # last case has 3 heads, so on 2 workers the backward uses one partial dq per worker
    monkeypatch.setattr(drv, "PARALLEL_WORK", 0)
    _assert_matches_reference(rng, case)


def test_without_threadpoolctl_the_kernel_runs_on_one_worker(rng, monkeypatch):
    # drv._BLAS_CONTROLLER = False is what _workers records when threadpoolctl is missing
    monkeypatch.setattr(drv, "_BLAS_CONTROLLER", False)
    monkeypatch.setattr(drv, "PARALLEL_WORK", 0)
    assert drv._workers(10**9)[0] == 1
    _assert_matches_reference(rng, "mask and causal")


def test_result_does_not_depend_on_block_size_or_threads(rng, monkeypatch):
    import numba

    monkeypatch.setattr(drv, "PARALLEL_WORK", 0)
    q, k, v, mask, causal, _ = make(rng, "mask and causal")
    dout = rng.standard_normal(q.shape[:-1] + (v.shape[-1],))
    base, cache = fused_attention_forward(q, k, v, mask, causal, 3)
    base_grads = fused_attention_backward(dout, cache)
    runs = [(7, None), ((5, 11), None), (None, 1)]
    before = numba.get_num_threads()
    for block, threads in runs:
        if threads:
            numba.set_num_threads(threads)
        try:
            out, cache = fused_attention_forward(q, k, v, mask, causal, block)
            grads = fused_attention_backward(dout, cache)
        finally:
            numba.set_num_threads(before)
        np.testing.assert_allclose(out, base, rtol=1e-12, atol=1e-12)
        for g, b in zip(grads, base_grads, strict=True):
            np.testing.assert_allclose(g, b, rtol=1e-12, atol=1e-12)


def test_cache_memory_is_linear_in_T(rng):
    # the docstring's claim: nothing of size T_q x T_k is kept for the backward pass
    T, D = 512, 4
    q, k, v = (rng.standard_normal((1, T, D)) for _ in range(3))
    _, cache = fused_attention_forward(q, k, v, causal=True)
    sizes = [a.size for a in cache if isinstance(a, np.ndarray)]
    assert max(sizes) <= T * D < T * T // 64


def test_float32_stays_float32_and_inputs_are_not_modified(rng):
    q, k, v = (rng.standard_normal((2, 9, 4)).astype(np.float32) for _ in range(3))
    copies = [a.copy() for a in (q, k, v)]
    out, cache = fused_attention_forward(q, k, v, causal=True)
    grads = fused_attention_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    for a, c in zip((q, k, v), copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_bad_inputs_raise_clear_errors(rng):
    q = rng.standard_normal((2, 5, 4))
    k = rng.standard_normal((2, 6, 4))
    v = rng.standard_normal((2, 6, 3))
    with pytest.raises(ValueError, match="same last dimension"):
        fused_attention(q, rng.standard_normal((2, 6, 5)), v)
    with pytest.raises(ValueError, match="number of keys"):
        fused_attention(q, k, rng.standard_normal((2, 7, 3)))
    with pytest.raises(ValueError, match="T_k = 0 keys"):
        fused_attention(q, k[:, :0], v[:, :0])
    with pytest.raises(ValueError, match="do not broadcast"):
        fused_attention(q, rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 6, 3)))
    with pytest.raises(ValueError, match="mask has shape"):
        fused_attention(q, k, v, mask=np.ones((5, 7), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        fused_attention(q, k, v, mask=np.ones((5, 6)))
    with pytest.raises(TypeError, match="float32 or float64"):
        fused_attention(q.astype(np.float32), k, v)
    with pytest.raises(ValueError, match="block_size"):
        fused_attention(q, k, v, block_size=0)
    with pytest.raises(ValueError, match="block_size"):
        fused_attention(q, k, v, block_size=(4, 2.5))
    with pytest.raises(ValueError, match="non-finite"):
        fused_attention(np.full_like(q, np.nan), k, v)
    out, cache = fused_attention_forward(q, k, v)
    with pytest.raises(ValueError, match="dout has shape"):
        fused_attention_backward(np.ones((2, 5, 4)), cache)


SCALE_CASES = ["T_q != T_k, odd D, partial tiles", "mask and causal", "k, v shared by heads"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SCALE_CASES)
def test_scale_matches_the_plain_path(rng, case, dtype):
    q, k, v, mask, causal, block = make(rng, case, dtype)
    scale = 1.7  # sharper than 1 / sqrt(D): larger scores exercise the online rescaling
    out, cache = fused_attention_forward(q, k, v, mask, causal, block, scale=scale)
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    ref, ref_cache = attention_forward(q64, k64, v64, mask, causal, scale=scale)
    np.testing.assert_allclose(out, ref, **tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = fused_attention_backward(dout, cache)
    ref_grads = attention_backward(dout.astype(np.float64), ref_cache)
    for name, g, r in zip("qkv", grads, ref_grads, strict=True):
        np.testing.assert_allclose(g, r, err_msg=f"d{name}", **tol(dtype))


def test_against_torch_sdpa_with_scale_and_top_left_causal_recipe(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 9, 4), (2, 3, 14, 4), (2, 3, 14, 5)))
    top_left = np.tril(np.ones((9, 14), dtype=bool))  # torch's is_causal=True (docstrings)
    out, cache = fused_attention_forward(q, k, v, top_left, block_size=(4, 4), scale=0.8)
    dout = rng.standard_normal(out.shape)
    grads = fused_attention_backward(dout, cache)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tout = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True, scale=0.8)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-10)
    for g, t in zip(grads, (tq, tk, tv), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=0, atol=1e-10)


def test_bad_scale_raises(rng):
    q = rng.standard_normal((2, 5, 4))
    for bad in (0.0, -0.5, np.inf, np.nan):
        with pytest.raises(ValueError, match="scale="):
            fused_attention(q, q, q, scale=bad)
    with pytest.raises(TypeError, match="scale="):
        fused_attention_forward(q, q, q, scale="0.5")


# ---- the polynomial exponential (npml.nn._flash_exp2) ----------------------------------------
def _exp2(t, dtype):
    s = np.array(t, dtype=dtype)
    total = _exp2_row(s, dtype(0.0))
    return s, total


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp2_error_is_below_one_epsilon_on_its_range(dtype):
    # _flash_exp2's claim: relative error < eps(dtype) for t in [t_lo, 1/2], 2^0 = 1 exactly,
    # exactly 0 below t_lo. The kernels use t <= 0 (plus a rounding-sized excess).
    lo, eps = EXP2_LOW[np.dtype(dtype)], np.finfo(dtype).eps
    t = np.concatenate(
        [
            np.linspace(lo, 0.5, 2_000_001),  # the whole range, step 5e-4 (float64) or so
            np.linspace(-1.0, 0.0, 1_000_001),  # near 0, where rows' largest terms are
            np.arange(lo, 1.0, 0.5)[:, None] + np.array([-1e-6, 0.0, 1e-6]),  # where f -> +-1/2
            [lo, 0.5, 0.0, -0.0],
        ],
        axis=None,
    )
    t = np.clip(t, lo, 0.5).astype(dtype)
    e, total = _exp2(t, dtype)
    if np.finfo(np.longdouble).precision >= 18:  # x87 extended: exact enough for float64 too
        ref = np.exp2(t.astype(np.longdouble))
        bound = eps
    else:  # np.exp2 in float64 is itself off by up to about one float64 epsilon
        ref = np.exp2(t.astype(np.float64))
        bound = eps if dtype == np.float32 else 2 * eps
    rel = np.abs(e.astype(ref.dtype) - ref) / ref
    assert rel.max() < bound, (float(rel.max() / eps), t[np.argmax(rel)])
    # the returned row sum: any summation order is within n * eps of the exact sum
    assert abs(total - math.fsum(e.tolist())) <= e.size * eps * math.fsum(e.tolist())
    assert _exp2([0.0], dtype)[0][0] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp2_is_zero_far_below_and_never_nan(dtype):
    lo = EXP2_LOW[np.dtype(dtype)]
    very_negative = [np.nextafter(dtype(lo), dtype(-np.inf)), lo - 1, -1e4, -1e30, -1e38]
    e, total = _exp2(very_negative, dtype)
    assert np.all(e == 0.0) and total == 0.0
    # relative to a row maximum m: 2^(s - m), with the masked sentinel -1e30 giving 0
    s = np.array([3.0, 2.0, -1e30, 3.0 + lo], dtype=dtype)
    _exp2_row(s, dtype(3.0))
    np.testing.assert_allclose(s, [1.0, 0.5, 0.0, 2.0**lo], rtol=np.finfo(dtype).eps)


def test_use_fused_rule():
    assert use_fused(4096, 4096, 64, np.float32) is True
    assert use_fused(1, 8, 64, np.float64) is False
    # monotone in the sequence lengths
    small = [use_fused(T, T, 64, np.float32) for T in (8, 32, 128, 512, 2048)]
    assert small == sorted(small)
    # the work of all (batch, head) pairs counts: the train chapter's GPT (16 x 4 heads, T=128)
    assert use_fused(128, 128, 32, np.float32, n=64) and not use_fused(128, 128, 32, n=1)
    assert not use_fused(1, 4096, 64, np.float32, n=8)  # decoding one query stays plain
    with pytest.raises(ValueError, match="n=0"):
        use_fused(8, 8, 4, n=0)


def test_correct_without_jit():
    # readers step through the kernels with NUMBA_DISABLE_JIT=1: still the right answer
    code = textwrap.dedent(
        """
        import numpy as np
        from npml.nn.attention import attention_backward, attention_forward
        from npml.nn.flash_attention import fused_attention_backward, fused_attention_forward
        rng = np.random.default_rng(0)
        for dtype in (np.float64, np.float32):
            q, k, v = (rng.standard_normal((2, 7, 3)).astype(dtype) for _ in range(3))
            mask = rng.random((7, 7)) < 0.7
            out, cache = fused_attention_forward(q, k, v, mask, True, (3, 2))
            ref, rc = attention_forward(q.astype(float), k.astype(float), v.astype(float),
                                        mask, True)
            dout = rng.standard_normal(out.shape).astype(dtype)
            grads = fused_attention_backward(dout, cache)
            refs = attention_backward(dout.astype(float), rc)
            err = max(np.abs(a - b).max() for a, b in zip((out, *grads), (ref, *refs)))
            assert err < (1e-12 if dtype == np.float64 else 1e-5), (dtype, err)
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = str(Path(fa.__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
