"""Running the FlashAttention kernels: packing, tile sizes, threads.

:mod:`npml.nn.flash_attention` validates the user's arrays and calls :func:`pack`, then
:func:`flash_forward` / :func:`flash_backward`, which have the signatures of its plain-NumPy
twins ``_flash_forward_reference`` / ``_flash_backward_reference`` and run the Numba kernels
of :mod:`npml.nn._flash_kernels` instead.

* Packing: the batch/head axes are broadcast and flattened to one axis ``N``, each array made
  C-contiguous and writable (one Numba type for every call); a mask is never broadcast in
  memory, the kernels read it through a :class:`MaskLayout` of offsets and strides.
* Tiles: ``FORWARD_BLOCK`` and ``BACKWARD_BLOCK`` (queries x keys), clipped to the problem.
* Threads: the kernels run in parallel (``prange`` over heads x blocks) with the tile products
  in BLAS held at one thread through ``threadpoolctl`` (two levels of threads oversubscribe the
  cores); without ``threadpoolctl`` the kernel runs on one worker and BLAS keeps its threads.
  Problems under ``PARALLEL_WORK`` multiply-adds run on the calling thread. Results do not
  depend on the number of threads, except ``dq`` when there are fewer heads than needed to
  share them out: then per-worker partial sums are added.

Numba is imported on first use only, so that ``import npml.nn`` stays light.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, NamedTuple

import numpy as np

from npml._threading import parallel_region

# Default tiles (queries x keys), measured on 2 cores with 512 KB L2 per core (benchmarks).
FORWARD_BLOCK = (256, 512)
BACKWARD_BLOCK = (256, 256)
PARALLEL_WORK = 2**24  # multiply-adds below which the kernels run on one thread (about 0.5 ms)
_LOG2E = 1.0 / math.log(2.0)


class MaskLayout(NamedTuple):
    """A boolean mask, never broadcast in memory: entry ``(n, i, j)`` of the broadcast mask
    is ``flat[offsets[n] + i * si + j * sj]``."""

    flat: np.ndarray  # (mask.size,) bool, the user's (un-broadcast) mask
    offsets: np.ndarray  # (N,) int64, start of head n's (T_q, T_k) slice
    si: int  # step between query rows (0 when the mask has a single row)
    sj: int  # step between keys (0 when the mask has a single column)


# ---- packing -------------------------------------------------------------------------------
def pack(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, MaskLayout | None, tuple[int, ...]]:
    """Validated ``q, k, v, mask`` as ``(N, T, D)`` arrays, the mask's layout, and the batch."""
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    N = math.prod(batch)
    arrays = []
    for a in (q, k, v):
        if a.shape[:-2] != batch:
            a = np.broadcast_to(a, batch + a.shape[-2:])
        a = np.ascontiguousarray(a).reshape(N, *a.shape[-2:])  # (N, T, D)
        arrays.append(a if a.flags.writeable else a.copy())  # one Numba type: writable, C
    layout = None if mask is None else mask_layout(mask, batch)
    return (*arrays, layout, batch)


def mask_layout(mask: np.ndarray, batch: tuple[int, ...]) -> MaskLayout:
    """The :class:`MaskLayout` of a mask that broadcasts to ``(*batch, T_q, T_k)``."""
    m = np.ascontiguousarray(mask.reshape((1,) * (len(batch) + 2 - mask.ndim) + mask.shape))
    T_qm, T_km = m.shape[-2:]
    heads = np.arange(math.prod(m.shape[:-2]), dtype=np.int64).reshape(m.shape[:-2])
    offsets = np.broadcast_to(heads * (T_qm * T_km), batch).ravel().copy()
    return MaskLayout(m.ravel(), offsets, T_km if T_qm > 1 else 0, 1 if T_km > 1 else 0)


def blocks(block_size: Any, default: tuple[int, int], T_q: int, T_k: int) -> tuple[int, int]:
    """Tile sizes ``(bq, bk)`` from the user's ``block_size`` (None, int or pair), clipped."""
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


# ---- threads -------------------------------------------------------------------------------
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


# ---- the kernel calls ----------------------------------------------------------------------
def flash_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    layout: MaskLayout | None,
    causal: bool,
    scale: float,
    bq: int,
    bk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(out, lse)`` of packed ``(N, T, D)`` arrays, by ``_flash_forward_kernel``."""
    import numba

    from npml.nn import _flash_kernels as kern

    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    out = np.empty((N, T_q, D_v), dtype=q.dtype)
    lse = np.empty((N, T_q), dtype=q.dtype)
    n_workers, blas_limit = _workers(N * T_q * T_k * (D + D_v))
    scratch = np.empty((n_workers, kern.forward_scratch_size(bq, bk, D, D_v)), dtype=q.dtype)
    scale2 = q.dtype.type(scale * _LOG2E)  # e^x = 2^(x log2 e)
    has_mask, mflat, moff, msi, msj = _kernel_mask(layout, N)
    with blas_limit, numba.parallel_chunksize(1), parallel_region():  # hand out one task at a time
        kern._flash_forward_kernel(
            q, k, v, scale2, causal, has_mask, mflat, moff, msi, msj, bq, bk, out, lse, scratch
        )
    return out, lse


def flash_backward(
    dout: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    layout: MaskLayout | None,
    causal: bool,
    scale: float,
    bq: int,
    bk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dq, dk, dv)`` of packed ``(N, T, D)`` arrays, by ``_flash_backward_kernel``."""
    import numba

    from npml.nn import _flash_kernels as kern

    N, T_q, D = q.shape
    T_k, D_v = k.shape[1], v.shape[2]
    d_row = np.einsum("ntd,ntd->nt", dout, out)  # (N, T_q) D_i = dO_i . O_i
    lse2 = np.where(np.isfinite(lse), lse * _LOG2E, 1e30).astype(q.dtype)  # (N, T_q) base 2
    n_workers, blas_limit = _workers(N * T_q * T_k * (D + D_v))
    # enough heads to share out evenly: one task per head, else one dq per worker
    n_dq = 1 if (N % n_workers == 0 or N >= 4 * n_workers) else n_workers
    dq_part = np.zeros((n_dq, N, T_q, D), dtype=q.dtype)
    dk = np.zeros((N, T_k, D), dtype=q.dtype)
    dv = np.zeros((N, T_k, D_v), dtype=q.dtype)
    scratch = np.empty((n_workers, kern.backward_scratch_size(bq, bk, D, D_v)), dtype=q.dtype)
    scale2 = q.dtype.type(scale * _LOG2E)
    has_mask, mflat, moff, msi, msj = _kernel_mask(layout, N)
    with blas_limit, numba.parallel_chunksize(1), parallel_region():
        kern._flash_backward_kernel(
            q, k, v, dout, lse2, d_row, scale2, causal, has_mask, mflat, moff, msi, msj,
            bq, bk, dq_part, dk, dv, scratch,
        )  # fmt: skip
    dq = dq_part[0] if n_dq == 1 else dq_part.sum(axis=0)
    dq *= scale  # the kernel's dq and dk are dS K and dS^T Q
    dk *= scale
    return dq, dk, dv
