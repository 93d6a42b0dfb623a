"""Numba kernels of layer normalisation: forward and backward, each one pass over the rows.

The equations are in :mod:`npml.nn.layer_norm`, whose plain-NumPy twins
``_layer_norm_forward_reference`` / ``_layer_norm_backward_reference`` are tested against these
kernels. Arrays are C-contiguous ``(N, D)``; ``prange`` runs over blocks of rows. The forward
keeps a row in cache while it takes its mean, its variance (two passes over the row, as the
twin, so no cancellation) and writes ``x_hat`` and ``y``. The backward takes the two row means
of the module docstring and writes ``dx`` in the same visit of the row; ``dgamma`` and
``dbeta`` are summed by worker ``p`` over its block of rows into row ``p`` of ``(P, D)``
partials that the caller adds, so there are no races and the result depends only on ``P``.

Scalars (``one``, ``1/D``, ``eps``) come in the input's dtype, so float32 stays float32 and
the element loops vectorise; the row sums use eight running sums in a fixed order (no
``fastmath``), so they are reproducible and still fill a vector register.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from npml.nn._activation_kernels import kernel_threads  # noqa: F401  (used by the caller)


@njit(cache=True, error_model="numpy")
def _row_dot(u, v, zero):
    # sum_j u[j] v[j] with 8 running sums (independent chains, which LLVM packs into one
    # vector register) added pairwise at the end, then the tail: a fixed order, no fastmath
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    n8 = u.shape[0] // 8 * 8
    for j in range(0, n8, 8):
        s0 += u[j] * v[j]
        s1 += u[j + 1] * v[j + 1]
        s2 += u[j + 2] * v[j + 2]
        s3 += u[j + 3] * v[j + 3]
        s4 += u[j + 4] * v[j + 4]
        s5 += u[j + 5] * v[j + 5]
        s6 += u[j + 6] * v[j + 6]
        s7 += u[j + 7] * v[j + 7]
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for j in range(n8, u.shape[0]):
        s += u[j] * v[j]
    return s


@njit(cache=True, parallel=True, error_model="numpy")
def _layer_norm_forward_kernel(x, gamma, beta, eps, one, inv_D, y, x_hat, rstd):
    """``y``, ``x_hat`` (N, D) and ``rstd`` (N,) from ``x`` (N, D), ``gamma``, ``beta`` (D,)."""
    N, D = x.shape
    zero = one - one
    ones = np.full(D, one)
    for i in prange(N):
        xi, hi, yi = x[i], x_hat[i], y[i]
        mu = _row_dot(xi, ones, zero) * inv_D
        for j in range(D):
            hi[j] = xi[j] - mu  # centred row, then standardised below
        var = _row_dot(hi, hi, zero) * inv_D
        r = one / np.sqrt(var + eps)
        rstd[i] = r
        for j in range(D):
            h = hi[j] * r
            hi[j] = h
            yi[j] = h * gamma[j] + beta[j]


@njit(cache=True, parallel=True, error_model="numpy")
def _layer_norm_backward_kernel(dout, x_hat, rstd, gamma, one, inv_D, dx, dgamma, dbeta):
    """``dx`` (N, D) and per-worker partial ``dgamma``, ``dbeta`` (P, D), zero on entry."""
    N, D = x_hat.shape
    P = dgamma.shape[0]
    zero = one - one
    ones = np.full(D, one)
    for p in prange(P):
        dg, db = dgamma[p], dbeta[p]
        for i in range(p * N // P, (p + 1) * N // P):  # rows split in P blocks
            di, hi, dxi = dout[i], x_hat[i], dx[i]
            for j in range(D):
                dxi[j] = di[j] * gamma[j]  # g = dL/dx_hat
                dg[j] += di[j] * hi[j]
                db[j] += di[j]
            mg = _row_dot(dxi, ones, zero) * inv_D  # mean of g
            mgh = _row_dot(dxi, hi, zero) * inv_D  # mean of g * x_hat
            r = rstd[i]
            for j in range(D):
                dxi[j] = r * (dxi[j] - mg - hi[j] * mgh)
