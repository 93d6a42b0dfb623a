"""The fused Numba kernels behind Adam/AdamW's step, and the chunks that share out the work.

The update is defined in :mod:`npml.optim.adam` (the equation, and ``_adam_reference``,
a few NumPy lines applied one tensor at a time). ``_adam_kernel`` does the same arithmetic
in one pass over :math:`\\theta, g, m, v` (and AMSGrad's maximum) for many tensors at once:
the tensors are cut into chunks of at most ``CHUNK`` elements and the chunks are shared
among threads (``prange``), so 230 small and large tensors cost one parallel launch instead
of 230 Python calls. Every element is independent, so the result does not depend on the
number of threads. ``_nonfinite_chunks_kernel`` counts the gradients' NaN/inf entries the
same way, before any update (its twin is ``_nonfinite_chunks_reference``).

The kernel receives the step's scalars already converted to the arrays' dtype (see
:func:`adam_scalars`) and evaluates the reference's expressions in the same order, so for
float64 the two agree to the last bit, and for float32 (where each operation rounds to
float32 in both) to within an ulp (see the twin test for why any difference at all is
allowed). :mod:`npml.optim._adam_fused` builds the flat buffers and views the kernel reads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

CHUNK = 1 << 15  # elements per parallel work item (128 KiB of float32 per array)


class AdamScalars(NamedTuple):
    """The per-step scalars of the update, in the parameters' dtype."""

    decay: np.floating  # 1 - lr * weight_decay for AdamW, 1 for Adam
    l2: np.floating  # weight_decay for Adam (added to g), 0 for AdamW
    beta1: np.floating
    one_minus_beta1: np.floating
    beta2: np.floating
    one_minus_beta2: np.floating
    step_size: np.floating  # lr / (1 - beta1**t)
    bc2_sqrt: np.floating  # sqrt(1 - beta2**t)
    eps: np.floating


def adam_scalars(
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    step: int,
    dtype: np.dtype,
) -> AdamScalars:
    """Compute the step's scalars in float64 (as PyTorch does), then cast them to ``dtype``.

    ``step`` is the 1-based index :math:`t` of the step being taken.
    """
    bias_correction1 = 1.0 - beta1**step
    bias_correction2 = 1.0 - beta2**step
    cast = np.dtype(dtype).type
    return AdamScalars(
        decay=cast(1.0 - lr * weight_decay if decoupled else 1.0),
        l2=cast(0.0 if decoupled else weight_decay),
        beta1=cast(beta1),
        one_minus_beta1=cast(1.0 - beta1),
        beta2=cast(beta2),
        one_minus_beta2=cast(1.0 - beta2),
        step_size=cast(lr / bias_correction1),
        bc2_sqrt=cast(bias_correction2**0.5),
        eps=cast(eps),
    )


@njit(cache=True, parallel=True, error_model="numpy")
def _adam_kernel(
    ps,  # typed List of 1-D C-contiguous parameter arrays (updated)
    gs,  # typed List of 1-D gradient arrays, same lengths
    m,  # (N,) first moments of all tensors, tensor t at offsets[t]:offsets[t+1]
    v,  # (N,) second moments
    v_max,  # (N,) AMSGrad maxima, or (0,) when amsgrad is False
    chunk_tensor,  # (C,) tensor index of each chunk
    chunk_start,  # (C,) first element of the chunk within its tensor
    chunk_stop,  # (C,) one past its last element
    offsets,  # (n_tensors + 1,) start of each tensor in m, v, v_max
    decay,
    l2,
    beta1,
    one_minus_beta1,
    beta2,
    one_minus_beta2,
    step_size,
    bc2_sqrt,
    eps,
    amsgrad,
):
    """Fused Adam/AdamW step over all chunks, element by element as ``adam._adam_reference``.

    Each chunk is sliced out of its tensor and of the flat moments first, so the inner loop
    runs over plain 0-based arrays, which LLVM vectorises (the flag tests are hoisted out).
    """
    decoupled = decay != 1
    coupled = l2 != 0
    for c in prange(chunk_tensor.shape[0]):
        t = chunk_tensor[c]
        a, b = chunk_start[c], chunk_stop[c]
        lo, hi = offsets[t] + a, offsets[t] + b
        p, g = ps[t][a:b], gs[t][a:b]  # this chunk of the tensor
        m_c, v_c = m[lo:hi], v[lo:hi]  # and of its moments
        v_max_c = v_max[lo:hi] if amsgrad else v_max
        for j in range(b - a):
            pj = p[j]
            if decoupled:
                pj = pj * decay
            gj = g[j]
            if coupled:
                gj = gj + l2 * pj
            mj = beta1 * m_c[j] + one_minus_beta1 * gj
            vj = beta2 * v_c[j] + one_minus_beta2 * gj * gj
            m_c[j] = mj
            v_c[j] = vj
            if amsgrad:
                if v_max_c[j] > vj:
                    vj = v_max_c[j]
                v_max_c[j] = vj
            denom = np.sqrt(vj) / bc2_sqrt + eps
            p[j] = pj - step_size * (mj / denom)


@njit(cache=True, parallel=True)
def _nonfinite_chunks_kernel(gs, chunk_tensor, chunk_start, chunk_stop, big):
    """Number of NaN/inf entries in each chunk of the gradients (``big`` = dtype's max)."""
    out = np.zeros(chunk_tensor.shape[0], dtype=np.int64)
    for c in prange(chunk_tensor.shape[0]):
        g = gs[chunk_tensor[c]][chunk_start[c] : chunk_stop[c]]
        n_bad = 0
        for j in range(g.shape[0]):
            # NaN fails every comparison and |inf| > big, so both are counted.
            n_bad += 0 if np.abs(g[j]) <= big else 1
        out[c] = n_bad
    return out


def _nonfinite_chunks_reference(gs, chunk_tensor, chunk_start, chunk_stop, big):
    """NumPy twin of :func:`_nonfinite_chunks_kernel`."""
    return np.array(
        [
            np.count_nonzero(~np.isfinite(gs[t][a:b]))
            for t, a, b in zip(chunk_tensor, chunk_start, chunk_stop, strict=True)
        ],
        dtype=np.int64,
    )


def make_chunks(sizes: list[int], chunk: int = CHUNK) -> tuple[np.ndarray, ...]:
    """Cut tensors of ``sizes`` elements into chunks of at most ``chunk`` elements.

    Returns
    -------
    chunk_tensor, chunk_start, chunk_stop : ndarray of int64, shape (C,)
    offsets : ndarray of int64, shape (len(sizes) + 1,)
        ``offsets[t]`` is where tensor ``t`` starts in a flat buffer of all tensors.
    """
    tensor, start, stop = [], [], []
    for t, n in enumerate(sizes):
        for a in range(0, n, chunk):
            tensor.append(t)
            start.append(a)
            stop.append(min(n, a + chunk))
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)
    as_int = lambda x: np.asarray(x, dtype=np.int64)
    return as_int(tensor), as_int(start), as_int(stop), offsets
