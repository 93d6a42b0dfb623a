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


@njit(cache=True, parallel=True, error_model="numpy")
def _cross_entropy_forward_kernel(z, t, probs, nll):
    """``probs`` (N, V) = softmax of the rows of ``z`` and ``nll`` (N,) = lse - z[n, t[n]].

    A row with a NaN or infinite logit gets a non-finite ``nll`` (the caller checks).
    """
    N, V = z.shape
    for i in prange(N):
        zi, pi = z[i], probs[i]
        m = zi[0]
        check = zi[0] - zi[0]  # 0, or NaN when some logit is not finite
        for j in range(1, V):
            m = max(m, zi[j])
        for j in range(V):
            check += zi[j] - zi[j]
        _exp_row(zi, m, pi)
        s = pi[0] - pi[0]
        for j in range(V):
            s += pi[j]
        for j in range(V):
            pi[j] /= s
        nll[i] = np.log(s) - (zi[t[i]] - m) + check


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
