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

from npml._checks import check_bool, check_dout, check_scalar
from npml.nn._attention_checks import (  # check_mask is re-exported: mha.py imports it here
    check_attention_inputs,
    check_mask,  # noqa: F401
    check_scale,
    check_scores,
)


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


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


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
    """Scaled dot-product attention ``softmax(scale * Q K^T + M) V``, with its cache.

    ``M`` is 0 where ``mask`` allows a key and minus infinity elsewhere. The plain NumPy
    definition: it builds the ``(..., T_q, T_k)`` scores (derivation and the backward steps in
    :mod:`npml.nn.attention`; :func:`attention_backward` is the gradient).

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
        Holds references to ``q``, ``k``, ``v`` (no copies, as torch's autograd keeps its saved
        tensors): overwriting them in place before the backward pass changes the
        gradients. torch detects that with version counters; npml documents it instead.

    Raises
    ------
    ValueError
        Naming ``q`` and ``k`` when a row of scores overflows (or is NaN), found from the row
        maxima without another pass over the scores; and for the input errors of
        :func:`check_attention_inputs`.
    TypeError
        When ``causal`` is not a bool, or ``mask`` is not boolean.

    Examples
    --------
    >>> q = np.array([[1.0, 0.0]])                  # (T_q=1, D=2)
    >>> k = np.array([[1.0, 0.0], [0.0, 1.0]])      # (T_k=2, D=2)
    >>> v = np.array([[1.0], [3.0]])                # (T_k=2, D_v=1)
    >>> out, cache = attention_forward(q, k, v, scale=np.log(3.0))  # weights 3/4, 1/4
    >>> out.round(6)
    array([[1.5]])
    >>> dq, dk, dv = attention_backward(np.ones_like(out), cache)
    >>> dv.round(6)
    array([[0.75],
           [0.25]])
    """
    causal = check_bool(causal, "causal")
    q, k, v, mask = check_attention_inputs(q, k, v, mask)
    return attention_core(q, k, v, mask, causal, scale=check_scale(scale, q.shape[-1]))


def attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`attention_forward`: its steps 3 to 1 walked in reverse.

    Parameters
    ----------
    dout : ndarray, shape (..., T_q, D_v)
        Gradient of the loss with respect to the output (steps in :mod:`npml.nn.attention`).
    cache : AttentionCache
        From :func:`attention_forward`; it carries the forward's ``scale``.

    Returns
    -------
    dq : ndarray, shape of q
    dk : ndarray, shape of k
    dv : ndarray, shape of v

    Examples
    --------
    See :func:`attention_forward`.
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
