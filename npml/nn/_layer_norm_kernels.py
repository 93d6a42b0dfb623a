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
the element loops vectorise; the row sums are sequential (no ``fastmath``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, error_model="numpy")
def _row_sum(v, zero):
    s = zero
    for j in range(v.shape[0]):
        s += v[j]
    return s


@njit(cache=True, parallel=True, error_model="numpy")
def _layer_norm_forward_kernel(x, gamma, beta, eps, one, inv_D, y, x_hat, rstd):
    """``y``, ``x_hat`` (N, D) and ``rstd`` (N,) from ``x`` (N, D), ``gamma``, ``beta`` (D,)."""
    N, D = x.shape
    zero = one - one
    for i in prange(N):
        xi, hi, yi = x[i], x_hat[i], y[i]
        mu = _row_sum(xi, zero) * inv_D
        for j in range(D):
            hi[j] = xi[j] - mu  # centred row, then standardised below
        var = zero
        for j in range(D):
            var += hi[j] * hi[j]
        r = one / np.sqrt(var * inv_D + eps)
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
    for p in prange(P):
        dg, db = dgamma[p], dbeta[p]
        for i in range(p * N // P, (p + 1) * N // P):  # rows split in P blocks
            di, hi, dxi = dout[i], x_hat[i], dx[i]
            for j in range(D):
                dxi[j] = di[j] * gamma[j]  # g = dL/dx_hat
                dg[j] += di[j] * hi[j]
                db[j] += di[j]
            mg = _row_sum(dxi, zero) * inv_D  # mean of g
            mgh = zero  # mean of g * x_hat
            for j in range(D):
                mgh += dxi[j] * hi[j]
            mgh *= inv_D
            r = rstd[i]
            for j in range(D):
                dxi[j] = r * (dxi[j] - mg - hi[j] * mgh)
