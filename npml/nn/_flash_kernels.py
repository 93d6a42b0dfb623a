"""Numba kernels of the tiled (FlashAttention) attention; the algorithm is explained in
:mod:`npml.nn.flash_attention`, whose plain-NumPy twins ``_flash_forward_reference`` and
``_flash_backward_reference`` compute the same tiles and are tested against these kernels.

Layout shared by both kernels: ``q`` ``(N, T_q, D)``, ``k`` ``(N, T_k, D)``, ``v``
``(N, T_k, D_v)``, all C-contiguous, where ``N`` is the product of the batch/head axes.

Work is split into tasks: one head ``n`` times one block of query rows in the forward, of key
rows in the backward. The forward's ``prange`` runs over the tasks, handed out one at a time
(the caller sets ``numba.parallel_chunksize(1)``), so a busy or causal-light core just takes
the next one; each task finds its worker's row of ``scratch`` with ``numba.get_thread_id()``.
The backward runs one task per head when there are enough heads (the task owns that head's
``dq``); with few heads its tasks are (head, key block), split statically over the workers,
each adding to its own partial ``dq``, so ``dq`` stays reproducible. ``scratch`` is allocated
by the caller, so its memory is visible to ``tracemalloc``. The tile products go to BLAS
through ``np.dot(a, b, out)`` on contiguous blocks; the caller limits BLAS to one thread while
the kernel runs (two levels of threads oversubscribe the cores). Only the element-wise softmax
helpers use ``fastmath``; they never see an infinity: forbidden scores are set to the finite
``NEG`` sentinel instead of ``-inf``.

Exponentials are base 2 (:mod:`npml.nn._flash_exp2`, a polynomial that vectorises): the caller
passes ``scale2 = scale * log2(e)`` so that :math:`e^{\\alpha q \\cdot k} = 2^{\\text{scale2}\\,
q \\cdot k}`. Drivers that pack the inputs, pick tiles and threads, and call these kernels are
in :mod:`npml.nn._flash_driver`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from npml.nn._flash_exp2 import _exp2_row, _row_max

_LN2 = math.log(2.0)
NEG = np.float32(-1e30)  # score of a forbidden key: a finite 'minus infinity' (fastmath-safe)


# ---- element-wise helpers (fastmath: finite values only) -------------------------------------
@njit(cache=True, fastmath=True, error_model="numpy")
def _rescale_add(acc, tmp, corr):
    # acc[r] <- acc[r] * corr[r] + tmp[r]   (the online-softmax correction of the output)
    for r in range(acc.shape[0]):
        c = corr[r]
        for d in range(acc.shape[1]):
            acc[r, d] = acc[r, d] * c + tmp[r, d]


@njit(cache=True, fastmath=True, error_model="numpy")
def _add(acc, tmp):
    for r in range(acc.shape[0]):
        for d in range(acc.shape[1]):
            acc[r, d] += tmp[r, d]


@njit(cache=True, fastmath=True, error_model="numpy")
def _softmax_grad_row(p, dp, d_i):
    # dp <- p * (dp - d_i): dS from dP for one query row
    for j in range(p.shape[0]):
        dp[j] = p[j] * (dp[j] - d_i)


# ---- masking ---------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def _mask_tile(s, i0, j0, causal, offset, has_mask, mflat, mbase, msi, msj, neg):
    """Set forbidden scores of the tile ``s`` (rows i0.., keys j0..) to ``neg``."""
    mr, nk = s.shape
    for r in range(mr):
        if causal:
            first_bad = i0 + r + offset + 1 - j0  # key j is allowed iff j <= i + offset
            for c in range(max(first_bad, 0), nk):
                s[r, c] = neg
        if has_mask:
            row = mbase + (i0 + r) * msi + j0 * msj
            for c in range(nk):
                if not mflat[row + c * msj]:
                    s[r, c] = neg


# ---- forward -------------------------------------------------------------------------------
@njit(cache=True, parallel=True, error_model="numpy")
def _flash_forward_kernel(
    q, k, v, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk, out, lse, scratch
):
    """Tiled online-softmax forward; writes ``out`` (N, T_q, D_v) and ``lse`` (N, T_q).

    ``scale2`` = scale * log2(e); ``lse`` is the natural log-sum-exp of each row's scaled
    scores (``+inf`` for a row without any allowed key, whose output is 0).
    """
    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    offset = T_k - T_q
    neg = NEG
    n_qb = (T_q + bq - 1) // bq
    n_tasks = N * n_qb
    for task in prange(n_tasks):
        buf = scratch[numba.get_thread_id()]
        qs_buf = buf[: bq * D]
        s_buf = buf[bq * D : bq * D + bq * bk]
        t_buf = buf[bq * D + bq * bk : bq * D + bq * bk + bq * D_v]
        o = bq * D + bq * bk + bq * D_v
        m_row = buf[o : o + bq]  # running max of each row (base-2 units)
        l_row = buf[o + bq : o + 2 * bq]  # running sum of 2^(s - m)
        corr = buf[o + 2 * bq : o + 3 * bq]  # 2^(m_old - m_new)
        n = task // n_qb
        i0 = (task % n_qb) * bq
        i1 = min(i0 + bq, T_q)
        mr = i1 - i0
        j_end = min(T_k, i1 + offset) if causal else T_k  # keys after j_end are all masked
        qs = qs_buf[: mr * D].reshape(mr, D)
        for r in range(mr):
            for d in range(D):
                qs[r, d] = q[n, i0 + r, d] * scale2
        acc = out[n][i0:i1]  # (mr, D_v), normalised at the end
        acc[:, :] = 0
        m_row[:mr] = neg
        l_row[:mr] = 0
        for j0 in range(0, max(j_end, 0), bk):
            j1 = min(j0 + bk, j_end)
            nk = j1 - j0
            s = s_buf[: mr * nk].reshape(mr, nk)
            # 1. S = Q_i K_j^T * scale * log2(e)
            np.dot(qs, k[n][j0:j1].T, s)
            if has_mask or (causal and j1 - 1 > i0 + offset):
                _mask_tile(s, i0, j0, causal, offset, has_mask, mflat, moff[n], msi, msj, neg)
            # 2. online softmax: new running max, rescale factor, P = 2^(S - m)
            for r in range(mr):
                m_new = max(m_row[r], _row_max(s[r]))
                if m_new < neg * 0.5:  # no allowed key so far: P row = 0
                    s[r, :] = 0
                    corr[r] = 1
                    continue
                corr[r] = 2.0 ** (m_row[r] - m_new)
                l_row[r] = l_row[r] * corr[r] + _exp2_row(s[r], m_new)
                m_row[r] = m_new
            # 3. O <- O * corr + P V_j
            tmp = t_buf[: mr * D_v].reshape(mr, D_v)
            np.dot(s, v[n][j0:j1], tmp)
            _rescale_add(acc, tmp, corr[:mr])
        # 4. normalise and keep the log-sum-exp (natural log) for the backward pass
        for r in range(mr):
            if l_row[r] > 0:
                inv = 1.0 / l_row[r]
                for d in range(D_v):
                    acc[r, d] *= inv
                lse[n, i0 + r] = (m_row[r] + math.log2(l_row[r])) * _LN2
            else:
                lse[n, i0 + r] = np.inf


def forward_scratch_size(bq: int, bk: int, D: int, D_v: int) -> int:
    """Elements of one worker's row of ``scratch`` for :func:`_flash_forward_kernel`."""
    return bq * D + bq * bk + bq * D_v + 3 * bq


# ---- backward ------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def _backward_key_block(
    q, k, v, dout, lse2, d_row, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk,
    n, j0, dq_n, dk, dv, buf,
):  # fmt: skip
    """All query blocks against key block ``j0`` of head ``n``: adds to ``dk[n]``, ``dv[n]``
    (rows j0..) and ``dq_n`` (T_q, D); ``buf`` is one worker's scratch row."""
    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    offset = T_k - T_q
    a, b = 0, bq * D
    qs_buf = buf[a:b]
    a, b = b, b + bq * bk
    s_buf = buf[a:b]
    a, b = b, b + bq * bk
    dp_buf = buf[a:b]
    a, b = b, b + bk * max(D, D_v)
    kv_tmp = buf[a:b]
    q_tmp = buf[b : b + bq * D]
    j1 = min(j0 + bk, T_k)
    nk = j1 - j0
    kj, vj = k[n][j0:j1], v[n][j0:j1]
    dk_acc, dv_acc = dk[n][j0:j1], dv[n][j0:j1]
    i_start = max(j0 - offset, 0) if causal else 0  # earlier queries cannot see key j0
    for i0 in range((i_start // bq) * bq, T_q, bq):
        i1 = min(i0 + bq, T_q)
        mr = i1 - i0
        qi, doi = q[n][i0:i1], dout[n][i0:i1]
        qs = qs_buf[: mr * D].reshape(mr, D)
        for r in range(mr):
            for d in range(D):
                qs[r, d] = qi[r, d] * scale2
        # 1. recompute S and P = 2^(S - LSE) (no max or sum needed: LSE has both)
        s = s_buf[: mr * nk].reshape(mr, nk)
        np.dot(qs, kj.T, s)
        if has_mask or (causal and j1 - 1 > i0 + offset):
            _mask_tile(s, i0, j0, causal, offset, has_mask, mflat, moff[n], msi, msj, NEG)
        for r in range(mr):
            _exp2_row(s[r], lse2[n, i0 + r])
        # 2. dV_j += P^T dO_i
        tv = kv_tmp[: nk * D_v].reshape(nk, D_v)
        np.dot(s.T, doi, tv)
        _add(dv_acc, tv)
        # 3. dP = dO_i V_j^T, dS = P * (dP - D_i)
        dp = dp_buf[: mr * nk].reshape(mr, nk)
        np.dot(doi, vj.T, dp)
        for r in range(mr):
            _softmax_grad_row(s[r], dp[r], d_row[n, i0 + r])
        # 4. dK_j += dS^T Q_i,  dQ_i += dS K_j  (the caller applies the factor scale)
        tk = kv_tmp[: nk * D].reshape(nk, D)
        np.dot(dp.T, qi, tk)
        _add(dk_acc, tk)
        tq = q_tmp[: mr * D].reshape(mr, D)
        np.dot(dp, kj, tq)
        _add(dq_n[i0:i1], tq)


@njit(cache=True, parallel=True, error_model="numpy")
def _flash_backward_kernel(
    q, k, v, dout, lse2, d_row, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk,
    dq_part, dk, dv, scratch,
):  # fmt: skip
    """Tiled backward: recompute P tile by tile from ``lse2`` (base-2 log-sum-exp, huge for
    empty rows), accumulate ``dk``/``dv`` per key block and ``dq`` in ``dq_part``.

    ``dq_part`` of shape (1, N, T_q, D): one task per head, which owns its ``dq`` (tasks
    handed out dynamically). Shape (W, N, T_q, D), W = workers: tasks are (head, key block),
    ``n`` varying fastest, dealt round-robin to the workers, each adding to its own ``dq``.
    ``dq`` and ``dk`` come out without the score scale of dS -> dQ, dK (they are ``dS K`` and
    ``dS^T Q``): the caller multiplies them by ``scale`` once. ``dv`` = ``P^T dO`` is complete.
    ``scale2`` = scale * log2(e) only recomputes S. ``d_row`` = rowsum(dO * O), shape (N, T_q).
    """
    N = q.shape[0]
    n_kb = (k.shape[1] + bk - 1) // bk
    W = dq_part.shape[0]
    args = (q, k, v, dout, lse2, d_row, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk)
    if W == 1:
        for n in prange(N):
            buf = scratch[numba.get_thread_id()]
            for kb in range(n_kb):
                _backward_key_block(*args, n, kb * bk, dq_part[0, n], dk, dv, buf)
    else:
        for w in prange(W):
            for task in range(w, N * n_kb, W):
                n, kb = task % N, task // N
                _backward_key_block(*args, n, kb * bk, dq_part[w, n], dk, dv, scratch[w])


def backward_scratch_size(bq: int, bk: int, D: int, D_v: int) -> int:
    """Elements of one worker's row of ``scratch`` for :func:`_flash_backward_kernel`."""
    return bq * D + 2 * bq * bk + bk * max(D, D_v) + bq * D
