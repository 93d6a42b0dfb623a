"""Scaled dot-product attention, the plain (reference) implementation, with its backward pass.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), Eq. 1:

.. math::

    S = \\alpha\\, Q K^\\top, \\qquad
    P = \\operatorname{softmax}_{\\text{row}}(S + M), \\qquad
    O = P V,

with :math:`Q` of shape ``(..., T_q, D)``, :math:`K` ``(..., T_k, D)``, :math:`V`
``(..., T_k, D_v)``, the score scale :math:`\\alpha` = ``scale``, by default
:math:`1/\\sqrt{D}` (as ``torch.nn.functional.scaled_dot_product_attention``), and
:math:`M_{ij} = 0` where query :math:`i` may attend key :math:`j`, :math:`-\\infty` where it
may not. Walking the three steps back, with :math:`\\bar{O} = \\partial L / \\partial O`:

.. math::

    \\bar{V} = P^\\top \\bar{O}, \\quad
    \\bar{P} = \\bar{O} V^\\top, \\quad
    \\bar{S}_{ij} = P_{ij}\\bigl(\\bar{P}_{ij} - \\textstyle\\sum_l P_{il}\\bar{P}_{il}\\bigr)
    = P_{ij}\\bigl(\\bar{P}_{ij} - \\bar{O}_i \\cdot O_i\\bigr), \\quad
    \\bar{Q} = \\alpha\\, \\bar{S} K, \\quad
    \\bar{K} = \\alpha\\, \\bar{S}^\\top Q.

The row sum :math:`\\sum_l P_{il}\\bar{P}_{il}` equals :math:`\\bar{O}_i \\cdot O_i`, which
costs :math:`T_q D_v` instead of :math:`T_q T_k`.

Masks. ``mask`` is boolean, True = may attend, broadcastable to ``(..., T_q, T_k)``.
``causal=True`` aligns the *last* query with the *last* key (bottom-right), as incremental
decoding with a key/value cache needs: query :math:`i` may attend key :math:`j` iff
:math:`j \\le i + (T_k - T_q)`; for :math:`T_q = T_k` this is the usual lower triangle. A query
row with no allowed key outputs zeros and receives zero gradients (never NaN).

torch's ``is_causal=True`` aligns the *first* query with the *first* key instead (top-left,
:math:`j \\le i`); the two agree only when :math:`T_q = T_k`. To get torch's alignment, pass
``mask=np.tril(np.ones((T_q, T_k), dtype=bool))`` with ``causal=False``.

This file is the readable definition; ``flash_attention.py`` computes the same thing in
tiles without storing :math:`P`, and is tested against it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_bool, check_dout, check_scalar


class AttentionCache(NamedTuple):
    q_scaled: np.ndarray  # (..., T_q, D) q * scale
    k: np.ndarray  # (..., T_k, D)
    v: np.ndarray  # (..., T_k, D_v)
    p: np.ndarray  # (..., T_q, T_k) attention probabilities (0 where masked)
    out: np.ndarray  # (..., T_q, D_v)
    scale: float  # alpha of the module docstring (default 1 / sqrt(D))
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # input shapes of q, k, v


def causal_mask(T_q: int, T_k: int) -> np.ndarray:
    """Boolean ``(T_q, T_k)`` mask, True where query ``i`` may attend key ``j <= i + T_k - T_q``.

    Bottom-right aligned: the last query sees every key, so ``T_q`` new queries after
    ``T_k - T_q`` cached keys (decoding with a key/value cache) see the cache and their own past.
    For ``T_q > T_k`` the first ``T_q - T_k`` rows are all False. torch's ``is_causal=True`` is
    top-left aligned instead (``j <= i``, i.e. ``np.tril(np.ones((T_q, T_k), dtype=bool))``);
    both give the lower triangle when ``T_q == T_k``.
    """
    check_scalar(T_q, "T_q", kind=int, low=0)
    check_scalar(T_k, "T_k", kind=int, low=0)
    return np.tri(T_q, T_k, k=T_k - T_q, dtype=bool)


def check_scale(scale: float | None, D: int) -> float:
    """The score scale: ``1 / sqrt(D)`` for ``None``, else ``scale`` checked positive and finite."""
    if scale is None:
        return 1.0 / math.sqrt(D)
    check_scalar(scale, "scale", kind=float, low=0.0, low_inclusive=False)
    return float(scale)


def check_attention_inputs(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate ``q, k, v`` and ``mask`` (module docstring) and return them as arrays.

    Raises ``ValueError`` for non-finite values, mismatched sizes, no keys, leading axes that do not
    broadcast, or a mask that does not broadcast to the score shape ``(..., T_q, T_k)``;
    ``TypeError`` for a non-boolean mask.
    """
    q = check_array(q, "q")
    k = check_array(k, "k")
    v = check_array(v, "v")
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2:
            raise ValueError(f"{name} has shape {a.shape}; expected (..., T, D) with ndim >= 2")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"q has shape {q.shape} and k has shape {k.shape}; expected the same last dimension D"
        )
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"k has shape {k.shape} and v has shape {v.shape}; expected the same number of "
            f"keys T_k (axis -2)"
        )
    if q.shape[-1] == 0:  # the default scale 1 / sqrt(D) is undefined
        raise ValueError(f"q has shape {q.shape}; expected a head dimension D >= 1")
    if k.shape[-2] == 0:  # softmax over no scores is undefined (0 / 0)
        raise ValueError(
            f"k has shape {k.shape}: T_k = 0 keys; attention needs at least one key per query"
        )
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])  # batch axes of Q K^T
    except ValueError:
        raise ValueError(
            f"the leading axes of q {q.shape}, k {k.shape} and v {v.shape} do not broadcast"
        ) from None
    if mask is not None:
        mask = check_mask(mask, (*batch, q.shape[-2], k.shape[-2]))
    return q, k, v, mask


def check_mask(mask: np.ndarray, scores_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``mask`` as a bool array; ``ValueError`` unless it broadcasts to ``scores_shape``.

    The mask may have fewer axes or size-1 axes, but must not enlarge the scores' shape.
    """
    mask = check_array(mask, "mask", dtype="bool")
    try:
        ok = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask has shape {mask.shape}, which does not broadcast to the attention scores "
            f"of shape {scores_shape} (..., T_q, T_k)"
        )
    return mask


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def check_scores(
    row_stat: np.ndarray, allowed: np.ndarray | None, q: np.ndarray, k: np.ndarray
) -> None:
    """Raise ``ValueError`` naming ``q`` and ``k`` if a row of scores overflowed or is NaN.

    ``row_stat`` (..., T_q) is one number per query row: the row maximum of the scores (plain
    path) or their log-sum-exp (fused path); it is non-finite when a score is. Only rows that
    may attend some key count (``allowed``, True = may attend, broadcastable to the scores,
    causal rule included): a fully masked row has ``-inf`` (or ``+inf``) there by design. The
    check reads ``T_q`` numbers per head, and the mask only when a row is non-finite.
    """
    bad = ~np.isfinite(row_stat)
    if not bad.any():
        return
    if allowed is not None:
        has_key = np.broadcast_to(np.any(allowed, axis=-1), row_stat.shape)
        bad &= has_key | np.isnan(row_stat)
        if not bad.any():
            return
    remedy = "scale q or k down" + (", or compute in float64" if q.dtype != np.float64 else "")
    raise ValueError(
        f"the attention scores q k^T are not finite (overflow or NaN) in {int(bad.sum())} "
        f"query row(s): q and k reach {float(np.max(np.abs(q))):.3g} and "
        f"{float(np.max(np.abs(k))):.3g} in absolute value; expected scores within the "
        f"range of {q.dtype} ({remedy})"
    )


def attention_core(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    causal: bool,
    *,
    scale: float | None = None,
) -> tuple[np.ndarray, AttentionCache]:
    """:func:`attention_forward` without input checks (callers have validated)."""
    T_q, T_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    # 1. S = alpha Q K^T; scaling q costs T_q D instead of T_q T_k
    q_scaled = q * scale  # (..., T_q, D)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below, by name
        s = np.matmul(q_scaled, np.swapaxes(k, -1, -2))  # (..., T_q, T_k)
    if causal:
        allowed = causal_mask(T_q, T_k)
        mask = allowed if mask is None else np.logical_and(mask, allowed)
    # 2. P = softmax(S + M), in place on s
    if mask is not None:
        np.copyto(s, -np.inf, where=np.logical_not(mask))
    row_max = s.max(axis=-1, keepdims=True)  # (..., T_q, 1)
    check_scores(row_max[..., 0], mask, q, k)
    if mask is not None:
        row_max[np.isneginf(row_max)] = 0.0  # fully masked row: exp(-inf) = 0 below
    s -= row_max
    np.exp(s, out=s)
    row_sum = s.sum(axis=-1, keepdims=True)  # (..., T_q, 1)
    if mask is not None:
        row_sum[row_sum == 0] = 1.0  # fully masked row: P = 0, so O = 0
    s /= row_sum
    p = s
    # 3. O = P V
    out = np.matmul(p, v)  # (..., T_q, D_v)
    return out, AttentionCache(q_scaled, k, v, p, out, scale, (q.shape, k.shape, v.shape))


def attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    *,
    scale: float | None = None,
) -> tuple[np.ndarray, AttentionCache]:
    """Scaled dot-product attention ``softmax(scale * Q K^T) V`` (module docstring).

    Parameters
    ----------
    q : ndarray, shape (..., T_q, D)
    k : ndarray, shape (..., T_k, D)
    v : ndarray, shape (..., T_k, D_v)
        Leading axes broadcast against each other (e.g. keys shared by all heads).
    mask : ndarray of bool, optional
        True = may attend; broadcastable to ``(..., T_q, T_k)``.
    causal : bool, default False
        Query ``i`` may only attend keys ``j <= i + T_k - T_q`` (bottom-right aligned, see
        :func:`causal_mask`); torch's ``is_causal=True`` is top-left aligned, which is
        ``mask=np.tril(np.ones((T_q, T_k), dtype=bool))`` here. Same thing when ``T_q == T_k``.
    scale : float, optional
        Positive factor of the scores, ``S = scale * Q K^T``; default ``1 / sqrt(D)``.

    Returns
    -------
    out : ndarray, shape (..., T_q, D_v)
        Zero rows for queries that may attend no key.
    cache : AttentionCache

    Raises
    ------
    ValueError
        Naming ``q`` and ``k`` when a row of scores overflows (or is NaN), found from the row
        maxima without another pass over the scores; and for the input errors of
        :func:`check_attention_inputs`.
    TypeError
        When ``causal`` is not a bool, or ``mask`` is not boolean.
    """
    causal = check_bool(causal, "causal")
    q, k, v, mask = check_attention_inputs(q, k, v, mask)
    return attention_core(q, k, v, mask, causal, scale=check_scale(scale, q.shape[-1]))


def attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`attention_forward` (module docstring, steps 3 to 1 reversed).

    Parameters
    ----------
    dout : ndarray, shape (..., T_q, D_v)
    cache : AttentionCache
        From :func:`attention_forward`; it carries the forward's ``scale``.

    Returns
    -------
    dq : ndarray, shape of q
    dk : ndarray, shape of k
    dv : ndarray, shape of v
    """
    q_scaled, k, v, p, out, scale, (q_shape, k_shape, v_shape) = cache
    dout = check_dout(dout, out.shape)
    # 3. O = P V
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)  # (..., T_k, D_v)
    dp = np.matmul(dout, np.swapaxes(v, -1, -2))  # (..., T_q, T_k)
    # 2. P = softmax(S + M): dS = P * (dP - rowsum(P * dP)), rowsum = dO . O
    dp -= np.sum(dout * out, axis=-1, keepdims=True)
    dp *= p  # now dS; zero where masked because P is
    # 1. S = (alpha Q) K^T
    dq = np.matmul(dp, k)
    dq *= scale  # (..., T_q, D)
    dk = np.matmul(np.swapaxes(dp, -1, -2), q_scaled)  # (..., T_k, D)
    return _unbroadcast(dq, q_shape), _unbroadcast(dk, k_shape), _unbroadcast(dv, v_shape)


def scaled_dot_product_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    causal: bool = False,
    *,
    scale: float | None = None,
) -> np.ndarray:
    """Attention output only; see :func:`attention_forward` for the arguments.

    Raises
    ------
    ValueError
        Also when a row of scores ``scale * q k^T`` overflows (or is NaN), naming ``q`` and
        ``k``, as :func:`attention_forward` does.
    """
    return attention_forward(q, k, v, mask, causal, scale=scale)[0]
