"""Fused (FlashAttention) attention: tiles, online softmax, memory linear in T.

Dao, Fu, Ermon, Rudra and Re 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention
with IO-Awareness" (arXiv:2205.14135), with the loop order of FlashAttention-2 (Dao 2023,
arXiv:2307.08691). It computes exactly what :mod:`npml.nn.attention` computes,

.. math::

    S = \\alpha\\, Q K^\\top, \\qquad P = \\operatorname{softmax}_{\\text{row}}(S + M),
    \\qquad O = P V \\qquad (\\alpha = \\texttt{scale}, \\text{ default } 1/\\sqrt{D}),

same masks, same bottom-right causal alignment, zeros for rows that may attend no key, but
never stores the ``(T_q, T_k)`` matrices ``S`` and ``P``: extra memory is ``O(T D)`` per head
instead of ``O(T^2)``, and the tiles stay in the CPU caches.

**Forward, step by step.** Cut the queries into blocks :math:`Q_i` of ``bq`` rows and the
keys/values into blocks :math:`K_j, V_j` of ``bk`` rows. For one query block, keep per row a
running maximum :math:`m`, a running sum :math:`\\ell` and an unnormalised output
:math:`\\tilde O`, starting at :math:`m = -\\infty, \\ell = 0, \\tilde O = 0`. For each key
block :math:`j`:

1. scores of the tile: :math:`S_{ij} = \\alpha Q_i K_j^\\top` (forbidden entries
   :math:`-\\infty`);
2. online softmax: :math:`m' = \\max(m, \\operatorname{rowmax} S_{ij})`,
   :math:`\\tilde P_{ij} = e^{S_{ij} - m'}`, and the old sum and output, which were computed
   relative to :math:`m`, are *rescaled* by :math:`c = e^{m - m'}`:
   :math:`\\ell \\leftarrow c\\,\\ell + \\operatorname{rowsum}\\tilde P_{ij}`;
3. :math:`\\tilde O \\leftarrow c\\,\\tilde O + \\tilde P_{ij} V_j`, then :math:`m \\leftarrow m'`.

After the last block every term carries the same factor :math:`e^{-m}`, so
:math:`O_i = \\tilde O / \\ell` is the exact softmax-weighted sum (the rescaling makes the
result independent of the order and size of the blocks, up to rounding). Step 4 keeps one
number per row, the log-sum-exp :math:`L = m + \\log \\ell`.

**Backward, step by step.** With :math:`L` saved, any tile of probabilities is recomputed
exactly in one pass, :math:`P_{ij} = e^{S_{ij} - L_i}`, with no maximum or sum to redo: the
``T_q`` numbers :math:`L` replace the ``T_q T_k`` matrix ``P``. The gradient of the softmax
needs the row sums :math:`\\sum_l P_{il} \\bar P_{il}`, which look like a full row of ``P``;
but :math:`\\bar P = \\bar O V^\\top` gives
:math:`\\sum_l P_{il} (\\bar O_i \\cdot V_l) = \\bar O_i \\cdot O_i =: D_i`, a rowsum of
``dO * O`` computed once in ``O(T D)``. Then for each key block :math:`j` and query block
:math:`i`: (1) recompute :math:`S_{ij}, P_{ij}`; (2) :math:`\\bar V_j \\mathrel{+}=
P_{ij}^\\top \\bar O_i`; (3) :math:`\\bar P_{ij} = \\bar O_i V_j^\\top`,
:math:`\\bar S_{ij} = P_{ij} \\odot (\\bar P_{ij} - D_i)`; (4) :math:`\\bar K_j \\mathrel{+}=
\\alpha \\bar S_{ij}^\\top Q_i`, :math:`\\bar Q_i \\mathrel{+}= \\alpha \\bar S_{ij} K_j`.

Flops per head: forward :math:`4 T_q T_k D` (two tile products), backward :math:`10 T_q T_k D`
(five), 14 in all; the backward recomputes ``S`` (2 of its 10) to save the memory.

**Implementation.** ``_flash_forward_reference`` / ``_flash_backward_reference`` below are
these loops in plain NumPy, on the batch/head axes flattened to one axis ``N``. The public
functions run the same tiles with Numba instead: :func:`npml.nn._flash_driver.flash_forward` /
``flash_backward`` take the same arguments as the twins and call the parallel kernels of
:mod:`npml.nn._flash_kernels` (base-2 polynomial exponentials from :mod:`npml.nn._flash_exp2`);
packing, default tiles and threads are described in ``_flash_driver``. A test checks that the
twins and the kernels agree. :func:`use_fused` is the size rule that
``MultiHeadAttention(attn_impl="auto")`` follows.

The tile loops, their plain-NumPy twins and the public pair are one idea, kept in one file
(the input checks are shared with ``attention.py`` through ``_attention_checks.py``; the
Numba plumbing already lives in the private siblings named above).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npml._checks import check_bool, check_dout, check_scalar
from npml.nn._flash_driver import (
    BACKWARD_BLOCK,
    FORWARD_BLOCK,
    MaskLayout,
    blocks,
    flash_backward,
    flash_forward,
    pack,
)
from npml.nn.attention import (
    _unbroadcast,
    causal_mask,
    check_attention_inputs,
    check_scale,
    check_scores,
)

FUSED_MIN_SCORES = 8 * 256 * 256  # use_fused's threshold on n * T_q * T_k (all heads)


class FusedAttentionCache(NamedTuple):
    q: np.ndarray  # (N, T_q, D) batch/head axes flattened to N
    k: np.ndarray  # (N, T_k, D)
    v: np.ndarray  # (N, T_k, D_v)
    out: np.ndarray  # (N, T_q, D_v)
    lse: np.ndarray  # (N, T_q) log-sum-exp L of each row of S (+inf: no allowed key)
    mask: MaskLayout | None  # the mask, never broadcast in memory
    causal: bool
    scale: float  # alpha (default 1 / sqrt(D))
    block_size: Any  # the caller's block_size (None, int or (bq, bk))
    batch: tuple[int, ...]  # broadcast leading axes of q, k, v
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # shapes of q, k, v


# ---- the algorithm in plain NumPy: twins of the kernels (same tiles, natural exponentials) ----
def _tile_allowed(layout, causal, n, i0, i1, j0, j1, T_q, T_k):
    """Boolean (i1 - i0, j1 - j0) tile of the mask combined with the causal rule."""
    i = np.arange(i0, i1)[:, None]
    j = np.arange(j0, j1)[None, :]
    allowed = np.ones((i1 - i0, j1 - j0), dtype=bool)
    if causal:
        allowed &= j <= i + (T_k - T_q)
    if layout is not None:
        allowed &= layout.flat[layout.offsets[n] + i * layout.si + j * layout.sj]
    return allowed


def _flash_forward_reference(q, k, v, layout, causal, scale, bq, bk):
    """Forward steps 1-4 of the module docstring: ``(out, lse)`` from ``(N, T, D)`` arrays."""
    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    out = np.zeros((N, T_q, D_v), dtype=q.dtype)
    lse = np.full((N, T_q), np.inf, dtype=q.dtype)
    for n in range(N):
        for i0 in range(0, T_q, bq):
            i1 = min(i0 + bq, T_q)
            q_i = q[n, i0:i1] * scale  # (bq, D)
            m = np.full(i1 - i0, -np.inf)  # running row max
            l = np.zeros(i1 - i0)  # running row sum
            acc = np.zeros((i1 - i0, D_v))  # unnormalised output O~
            j_end = min(T_k, i1 + T_k - T_q) if causal else T_k  # later keys are all masked
            for j0 in range(0, max(j_end, 0), bk):
                j1 = min(j0 + bk, j_end)
                # 1. scores of the tile
                s = q_i @ k[n, j0:j1].T  # (bq, bk)
                s[~_tile_allowed(layout, causal, n, i0, i1, j0, j1, T_q, T_k)] = -np.inf
                # 2. online softmax: new max, rescale factor, unnormalised probabilities
                m_new = np.maximum(m, s.max(axis=1))
                shift = np.where(np.isneginf(m_new), 0.0, m_new)  # rows with nothing allowed yet
                corr = np.exp(m - shift)
                p = np.exp(s - shift[:, None])
                l = l * corr + p.sum(axis=1)
                # 3. rescale the old output and add this tile's
                acc = acc * corr[:, None] + p @ v[n, j0:j1]
                m = m_new
            # 4. normalise; keep the log-sum-exp
            ok = l > 0
            out[n, i0:i1][ok] = acc[ok] / l[ok, None]
            lse[n, i0:i1][ok] = m[ok] + np.log(l[ok])
    return out, lse


def _flash_backward_reference(dout, q, k, v, out, lse, layout, causal, scale, bq, bk):
    """Backward steps 1-4 of the module docstring: ``(dq, dk, dv)`` for ``(N, T, D)`` arrays."""
    N, T_q, D = q.shape
    T_k = k.shape[1]
    d_row = np.sum(dout * out, axis=-1)  # (N, T_q) D_i = dO_i . O_i
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for n in range(N):
        for j0 in range(0, T_k, bk):
            j1 = min(j0 + bk, T_k)
            for i0 in range(0, T_q, bq):
                i1 = min(i0 + bq, T_q)
                # 1. recompute S and P from the log-sum-exp
                s = (q[n, i0:i1] * scale) @ k[n, j0:j1].T
                s[~_tile_allowed(layout, causal, n, i0, i1, j0, j1, T_q, T_k)] = -np.inf
                p = np.exp(s - lse[n, i0:i1, None])  # (bq, bk); 0 where masked or row empty
                # 2. dV_j += P^T dO_i
                dv[n, j0:j1] += p.T @ dout[n, i0:i1]
                # 3. dS = P * (dO_i V_j^T - D_i)
                ds = p * (dout[n, i0:i1] @ v[n, j0:j1].T - d_row[n, i0:i1, None])
                # 4. dK_j += alpha dS^T Q_i,  dQ_i += alpha dS K_j
                dk[n, j0:j1] += ds.T @ q[n, i0:i1] * scale
                dq[n, i0:i1] += ds @ k[n, j0:j1] * scale
    return dq, dk, dv


# ---- public API: the same tiles, run by the Numba kernels -------------------------------------
def fused_attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    block_size: int | tuple[int, int] | None = None,
    *,
    scale: float | None = None,
) -> tuple[np.ndarray, FusedAttentionCache]:
    """Tiled (flash) attention forward pass: the output and the cache for its backward.

    The four steps of :mod:`npml.nn.flash_attention`: per block of queries, stream over
    blocks of keys with an online softmax (running max and sum), never forming the
    ``(T_q, T_k)`` score matrix; :func:`fused_attention_backward` recomputes the blocks.

    Parameters
    ----------
    q : ndarray, shape (..., T_q, D)
    k : ndarray, shape (..., T_k, D)
    v : ndarray, shape (..., T_k, D_v)
        One dtype for all three (float32 or float64; integers become float64). Leading axes
        broadcast against each other.
    mask : ndarray of bool, optional
        True = may attend; broadcastable to ``(..., T_q, T_k)``; never broadcast in memory.
    causal : bool, default False
        Query ``i`` may only attend keys ``j <= i + T_k - T_q`` (bottom-right aligned, see
        :func:`npml.nn.attention.causal_mask`); torch's ``is_causal=True`` is top-left
        aligned, which is ``mask=np.tril(np.ones((T_q, T_k), dtype=bool))`` here.
    block_size : int or (int, int), optional
        Query and key tile sizes; default ``FORWARD_BLOCK`` (and ``BACKWARD_BLOCK`` for the
        backward pass) of ``_flash_driver``. The result does not depend on it beyond rounding.
    scale : float, optional
        Positive factor of the scores, ``S = scale * Q K^T``; default ``1 / sqrt(D)``.

    Returns
    -------
    out : ndarray, shape (..., T_q, D_v)
        Zero rows for queries that may attend no key.
    cache : FusedAttentionCache
        Holds references to ``q``, ``k``, ``v`` and the output (no copies, as torch's
        autograd keeps its saved tensors): overwriting them in place before the backward
        pass changes the gradients. torch detects that with version counters; npml
        documents it instead.
        Inputs, output and the per-row log-sum-exp: ``O(T D)`` memory, no ``T_q x T_k`` array.

    Raises
    ------
    ValueError
        Naming ``q`` and ``k`` when a row of scores overflows (or is NaN), found from the
        log-sum-exp ``L`` (one number per row); and for the input errors of
        :func:`~npml.nn.attention.check_attention_inputs`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.standard_normal((3, 2, 6, 4))    # (B=2, T=6, D=4) each
    >>> out, cache = fused_attention_forward(q, k, v, causal=True, block_size=4)
    >>> dq, dk, dv = fused_attention_backward(np.ones_like(out), cache)
    >>> out.shape, dq.shape
    ((2, 6, 4), (2, 6, 4))
    """
    causal = check_bool(causal, "causal")
    q, k, v, mask = check_attention_inputs(q, k, v, mask)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(
            f"q, k, v have dtypes {q.dtype}, {k.dtype}, {v.dtype}; expected one dtype "
            f"(float32 or float64) for all three"
        )
    scale = check_scale(scale, q.shape[-1])
    shapes = (q.shape, k.shape, v.shape)
    q3, k3, v3, layout, batch = pack(q, k, v, mask)  # (N, T, D) each
    T_q, T_k, D_v = q3.shape[1], k3.shape[1], v3.shape[2]
    bq, bk = blocks(block_size, FORWARD_BLOCK, T_q, T_k)
    out, lse = flash_forward(q3, k3, v3, layout, causal, scale, bq, bk)
    if not np.isfinite(lse).all():  # +inf marks a row with no allowed key; else an overflow
        allowed = causal_mask(T_q, T_k) if causal else None
        if mask is not None:
            allowed = mask if allowed is None else np.logical_and(mask, allowed)
        check_scores(lse.reshape(*batch, T_q), allowed, q, k)
    cache = FusedAttentionCache(
        q3, k3, v3, out, lse, layout, causal, scale, block_size, batch, shapes
    )
    return out.reshape(*batch, T_q, D_v), cache


def fused_attention_backward(
    dout: np.ndarray, cache: FusedAttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`fused_attention_forward`, recomputing P tile by tile.

    Parameters
    ----------
    dout : ndarray, shape (..., T_q, D_v)
    cache : FusedAttentionCache
        From :func:`fused_attention_forward`; it carries the forward's ``scale``.

    Returns
    -------
    dq, dk, dv : ndarray
        Shapes of the forward's ``q``, ``k``, ``v`` (summed over broadcast axes).
    """
    c = cache
    N, T_q, D = c.q.shape
    T_k, D_v = c.k.shape[1], c.v.shape[2]
    dout = check_dout(dout, (*c.batch, T_q, D_v))
    do3 = np.ascontiguousarray(dout, dtype=c.q.dtype).reshape(N, T_q, D_v)
    if not do3.flags.writeable:
        do3 = do3.copy()
    bq, bk = blocks(c.block_size, BACKWARD_BLOCK, T_q, T_k)
    grads = flash_backward(do3, c.q, c.k, c.v, c.out, c.lse, c.mask, c.causal, c.scale, bq, bk)
    # back to the inputs' (broadcast) shapes
    return tuple(
        _unbroadcast(g.reshape(*c.batch, *g.shape[1:]), shape)
        for g, shape in zip(grads, c.shapes, strict=True)
    )


def fused_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    block_size: int | tuple[int, int] | None = None,
    *,
    scale: float | None = None,
) -> np.ndarray:
    """Fused (tiled) attention, output only: ``fused_attention_forward(...)[0]``.

    The same result as :func:`~npml.nn.scaled_dot_product_attention` computed block by block
    with an online softmax, without the ``(T_q, T_k)`` score matrix (derivation in
    :mod:`npml.nn.flash_attention`). Use :func:`fused_attention_forward` when a backward pass
    follows.

    Parameters
    ----------
    q : ndarray, shape (..., T_q, D)
    k, v : ndarray, shape (..., T_k, D)
    mask : ndarray of bool, broadcastable to (..., T_q, T_k), optional
        True where a query may attend to a key.
    causal : bool, default False
        Query ``i`` attends to keys ``j <= i + T_k - T_q`` only (bottom-right aligned).
    block_size : int or (int, int), optional
        Query and key tile sizes (the result does not depend on them beyond rounding).
    scale : float, optional
        Score scale; default ``1 / sqrt(D)``.

    Returns
    -------
    ndarray, shape (..., T_q, D)

    Examples
    --------
    >>> from npml.nn import scaled_dot_product_attention
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.standard_normal((3, 2, 5, 4))   # each (B=2, T=5, D=4)
    >>> out = fused_attention(q, k, v, causal=True)
    >>> out.shape
    (2, 5, 4)
    >>> from npml.nn import causal_mask
    >>> bool(np.allclose(out, scaled_dot_product_attention(q, k, v, mask=causal_mask(5, 5))))
    True
    """
    return fused_attention_forward(q, k, v, mask, causal, block_size, scale=scale)[0]


def use_fused(T_q: int, T_k: int, D: int, dtype: Any = np.float64, n: int = 1) -> bool:
    """The size rule behind ``attn_impl="auto"``: True when the fused kernel should be used.

    Rule: ``n * T_q * T_k >= FUSED_MIN_SCORES`` (= 8 heads of 256 x 256 scores), where ``n``
    is the number of (batch, head) pairs of the call, whatever ``D`` and ``dtype``; and
    ``T_q > 1``. The work of all heads counts because both paths share it out: the fused
    kernel runs one task per (head, query block) on all cores, while plain NumPy makes one
    BLAS call per head and matrix, whose fixed cost grows with ``n``. Measured on 2 cores
    (causal, D=32, float32, forward + backward, medians of 9): fused/plain 1.44-1.57x at 32k-65k
    scores in all (n=64, T=32; n=128, T=16), 1.10-1.25x at 131k, 1.13x at 262k, 0.80x at 524k
    (n=8, T=256) and 0.52x at 1M (n=64, T=128, the train chapter's GPT, where the plain path
    issued 64 small products per matrix); the first measurements, with B=1, 8 heads and D=64
    (``npml/bench/chapters/attention.py``), put the crossover at the same total. Decoding one
    query against a long cache (``T_q = 1``) stays on the plain path, which was as fast up to
    ``T_k = 4096``.
    """
    check_scalar(T_q, "T_q", kind=int, low=0)
    check_scalar(T_k, "T_k", kind=int, low=0)
    check_scalar(D, "D", kind=int, low=1)
    check_scalar(n, "n", kind=int, low=1)
    return int(T_q) > 1 and int(n) * int(T_q) * int(T_k) >= FUSED_MIN_SCORES
