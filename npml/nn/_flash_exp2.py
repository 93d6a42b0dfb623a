"""Vectorisable base-2 exponentials and row maxima for the FlashAttention kernels.

The kernels in :mod:`npml.nn._flash_kernels` exponentiate every score tile. Numba has no
vector math library here, so a ``math.exp`` call per element does not vectorise; this loop
does. The caller folds :math:`\\log_2 e` into the score scale, so that
:math:`e^{x} = 2^{x \\log_2 e}`, and

.. math::

    2^t = 2^n \\, 2^f, \\qquad n = \\lceil t - \\tfrac12 \\rceil \\in \\mathbb{Z}, \\quad
    f = t - n \\in [-\\tfrac12, \\tfrac12],

with :math:`2^f` from a polynomial (float32: the degree-6 Chebyshev interpolant on
:math:`[-\\frac12, \\frac12]`, interpolation error 3e-9; float64: the Taylor series of
:math:`e^{f \\ln 2}` to degree 13, remainder below 5e-18; both below rounding) and the factor
:math:`2^n` added to the float's exponent bits.

**Accuracy** (tested on dense grids in ``tests/nn/test_flash_attention.py``): for
:math:`t` in :math:`[t_{lo}, \\frac12]`, with :math:`t_{lo} = -125` in float32 and
:math:`-1021` in float64, the relative error of :math:`2^t` is below one machine epsilon
(:math:`2^{-23}` resp. :math:`2^{-52}`), and :math:`2^0 = 1` exactly. Below :math:`t_{lo}` the
result is exactly 0 (an absolute error under :math:`2^{-125}` resp. :math:`2^{-1021}`, far
below the row sums it is added to), so the masked scores, set to a large finite negative
sentinel, contribute nothing. The kernels only use :math:`t \\le 0` (a score minus its row
maximum or log-sum-exp), up to a rounding-sized excess in the backward pass.

The functions here use ``fastmath``: they must never see an infinity or a NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from npml.nn._intrinsics import _bits_float, _float_bits, _maxnum

_LN2 = math.log(2.0)
_LO32, _LO64 = -125.0, -1021.0  # t_lo: 2^t is a normal float down to here, 0 below
EXP2_LOW = {np.dtype(np.float32): _LO32, np.dtype(np.float64): _LO64}
# 2^f on |f| <= 1/2: float32, the degree-6 Chebyshev interpolant (error 3e-9, below rounding);
# float64, the Taylor series of exp(f ln 2) to degree 13 (remainder < 5e-18).
_CHEB6 = np.polynomial.Chebyshev.interpolate(lambda f: 2.0**f, 6, domain=[-0.5, 0.5])
_P32 = tuple(np.float32(c) for c in _CHEB6.convert(kind=np.polynomial.Polynomial).coef)
_P64 = tuple(float(_LN2**i / math.factorial(i)) for i in range(14))


# ---- rows --------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True, error_model="numpy")
def _row_max(s):
    m = s[0]
    for j in range(1, s.shape[0]):
        m = _maxnum(m, s[j])
    return m


@njit(cache=True, fastmath=True, error_model="numpy")
def _exp2_row32(s, m):
    # s[j] <- 2^(s[j] - m) for a float32 row, 0 below 2^-125; returns the row sum
    c0, c1, c2, c3, c4, c5, c6 = _P32  # locals, so the loop keeps them in registers
    lo = np.float32(_LO32)
    zero = np.float32(0.0)
    total = zero
    for j in range(s.shape[0]):
        t = s[j] - m
        tt = max(t, lo)
        n = np.int32(tt - np.float32(0.5))  # truncation = ceil here, so |tt - n| <= 1/2
        f = tt - np.float32(n)
        p = (((((c6 * f + c5) * f + c4) * f + c3) * f + c2) * f + c1) * f + c0
        e = _bits_float(np.int32(_float_bits(p) + (n << 23)))  # times 2^n: add n to the exponent
        e = e if t >= lo else zero
        s[j] = e
        total += e
    return total


@njit(cache=True, fastmath=True, error_model="numpy")
def _exp2_row64(s, m):
    # float64 version of _exp2_row32: 0 below 2^-1021
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13 = _P64
    total = 0.0
    for j in range(s.shape[0]):
        t = s[j] - m
        tt = max(t, _LO64)
        n = np.int64(tt - 0.5)
        f = tt - float(n)
        p = ((((((c13 * f + c12) * f + c11) * f + c10) * f + c9) * f + c8) * f + c7) * f + c6
        p = (((((p * f + c5) * f + c4) * f + c3) * f + c2) * f + c1) * f + c0
        e = _bits_float(np.int64(_float_bits(p) + (n << 52)))
        e = e if t >= _LO64 else 0.0
        s[j] = e
        total += e
    return total


@njit(cache=True, error_model="numpy")
def _exp2_row(s, m):
    """``s <- 2^(s - m)`` in place (exactly 0 far below, module docstring), return ``sum(s)``."""
    if s.itemsize == 4:
        return _exp2_row32(s, m)
    return _exp2_row64(s, m)
