"""Fused (FlashAttention) attention: tiles, online softmax, memory linear in T.

Dao, Fu, Ermon, Rudra and Re 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention
with IO-Awareness" (arXiv:2205.14135), with the loop order of FlashAttention-2 (Dao 2023,
arXiv:2307.08691). It computes exactly what :mod:`npml.nn.attention` computes,

.. math::

    S = \\frac{Q K^\\top}{\\sqrt{D}}, \\qquad P = \\operatorname{softmax}_{\\text{row}}(S + M),
    \\qquad O = P V,

same masks, same bottom-right causal alignment, zeros for rows that may attend no key, but
never stores the ``(T_q, T_k)`` matrices ``S`` and ``P``: extra memory is ``O(T D)`` per head
instead of ``O(T^2)``, and the tiles stay in the CPU caches.

**Forward, step by step.** Cut the queries into blocks :math:`Q_i` of ``bq`` rows and the
keys/values into blocks :math:`K_j, V_j` of ``bk`` rows. For one query block, keep per row a
running maximum :math:`m`, a running sum :math:`\\ell` and an unnormalised output
:math:`\\tilde O`, starting at :math:`m = -\\infty, \\ell = 0, \\tilde O = 0`. For each key
block :math:`j`:

1. scores of the tile: :math:`S_{ij} = Q_i K_j^\\top / \\sqrt{D}` (forbidden entries
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
\\bar S_{ij}^\\top Q_i / \\sqrt{D}`, :math:`\\bar Q_i \\mathrel{+}= \\bar S_{ij} K_j / \\sqrt{D}`.

Flops per head: forward :math:`4 T_q T_k D` (two tile products), backward :math:`10 T_q T_k D`
(five), 14 in all; the backward recomputes ``S`` (2 of its 10) to save the memory.

**Implementation.** ``_flash_forward_reference`` / ``_flash_backward_reference`` below are the
plain-NumPy twins, tile for tile; the Numba kernels in :mod:`npml.nn._flash_kernels` run the
same loops in parallel (``prange`` over heads x blocks) with the tile products in BLAS held at
one thread (through ``threadpoolctl`` when it is installed; without it the kernel runs on one
worker and lets BLAS use the threads). Problems under ``PARALLEL_WORK`` multiply-adds run on
the calling thread. Results do not depend on the number of threads, except ``dq`` when there
are fewer heads than needed to share them out: then per-worker partial sums are added.
:func:`use_fused` is the size rule that ``MultiHeadAttention(attn_impl="auto")`` follows.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, NamedTuple

import numpy as np

from npml._checks import check_array
from npml.nn.attention import _unbroadcast, check_attention_inputs

# Default tiles (queries x keys), measured on 2 cores with 512 KB L2 per core (benchmarks).
FORWARD_BLOCK = (256, 512)
BACKWARD_BLOCK = (256, 256)
_LOG2E = 1.0 / math.log(2.0)
FUSED_MIN_SCORES = 256 * 256  # use_fused's threshold on T_q * T_k
PARALLEL_WORK = 2**24  # multiply-adds below which the kernels run on one thread (about 0.5 ms)


class MaskLayout(NamedTuple):
    """A boolean mask, never broadcast in memory: entry ``(n, i, j)`` of the broadcast mask
    is ``flat[offsets[n] + i * si + j * sj]``."""

    flat: np.ndarray  # (mask.size,) bool, the user's (un-broadcast) mask
    offsets: np.ndarray  # (N,) int64, start of head n's (T_q, T_k) slice
    si: int  # step between query rows (0 when the mask has a single row)
    sj: int  # step between keys (0 when the mask has a single column)


class FusedAttentionCache(NamedTuple):
    q: np.ndarray  # (N, T_q, D) batch/head axes flattened to N
    k: np.ndarray  # (N, T_k, D)
    v: np.ndarray  # (N, T_k, D_v)
    out: np.ndarray  # (N, T_q, D_v)
    lse: np.ndarray  # (N, T_q) log-sum-exp of each row of S (+inf: no allowed key)
    mask: MaskLayout | None
    causal: bool
    block_size: Any  # the caller's block_size (None, int or (bq, bk))
    batch: tuple[int, ...]  # broadcast leading axes of q, k, v
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # shapes of q, k, v


# ---- input handling ------------------------------------------------------------------------
def _prepare(q, k, v, mask, causal):
    q, k, v, mask = check_attention_inputs(q, k, v, mask)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(
            f"q, k, v have dtypes {q.dtype}, {k.dtype}, {v.dtype}; expected one dtype "
            f"(float32 or float64) for all three"
        )
    if q.shape[-1] == 0:
        raise ValueError(f"q has shape {q.shape}; expected a head dimension D >= 1")
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    N = math.prod(batch)
    arrays = []
    for a in (q, k, v):
        if a.shape[:-2] != batch:
            a = np.broadcast_to(a, batch + a.shape[-2:])
        a = np.ascontiguousarray(a).reshape(N, *a.shape[-2:])
        arrays.append(a if a.flags.writeable else a.copy())  # one Numba type: writable, C
    layout = None if mask is None else _mask_layout(mask, batch)
    return (*arrays, layout, bool(causal), batch, (q.shape, k.shape, v.shape))


def _mask_layout(mask: np.ndarray, batch: tuple[int, ...]) -> MaskLayout:
    m = np.ascontiguousarray(mask.reshape((1,) * (len(batch) + 2 - mask.ndim) + mask.shape))
    T_qm, T_km = m.shape[-2:]
    heads = np.arange(math.prod(m.shape[:-2]), dtype=np.int64).reshape(m.shape[:-2])
    offsets = np.broadcast_to(heads * (T_qm * T_km), batch).ravel().copy()
    return MaskLayout(m.ravel(), offsets, T_km if T_qm > 1 else 0, 1 if T_km > 1 else 0)


def _blocks(block_size: Any, default: tuple[int, int], T_q: int, T_k: int) -> tuple[int, int]:
    if block_size is None:
        bq, bk = default
    else:
        pair = (block_size, block_size) if np.ndim(block_size) == 0 else tuple(block_size)
        ok = len(pair) == 2 and all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 1 for b in pair
        )
        if not ok:
            raise ValueError(
                f"block_size={block_size!r}; expected None, a positive int, or a pair "
                f"(query_block, key_block) of positive ints"
            )
        bq, bk = int(pair[0]), int(pair[1])
    return max(1, min(bq, T_q)), max(1, min(bk, T_k))


_BLAS_CONTROLLER: Any = None  # threadpoolctl.ThreadpoolController, False when not installed


def _workers(work: int) -> tuple[int, Any]:
    """Kernel workers for ``work`` multiply-adds, and a context holding BLAS at one thread.

    One worker without ``threadpoolctl`` (BLAS keeps its threads) or below ``PARALLEL_WORK``
    (waking threads costs more than it saves; milliseconds on a busy machine).
    """
    global _BLAS_CONTROLLER
    import numba

    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS_CONTROLLER = False
        else:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS np.dot calls inside Numba)

            _BLAS_CONTROLLER = ThreadpoolController()
    stack = contextlib.ExitStack()
    n = numba.get_num_threads()
    if _BLAS_CONTROLLER is False or work < PARALLEL_WORK:
        n = 1
    if _BLAS_CONTROLLER is not False:
        stack.enter_context(_BLAS_CONTROLLER.limit(limits=1, user_api="blas"))
    if n == 1 and numba.get_num_threads() > 1:
        stack.callback(numba.set_num_threads, numba.get_num_threads())
        numba.set_num_threads(1)  # per calling thread; restored on exit
    return n, stack


def _kernel_mask(mask: MaskLayout | None, N: int) -> tuple[Any, ...]:
    if mask is None:  # dummies of the same types, so masked and unmasked calls share a compile
        return False, np.ones(1, dtype=bool), np.zeros(N, dtype=np.int64), 0, 0
    return True, mask.flat, mask.offsets, mask.si, mask.sj


# ---- public API ----------------------------------------------------------------------------
def fused_attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    block_size: int | tuple[int, int] | None = None,
) -> tuple[np.ndarray, FusedAttentionCache]:
    """Tiled attention forward pass (module docstring, steps 1-4).

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
        Query ``i`` may only attend keys ``j <= i + T_k - T_q`` (bottom-right aligned).
    block_size : int or (int, int), optional
        Query and key tile sizes; default ``FORWARD_BLOCK`` (and ``BACKWARD_BLOCK`` for the
        backward pass). The result does not depend on it beyond rounding.

    Returns
    -------
    out : ndarray, shape (..., T_q, D_v)
        Zero rows for queries that may attend no key.
    cache : FusedAttentionCache
        Inputs, output and the per-row log-sum-exp: ``O(T D)`` memory, no ``T_q x T_k`` array.
    """
    import numba

    q3, k3, v3, layout, causal, batch, shapes = _prepare(q, k, v, mask, causal)
    N, T_q, D = q3.shape
    T_k, D_v = k3.shape[1], v3.shape[2]
    bq, bk = _blocks(block_size, FORWARD_BLOCK, T_q, T_k)
    from npml.nn import _flash_kernels as kern

    out = np.empty((N, T_q, D_v), dtype=q3.dtype)
    lse = np.empty((N, T_q), dtype=q3.dtype)
    n_workers, blas_limit = _workers(N * T_q * T_k * (D + D_v))
    scratch = np.empty((n_workers, kern.forward_scratch_size(bq, bk, D, D_v)), dtype=q3.dtype)
    scale2 = q3.dtype.type(_LOG2E / math.sqrt(D))
    has_mask, mflat, moff, msi, msj = _kernel_mask(layout, N)
    with blas_limit, numba.parallel_chunksize(1):  # hand out one task at a time
        kern._flash_forward_kernel(
            q3, k3, v3, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk, out, lse, scratch
        )
    cache = FusedAttentionCache(q3, k3, v3, out, lse, layout, causal, block_size, batch, shapes)
    return out.reshape(*batch, T_q, D_v), cache


def fused_attention_backward(
    dout: np.ndarray, cache: FusedAttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`fused_attention_forward`, recomputing P tile by tile.

    Parameters
    ----------
    dout : ndarray, shape (..., T_q, D_v)
    cache : FusedAttentionCache

    Returns
    -------
    dq, dk, dv : ndarray
        Shapes of the forward's ``q``, ``k``, ``v`` (summed over broadcast axes).
    """
    import numba

    q3, k3, v3, out3, lse, layout, causal, block_size, batch, shapes = cache
    N, T_q, D = q3.shape
    T_k, D_v = k3.shape[1], v3.shape[2]
    dout = check_array(dout, "dout")
    if dout.shape != (*batch, T_q, D_v):
        raise ValueError(
            f"dout has shape {dout.shape}; expected the output's shape {(*batch, T_q, D_v)}"
        )
    do3 = np.ascontiguousarray(dout, dtype=q3.dtype).reshape(N, T_q, D_v)
    if not do3.flags.writeable:
        do3 = do3.copy()
    bq, bk = _blocks(block_size, BACKWARD_BLOCK, T_q, T_k)
    from npml.nn import _flash_kernels as kern

    d_row = np.einsum("ntd,ntd->nt", do3, out3)  # (N, T_q) D_i = dO_i . O_i
    lse2 = np.where(np.isfinite(lse), lse * _LOG2E, 1e30).astype(q3.dtype)  # (N, T_q) base 2
    n_workers, blas_limit = _workers(N * T_q * T_k * (D + D_v))
    # enough heads to share out evenly: one task per head, else one dq per worker
    n_dq = 1 if (N % n_workers == 0 or N >= 4 * n_workers) else n_workers
    dq_part = np.zeros((n_dq, N, T_q, D), dtype=q3.dtype)
    dk = np.zeros((N, T_k, D), dtype=q3.dtype)
    dv = np.zeros((N, T_k, D_v), dtype=q3.dtype)
    scratch = np.empty((n_workers, kern.backward_scratch_size(bq, bk, D, D_v)), dtype=q3.dtype)
    scale2 = q3.dtype.type(_LOG2E / math.sqrt(D))
    has_mask, mflat, moff, msi, msj = _kernel_mask(layout, N)
    with blas_limit, numba.parallel_chunksize(1):
        kern._flash_backward_kernel(
            q3, k3, v3, do3, lse2, d_row, scale2, causal, has_mask, mflat, moff, msi, msj,
            bq, bk, dq_part, dk, dv, scratch,
        )  # fmt: skip
    scale = 1.0 / math.sqrt(D)
    dq = dq_part[0] if n_dq == 1 else dq_part.sum(axis=0)
    dq *= scale
    dk *= scale
    grads = zip((dq, dk, dv), shapes, strict=True)  # back to the inputs' (broadcast) shapes
    return tuple(_unbroadcast(g.reshape(*batch, *g.shape[1:]), shape) for g, shape in grads)


def fused_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    block_size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Attention output only; see :func:`fused_attention_forward` for the arguments."""
    return fused_attention_forward(q, k, v, mask, causal, block_size)[0]


def use_fused(T_q: int, T_k: int, D: int, dtype: Any = np.float64) -> bool:
    """The size rule behind ``attn_impl="auto"``: True when the fused kernel should be used.

    Rule: ``T_q * T_k >= FUSED_MIN_SCORES`` (= 256 x 256 scores per head), whatever ``D`` and
    ``dtype``. Measured on 2 busy cores (B=1, 8 heads, D=64, forward and forward + backward,
    float32 and float64; ``benchmarks/chapters/attention.py``): plain NumPy attention wins up
    to 64 x 64 (the fused call's fixed costs, about 0.3 ms, dominate), the fused kernel wins
    from 512 x 512 on (2-5x, and it needs O(T D) instead of O(T^2) memory); in between the
    winner changed from run to run with the machine's load. Decoding one query against a long
    cache (``T_q = 1``) stays on the plain path, which was as fast up to ``T_k = 4096``.
    """
    return int(T_q) * int(T_k) >= FUSED_MIN_SCORES


# ---- plain-NumPy twins of the kernels (same tiles, natural exponentials) --------------------
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


def _flash_forward_reference(q, k, v, layout, causal, bq, bk):
    """NumPy twin of ``_flash_forward_kernel``: ``(out, lse)`` from ``(N, T, D)`` arrays."""
    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    out = np.zeros((N, T_q, D_v), dtype=q.dtype)
    lse = np.full((N, T_q), np.inf, dtype=q.dtype)
    for n in range(N):
        for i0 in range(0, T_q, bq):
            i1 = min(i0 + bq, T_q)
            q_i = q[n, i0:i1] / math.sqrt(D)  # (bq, D)
            m = np.full(i1 - i0, -np.inf)  # running row max
            l = np.zeros(i1 - i0)  # running row sum
            acc = np.zeros((i1 - i0, D_v))  # unnormalised output
            j_end = min(T_k, i1 + T_k - T_q) if causal else T_k
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


def _flash_backward_reference(dout, q, k, v, out, lse, layout, causal, bq, bk):
    """NumPy twin of ``_flash_backward_kernel``: ``(dq, dk, dv)`` for ``(N, T, D)`` arrays."""
    N, T_q, D = q.shape
    T_k = k.shape[1]
    scale = 1.0 / math.sqrt(D)
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
                # 4. dK_j += dS^T Q_i / sqrt(D),  dQ_i += dS K_j / sqrt(D)
                dk[n, j0:j1] += ds.T @ q[n, i0:i1] * scale
                dq[n, i0:i1] += ds @ k[n, j0:j1] * scale
    return dq, dk, dv
