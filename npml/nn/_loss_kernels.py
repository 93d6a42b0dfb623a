"""Numba kernels of the softmax cross-entropy: forward and backward, each one pass over rows.

The equations are in :mod:`npml.nn.losses`, whose plain-NumPy twins
``_cross_entropy_forward_reference`` / ``_cross_entropy_backward_reference`` are tested against
these kernels. Arrays are C-contiguous: logits ``z`` ``(N, V)``, targets ``t`` ``(N,)`` (ignored
positions already replaced by 0), ``keep`` ``(N,)`` bool. ``prange`` runs over the rows, which
are independent; the loss itself (a sum over rows) is left to the caller, so it is the same
whatever the number of threads.

The exponentials are those of :mod:`npml.nn._activation_kernels` (own vectorisable float32
exp; ``math.exp`` in float64), reached through the dtype-generic ``_exp``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from npml.nn._activation_kernels import _exp, kernel_threads  # noqa: F401  (the caller's)


@njit(cache=True, error_model="numpy")
def _exp_row(zi, m, pi):
    # pi <- exp(zi - m), element-wise (vectorises); returns nothing, the sum is taken after
    for j in range(zi.shape[0]):
        pi[j] = _exp(zi[j] - m)


@njit(cache=True, error_model="numpy")
def _max_sum(v, zero):
    # (max, sum) of a row with 8 running maxima and sums: independent chains that LLVM packs
    # into vector registers (one running value would be a serial chain); fixed order
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = v[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    n8 = v.shape[0] // 8 * 8
    for j in range(0, n8, 8):
        m0, s0 = max(m0, v[j]), s0 + v[j]
        m1, s1 = max(m1, v[j + 1]), s1 + v[j + 1]
        m2, s2 = max(m2, v[j + 2]), s2 + v[j + 2]
        m3, s3 = max(m3, v[j + 3]), s3 + v[j + 3]
        m4, s4 = max(m4, v[j + 4]), s4 + v[j + 4]
        m5, s5 = max(m5, v[j + 5]), s5 + v[j + 5]
        m6, s6 = max(m6, v[j + 6]), s6 + v[j + 6]
        m7, s7 = max(m7, v[j + 7]), s7 + v[j + 7]
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for j in range(n8, v.shape[0]):
        m, s = max(m, v[j]), s + v[j]
    return m, s


@njit(cache=True, parallel=True, error_model="numpy")
def _cross_entropy_forward_kernel(z, t, zero, probs, nll):
    """``probs`` (N, V) = softmax of the rows of ``z`` and ``nll`` (N,) = lse - z[n, t[n]].

    ``zero`` is 0 in the logits' dtype. A row with a NaN or infinite logit gets a non-finite
    ``nll`` (through the row sum of the logits; the caller checks).
    """
    N, V = z.shape
    for i in prange(N):
        zi, pi = z[i], probs[i]
        m, zsum = _max_sum(zi, zero)
        _exp_row(zi, m, pi)
        s = _max_sum(pi, zero)[1]
        for j in range(V):
            pi[j] /= s
        nll[i] = np.log(s) - (zi[t[i]] - m) + (zsum - zsum)  # + NaN if a logit is not finite


@njit(cache=True, parallel=True, error_model="numpy")
def _cross_entropy_backward_kernel(probs, t, keep, scale, dz):
    """``dz[n] = scale * (probs[n] - onehot(t[n]))`` for kept rows, 0 for the others."""
    N, V = probs.shape
    zero = scale - scale
    for i in prange(N):
        pi, di = probs[i], dz[i]
        if keep[i]:
            for j in range(V):
                di[j] = scale * pi[j]
            di[t[i]] -= scale
        else:
            for j in range(V):
                di[j] = zero
