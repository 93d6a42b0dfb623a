"""Numba kernels of GELU (exact and tanh forms), alone or with the bias add fused in front.

The equations are in :mod:`npml.nn.activations`, whose plain-NumPy twins
``_gelu_forward_reference`` / ``_gelu_backward_reference`` are tested against these kernels.

Layout: ``_gelu_forward_kernel`` / ``_gelu_backward_kernel`` take flat C-contiguous arrays cut
into chunks of ``D`` elements (the last one may be shorter); ``prange`` runs over the chunks,
which are independent, and the backward recomputes the derivative from ``x``. The bias-fused
pair works on ``(N, D)`` rows: the forward computes ``h = gelu(a + b)`` and, in the same pass,
the derivative ``gelu'(a + b)``, which it stores over ``a`` (no extra memory; computing both
together shares the erf and measured faster than recomputing it in the backward); the
backward multiplies ``dh`` by it in place and sums the result over rows into one partial row
per worker, added up at the end, so ``db`` does not depend on how the rows were scheduled,
only on the number of workers.

Scalar helpers are generic over float32/float64 through ``overload``: float32 gets its own
vectorisable erf and exp in float32 arithmetic, float64 gets ``math.erf``/``math.exp`` (libm,
accurate to about an ulp; they do not vectorise but the float64 path is not the hot one).

* ``erf`` (float32): :math:`\\operatorname{erf}(x) \\approx x P(x^2) / Q(x^2)` on
  :math:`|x| \\le 4` (beyond, erf rounds to :math:`\\pm 1` in float32), with ``P`` of degree 6
  and ``Q`` of degree 5 fitted by least squares to ``erf(x)/x`` on ``[0, 4]`` (fit error
  3e-8; evaluated in float32 the error is below 4e-7, a few ulps of values near 1).
* ``exp`` (float32): :math:`e^t = 2^n 2^f` with :math:`n` an integer and :math:`|f| \\le 1/2`,
  :math:`2^f` from its degree-6 Chebyshev interpolant and :math:`2^n` added to the exponent
  bits (the bit casts are the intrinsics of :mod:`npml.nn._intrinsics`).
* ``tanh`` (float32): :math:`\\tanh u = \\operatorname{sign}(u)(1 - e)/(1 + e)`,
  :math:`e = e^{-2|u|}`.

None of them uses ``fastmath``; without it LLVM still vectorises the element loops because the
helpers are branch-free (selects, not jumps) and all constants have the array's dtype.

The scalar helpers exist only for these kernels and the kernels only for GELU: one idea, kept
in one file (splitting off the helpers would only move the count, not the idea).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from npml._threading import parallel_region
from npml.nn._intrinsics import _bits_float, _float_bits

PARALLEL_MIN_SIZE = 2**18  # elements below which the kernels run on the calling thread only
_f32 = np.float32


@contextlib.contextmanager
def kernel_threads(size: int) -> Iterator[int]:
    """Run the kernels inside on one thread when ``size < PARALLEL_MIN_SIZE``; yields the
    number of workers. On a busy machine a parallel region can wait milliseconds for its
    second thread (measured on 2 shared cores at load 4-9), while one thread does 2**18
    elements of these loops in 0.3-0.5 ms. Shared by the LayerNorm and loss kernels. The
    launch goes through :func:`npml._threading.parallel_region`, as every parallel kernel's.
    """
    n = numba.get_num_threads()
    with parallel_region():
        if size >= PARALLEL_MIN_SIZE or n == 1:
            yield n
            return
        numba.set_num_threads(1)  # per calling thread
        try:
            yield 1
        finally:
            numba.set_num_threads(n)


# erf(x)/x ~ P(s)/Q(s), s = x^2, on [0, 4] (least-squares fit, module docstring)
_ERF_P = tuple(
    _f32(c)
    for c in (
        1.1283791694423793,
        0.18514524532837207,
        0.05430600835345447,
        0.0038468975867838625,
        0.00037942360552964145,
        4.680629320522739e-06,
        -1.317370135200946e-08,
    )
)
_ERF_Q = tuple(
    _f32(c)
    for c in (
        1.0,
        0.4974141171997555,
        0.1139316182546124,
        0.015455907459176604,
        0.001306783726004737,
        6.307351509529744e-05,
    )
)
_CHEB6 = np.polynomial.Chebyshev.interpolate(lambda f: 2.0**f, 6, domain=[-0.5, 0.5])
_EXP2_P = tuple(_f32(c) for c in _CHEB6.convert(kind=np.polynomial.Polynomial).coef)
_LOG2E32 = _f32(1.0 / math.log(2.0))
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


# ---- float32 scalar helpers (branch-free, float32 throughout) -------------------------------
@njit(cache=True, error_model="numpy")
def _erf32(x):
    p0, p1, p2, p3, p4, p5, p6 = _ERF_P
    q0, q1, q2, q3, q4, q5 = _ERF_Q
    four = _f32(4.0)
    xc = min(max(x, -four), four)
    s = xc * xc
    P = (((((p6 * s + p5) * s + p4) * s + p3) * s + p2) * s + p1) * s + p0
    Q = ((((q5 * s + q4) * s + q3) * s + q2) * s + q1) * s + q0
    one = _f32(1.0)
    return min(max(xc * P / Q, -one), one)


@njit(cache=True, error_model="numpy")
def _exp32(t):
    # e^t for t <= 88; 0 below e^-86 (2^-125)
    c0, c1, c2, c3, c4, c5, c6 = _EXP2_P
    lo = _f32(-125.0)
    u = t * _LOG2E32
    uu = max(u, lo)
    n = np.int32(uu - _f32(0.5)) if uu < _f32(0.0) else np.int32(uu + _f32(0.5))  # round
    f = uu - _f32(n)
    p = (((((c6 * f + c5) * f + c4) * f + c3) * f + c2) * f + c1) * f + c0
    e = _bits_float(np.int32(_float_bits(p) + (n << 23)))  # times 2^n: add n to the exponent
    return e if u >= lo else _f32(0.0)


@njit(cache=True, error_model="numpy")
def _tanh32(u):
    one = _f32(1.0)
    e = _exp32(_f32(-2.0) * abs(u))
    t = (one - e) / (one + e)
    return t if u >= _f32(0.0) else -t


# ---- dtype-generic element functions --------------------------------------------------------
# Plain-Python versions (run under NUMBA_DISABLE_JIT=1) and their overloads for compiled code.
def _erf(x):
    return _erf32(x) if isinstance(x, np.float32) else math.erf(x)


def _exp(t):
    return _exp32(t) if isinstance(t, np.float32) else math.exp(t)


@overload(_erf)
def _erf_overload(x):
    if x == types.float32:
        return lambda x: _erf32(x)
    return lambda x: math.erf(x)


@overload(_exp)
def _exp_overload(t):
    if t == types.float32:
        return lambda t: _exp32(t)
    return lambda t: math.exp(t)


def _gelu(x, approx_tanh):
    if isinstance(x, np.float32):
        return _gelu32(x, approx_tanh)
    return _gelu64(x, approx_tanh)


def _gelu_grad(x, approx_tanh):
    if isinstance(x, np.float32):
        return _gelu_grad32(x, approx_tanh)
    return _gelu_grad64(x, approx_tanh)


@njit(cache=True, error_model="numpy")
def _gelu32(x, approx_tanh):
    half, one = _f32(0.5), _f32(1.0)
    if approx_tanh:
        u = _f32(_SQRT_2_OVER_PI) * (x + _f32(_GELU_C) * x * x * x)
        return half * x * (one + _tanh32(u))
    return half * x * (one + _erf32(x * _f32(_SQRT_HALF)))


@njit(cache=True, error_model="numpy")
def _gelu64(x, approx_tanh):
    if approx_tanh:
        u = _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)
        return 0.5 * x * (1.0 + math.tanh(u))
    return 0.5 * x * (1.0 + math.erf(x * _SQRT_HALF))


@njit(cache=True, error_model="numpy")
def _gelu_grad32(x, approx_tanh):
    half, one = _f32(0.5), _f32(1.0)
    if approx_tanh:
        x2 = x * x
        e = _exp32(_f32(-2.0 * _SQRT_2_OVER_PI) * abs(x + _f32(_GELU_C) * x2 * x))
        t = (one - e) / (one + e)
        t = t if x >= _f32(0.0) else -t  # tanh(u): u has the sign of x
        sech2 = _f32(4.0) * e / ((one + e) * (one + e))  # 1 - t^2 without its cancellation
        dt = _f32(_SQRT_2_OVER_PI) * (one + _f32(3.0 * _GELU_C) * x2)
        return half * (one + t) + half * x * sech2 * dt
    cdf = half * (one + _erf32(x * _f32(_SQRT_HALF)))
    pdf = _exp32(-half * x * x) * _f32(_INV_SQRT_2PI)
    return cdf + x * pdf


@njit(cache=True, error_model="numpy")
def _gelu_grad64(x, approx_tanh):
    if approx_tanh:
        x2 = x * x
        t = math.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x2 * x))
        dt = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x2)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dt
    cdf = 0.5 * (1.0 + math.erf(x * _SQRT_HALF))
    return cdf + x * math.exp(-0.5 * x * x) * _INV_SQRT_2PI


@overload(_gelu)
def _gelu_overload(x, approx_tanh):
    if x == types.float32:
        return lambda x, approx_tanh: _gelu32(x, approx_tanh)
    return lambda x, approx_tanh: _gelu64(x, approx_tanh)


@overload(_gelu_grad)
def _gelu_grad_overload(x, approx_tanh):
    if x == types.float32:
        return lambda x, approx_tanh: _gelu_grad32(x, approx_tanh)
    return lambda x, approx_tanh: _gelu_grad64(x, approx_tanh)


# ---- kernels -------------------------------------------------------------------------------
# Rows are taken as slices and indexed from 0, so Numba can prove the indices non-negative
# (no wraparound selects) and LLVM vectorises the element loops.
@njit(cache=True, error_model="numpy")
def _gelu_row(x, out, approx_tanh):
    for j in range(x.shape[0]):
        out[j] = _gelu(x[j], approx_tanh)


@njit(cache=True, error_model="numpy")
def _bias_gelu_row(a, b, out, approx_tanh):
    # out <- gelu(a + b) and a <- gelu'(a + b): what the backward needs, in a's memory
    for j in range(a.shape[0]):
        v = a[j] + b[j]
        out[j] = _gelu(v, approx_tanh)
        a[j] = _gelu_grad(v, approx_tanh)


@njit(cache=True, error_model="numpy")
def _gelu_grad_row(dout, a, dx, approx_tanh):
    for j in range(a.shape[0]):
        dx[j] = dout[j] * _gelu_grad(a[j], approx_tanh)


@njit(cache=True, error_model="numpy")
def _mul_row(d, g):
    # d is read and written at the same index only, so the loop vectorises (were ``d`` also
    # passed as a second, aliased output, LLVM's overlap check would fall back to scalar code)
    for j in range(g.shape[0]):
        d[j] *= g[j]


@njit(cache=True, error_model="numpy")
def _add_row(acc, g):
    for j in range(g.shape[0]):
        acc[j] += g[j]


@njit(cache=True, parallel=True, error_model="numpy")
def _gelu_forward_kernel(x, out, D, approx_tanh):
    """``out = gelu(x)`` on flat arrays of shape (n,), in rows (chunks) of ``D``."""
    n = x.shape[0]
    for r in prange((n + D - 1) // D):
        lo = r * D
        hi = min(lo + D, n)
        if approx_tanh:
            _gelu_row(x[lo:hi], out[lo:hi], True)
        else:
            _gelu_row(x[lo:hi], out[lo:hi], False)


@njit(cache=True, parallel=True, error_model="numpy")
def _bias_gelu_forward_kernel(a, b, out, approx_tanh):
    """``out = gelu(a + b)`` for ``a``, ``out`` (N, D) and ``b`` (D,); ``a`` is overwritten
    with ``gelu'(a + b)``, all the backward needs."""
    for i in prange(a.shape[0]):
        if approx_tanh:
            _bias_gelu_row(a[i], b, out[i], True)
        else:
            _bias_gelu_row(a[i], b, out[i], False)


@njit(cache=True, parallel=True, error_model="numpy")
def _gelu_backward_kernel(dout, a, dx, D, approx_tanh):
    """``dx = dout * gelu'(a)`` on flat arrays of shape (n,), rows of ``D``."""
    n = a.shape[0]
    for r in prange((n + D - 1) // D):
        lo = r * D
        hi = min(lo + D, n)
        if approx_tanh:
            _gelu_grad_row(dout[lo:hi], a[lo:hi], dx[lo:hi], True)
        else:
            _gelu_grad_row(dout[lo:hi], a[lo:hi], dx[lo:hi], False)


@njit(cache=True, parallel=True, error_model="numpy")
def _bias_gelu_backward_kernel(d, g, db):
    """``d <- d * g`` in place on (N, D) arrays (``g = gelu'(a + b)`` saved by the forward);
    worker ``p`` of ``P`` sums the result over its block of rows into ``db[p]`` of ``db``
    (P, D), zero on entry (the caller adds the ``P`` rows)."""
    N = d.shape[0]
    P = db.shape[0]
    for p in prange(P):
        for i in range(p * N // P, (p + 1) * N // P):  # rows split in P blocks
            _mul_row(d[i], g[i])
            _add_row(db[p], d[i])


@njit(cache=True, parallel=True, error_model="numpy")
def _erf_exp_kernel(x, erf_out, exp_out):
    """``erf(x)`` and ``exp(x)`` element-wise with the helpers above (for their tests)."""
    for k in prange(x.shape[0]):
        erf_out[k] = _erf(x[k])
        exp_out[k] = _exp(x[k])
