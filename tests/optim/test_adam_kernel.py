"""The fused Adam kernel equals its NumPy reference twin; the optimizer's layout paths agree."""

import numpy as np
import pytest
from numba.typed import List

from npml.nn import Parameter
from npml.optim import Adam, AdamW
from npml.optim._adam_kernel import (
    _adam_kernel,
    _nonfinite_chunks_kernel,
    _nonfinite_chunks_reference,
    adam_scalars,
    make_chunks,
)
from npml.optim.adam import _adam_reference

SIZES = [1, 7, 2500, 0, 33]  # a scalar, odd sizes, several chunks (chunk=1000 below), empty


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("decoupled", "amsgrad", "weight_decay"),
    [(True, False, 0.1), (False, True, 0.1), (True, True, 0.0), (False, False, 0.0)],
)
def test_kernel_equals_reference(rng, dtype, decoupled, amsgrad, weight_decay):
    ps = [rng.standard_normal(n).astype(dtype) for n in SIZES]
    ref = [p.copy() for p in ps]
    chunks = make_chunks(SIZES, chunk=1000)
    n = sum(SIZES)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    v_max = np.zeros(n if amsgrad else 0, dtype)
    refm, refv = [np.zeros(k, dtype) for k in SIZES], [np.zeros(k, dtype) for k in SIZES]
    refvm = [np.zeros(k, dtype) if amsgrad else None for k in SIZES]
    for step in range(1, 21):
        gs = [(rng.standard_normal(k) * 10.0 ** rng.integers(-3, 3)).astype(dtype) for k in SIZES]
        s = adam_scalars(1e-2, 0.9, 0.99, 1e-8, weight_decay, decoupled, step, dtype)
        _adam_kernel(List(ps), List(gs), m, v, v_max, *chunks, *s, amsgrad)
        for p, g, a, b, c in zip(ref, gs, refm, refv, refvm, strict=True):
            _adam_reference(p, g, a, b, c, t=step, lr=1e-2, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=weight_decay, decoupled=decoupled)  # fmt: skip
    offsets = chunks[3]
    for t, p in enumerate(ps):
        assert p.dtype == dtype
        sl = slice(offsets[t], offsets[t + 1])
        if dtype == np.float64:
            # same operations in the same order, each correctly rounded: identical bits
            np.testing.assert_array_equal(p, ref[t])
            np.testing.assert_array_equal(v[sl], refv[t])
        else:
            # Both compute in float32 (the scalars are float32, and NumPy keeps float32 for
            # array-with-scalar operations), and on x86-64 the results are identical too;
            # 1 ulp is allowed because that identity rests on neither side fusing a
            # multiply-add into one FMA (one rounding instead of two), which compilers may
            # do for some targets.
            np.testing.assert_array_max_ulp(p, ref[t], maxulp=1)
            np.testing.assert_array_max_ulp(m[sl], refm[t], maxulp=1)
        if amsgrad:
            np.testing.assert_array_max_ulp(v_max[sl], refvm[t], maxulp=1)
    assert any(np.abs(p).max() > 0 for p in ps if p.size)


def test_nonfinite_kernel_counts_nan_and_inf_per_chunk(rng):
    for dtype in (np.float32, np.float64):
        gs = [rng.standard_normal(n).astype(dtype) for n in SIZES]
        gs[2][[5, 1500, 2499]] = [np.nan, np.inf, -np.inf]
        gs[4][0] = np.nan
        gs[1][3] = np.finfo(dtype).max  # large but finite: not counted
        chunks = make_chunks(SIZES, chunk=1000)[:3]
        big = dtype(np.finfo(dtype).max)
        got = _nonfinite_chunks_kernel(List(gs), *chunks, big)
        np.testing.assert_array_equal(got, _nonfinite_chunks_reference(gs, *chunks, big))
        assert got.sum() == 4


def test_make_chunks_covers_every_element_once():
    tensor, start, stop, offsets = make_chunks([5, 0, 12], chunk=4)
    covered = [(t, j) for t, a, b in zip(tensor, start, stop, strict=True) for j in range(a, b)]
    assert covered == [(0, j) for j in range(5)] + [(2, j) for j in range(12)]
    assert np.all(stop - start <= 4)
    np.testing.assert_array_equal(offsets, [0, 5, 5, 17])


def test_noncontiguous_and_mixed_dtype_parameters_match_contiguous_ones(rng):
    """Strided data goes through a contiguous copy; float32 and float64 get separate buffers."""
    base = rng.standard_normal((5, 4))
    strided = Parameter(base.copy().T)  # F-ordered view: not C-contiguous
    assert not strided.data.flags.c_contiguous
    plain = Parameter(np.ascontiguousarray(base.T))
    small = Parameter(rng.standard_normal(3).astype(np.float32))
    small_alone = Parameter(small.data.copy())
    opt = AdamW([strided, small], lr=0.1, weight_decay=0.1)
    ref_plain = AdamW([plain], lr=0.1, weight_decay=0.1)
    ref_small = AdamW([small_alone], lr=0.1, weight_decay=0.1)
    for _ in range(5):
        g = rng.standard_normal((4, 5))
        gs = rng.standard_normal(3).astype(np.float32)
        strided.grad, plain.grad = g.copy(), g.copy()
        small.grad, small_alone.grad = gs.copy(), gs.copy()
        opt.step()
        ref_plain.step()
        ref_small.step()
    np.testing.assert_array_equal(strided.data, plain.data)
    np.testing.assert_array_equal(small.data, small_alone.data)
    assert small.data.dtype == np.float32
    assert not np.array_equal(plain.data, base.T)


def test_gradient_buffers_reused_in_place_and_replaced_both_work(rng):
    """The kernel's cached views follow a replaced data/grad array (no stale pointers)."""
    x0 = rng.standard_normal(6)
    p, q = Parameter(x0.copy()), Parameter(x0.copy())
    opt, ref = Adam([p], lr=0.1), Adam([q], lr=0.1)
    p.zero_grad()
    for t in range(6):
        g = rng.standard_normal(6)
        p.grad[...] = g  # same buffer every step
        q.grad = g.copy()  # a new array every step
        if t == 3:
            p.data = p.data.copy()  # rebinding data must not leave the kernel on the old array
            q.data = q.data.copy()
        opt.step()
        ref.step()
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.allclose(p.data, x0)


def test_integer_gradient_is_cast_to_the_parameter_dtype():
    p = Parameter(np.zeros(3, np.float32))
    p.grad = np.array([1, -1, 0])
    Adam([p], lr=0.5).step()
    np.testing.assert_allclose(p.data, [-0.5, 0.5, 0.0], atol=1e-6)
    assert p.data.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "amsgrad"), [(Adam, True), (AdamW, False), (AdamW, True)])
def test_optimizer_step_equals_reference_loop(rng, dtype, cls, amsgrad):
    """What a user runs (buckets, cached views, chunks, threads) is the readable update."""
    shapes = [(3,), (200, 300), (), (5, 1, 7)]  # 60000 elements: two chunks of CHUNK
    kw = dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.2)
    params = [Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    ref = [p.data.copy() for p in params]
    moments = [(np.zeros(s, dtype), np.zeros(s, dtype), np.zeros(s, dtype)) for s in shapes]
    opt = cls(params, amsgrad=amsgrad, **kw)
    for t in range(1, 8):
        for p, theta, (m, v, v_max) in zip(params, ref, moments, strict=True):
            p.grad = rng.standard_normal(p.data.shape).astype(dtype)
            _adam_reference(theta, p.grad, m, v, v_max if amsgrad else None, t=t,
                            decoupled=cls is AdamW, **kw)  # fmt: skip
        opt.step()
    for p, theta in zip(params, ref, strict=True):
        if dtype == np.float64:
            np.testing.assert_array_equal(p.data, theta)
        else:
            np.testing.assert_array_max_ulp(p.data, theta, maxulp=1)  # see the test above
