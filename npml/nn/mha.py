"""Multi-head attention (self- and cross-attention): the functional forward/backward pair.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), Section 3.2.2:

.. math::

    \\operatorname{MHA}(X, C) = \\operatorname{concat}(O_1, \\ldots, O_H)\\, W_o, \\qquad
    O_h = \\operatorname{softmax}\\Bigl(\\frac{Q_h K_h^\\top}{\\sqrt{d_h}} + M\\Bigr) V_h,

    Q = X W_q, \\quad K = C W_k, \\quad V = C W_v, \\quad d_h = d_{\\text{model}} / H,

where head :math:`h` takes columns :math:`h d_h, \\ldots, (h+1) d_h - 1` of :math:`Q, K, V`,
and :math:`C = X` for self-attention. The four matrices are :math:`d_{\\text{model}} \\times
d_{\\text{model}}`, so the layer has exactly :math:`4 d_{\\text{model}}^2` parameters
(:math:`+ 4 d_{\\text{model}}` with biases), whatever :math:`H` is. With ``rope_base`` set,
:math:`Q_h` and :math:`K_h` are rotated by RoPE (``rope.py``) before the scores.

Backward reverses the steps: :math:`\\bar{W}_o = O^\\top \\bar{Y}`, split
:math:`\\bar{O} = \\bar{Y} W_o^\\top` into heads, attention backward (``attention.py``), undo
RoPE, merge heads, then :math:`\\bar{W}_q = X^\\top \\bar{Q}`,
:math:`\\bar{W}_k = C^\\top \\bar{K}`, :math:`\\bar{W}_v = C^\\top \\bar{V}`,
:math:`\\bar{X} = \\bar{Q} W_q^\\top` and
:math:`\\bar{C} = \\bar{K} W_k^\\top + \\bar{V} W_v^\\top`. For self-attention :math:`X`
feeds all three, so its gradient is the sum :math:`\\bar{X} + \\bar{C}`.

:func:`mha_forward` and :func:`mha_backward` are the pair; the modules of ``multihead.py``
(:class:`~npml.nn.multihead.MultiHeadAttention`,
:class:`~npml.nn.multihead.MultiHeadCrossAttention`) own the parameters and call it.

When decoding token by token, a :class:`~npml.nn.kv_cache.KVCache` keeps the (unchanging) past
keys and values, so each step projects only the new tokens; causal masks align bottom-right
for this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from npml._checks import (
    check_array,
    check_bool,
    check_choice,
    check_dout,
    check_last_dim,
    trusted_inputs,
)
from npml.nn._mha_checks import _as_arrays, _check_weights, _positions, check_heads
from npml.nn.attention import attention_backward, attention_core, check_mask
from npml.nn.kv_cache import KVCache
from npml.nn.rope import RoPECache, rope_backward, rope_forward

if TYPE_CHECKING:
    from npml.nn.attention import AttentionCache
    from npml.nn.flash_attention import FusedAttentionCache


ATTN_IMPLS = ("auto", "naive", "fused")


class MHACache(NamedTuple):
    """What :func:`mha_backward` needs from one :func:`mha_forward` call.

    Holds references to the inputs and weights (no copies). The fields, in order, are
    commented below with their shapes; ``B, T, S, H, D`` are batch, query length, key
    length, heads and ``d_model``.
    """

    x2: np.ndarray  # (B*T, D) queries' input
    context2: np.ndarray | None  # (B*S, D) keys'/values' input for cross-attention, else None
    W_q: np.ndarray  # (D, D)
    W_k: np.ndarray  # (D, D)
    W_v: np.ndarray  # (D, D)
    W_o: np.ndarray  # (D, D)
    has_bias: tuple[bool, bool, bool, bool]  # which of b_q, b_k, b_v, b_o were given
    attn: AttentionCache | FusedAttentionCache  # cache of the attention step, (B, H, ., hd)
    fused: bool  # attn is flash_attention.py's (else attention.py's): picks its backward
    rope_q: RoPECache | None  # (T, hd/2) or (B, 1, T, hd/2) cos/sin of the queries, or None
    rope_k: RoPECache | None  # the same for the keys (None without RoPE)
    o2: np.ndarray  # (B*T, D) merged heads before W_o
    shape: tuple[int, int, int, int]  # (B, T, S, H)


class MHAGrads(NamedTuple):
    """Gradients returned by :func:`mha_backward`, named after the arguments of
    :func:`mha_forward`: ``dx`` (and ``dcontext`` after cross-attention), then the weights'
    ``dW_*`` and the biases' ``db_*`` (None for a bias that was not given).
    """

    dx: np.ndarray  # (B, T, D); for self-attention, the sum of the query, key and value paths
    dcontext: np.ndarray | None  # (B, S, D) for cross-attention, else None
    dW_q: np.ndarray  # (D, D)
    dW_k: np.ndarray  # (D, D)
    dW_v: np.ndarray  # (D, D)
    dW_o: np.ndarray  # (D, D)
    db_q: np.ndarray | None  # (D,), or None when b_q was not given (likewise below)
    db_k: np.ndarray | None
    db_v: np.ndarray | None
    db_o: np.ndarray | None


def _attention_forward(
    attn_impl: str, T_q: int, T_k: int, hd: int, dtype: Any, n: int = 1
) -> tuple:
    """The attention forward chosen by ``attn_impl`` for these sizes, and whether it is fused."""
    if attn_impl != "naive":
        # Imported here: the fused module loads Numba's machinery on first use only.
        from npml.nn.flash_attention import fused_attention_forward, use_fused

        if attn_impl == "fused" or use_fused(T_q, T_k, hd, dtype, n=n):
            return fused_attention_forward, True
    return attention_core, False


def _project(x2: np.ndarray, W: np.ndarray, b: np.ndarray | None, B: int, H: int) -> np.ndarray:
    """``x2 @ W + b`` split into heads: ``(B*T, D) -> (B, H, T, D // H)`` (a view)."""
    y = x2 @ W  # (B*T, D)
    if b is not None:
        y += b
    return y.reshape(B, -1, H, W.shape[1] // H).transpose(0, 2, 1, 3)


def _project_qkv(
    x2: np.ndarray, Ws: tuple[np.ndarray, ...], bs: tuple[np.ndarray | None, ...], B: int, H: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Self-attention's three projections as one product ``x2 @ [W_q W_k W_v]``, split into
    heads: three ``(B, H, T, D // H)`` views of one ``(B*T, 3 D)`` array."""
    D = x2.shape[1]
    y = x2 @ np.concatenate(Ws, axis=1)  # (B*T, 3D)
    out = []
    for i, b in enumerate(bs):
        part = y[:, i * D : (i + 1) * D]  # (B*T, D), a view
        if b is not None:
            part += b
        out.append(part.reshape(B, -1, H, D // H).transpose(0, 2, 1, 3))
    return out[0], out[1], out[2]


def _merge(g: np.ndarray) -> np.ndarray:
    """Undo the head split: ``(B, H, T, hd) -> (B*T, H*hd)``."""
    B, H, T, hd = g.shape
    return g.transpose(0, 2, 1, 3).reshape(B * T, H * hd)


def mha_forward(
    x: np.ndarray,
    W_q: np.ndarray,
    W_k: np.ndarray,
    W_v: np.ndarray,
    W_o: np.ndarray,
    b_q: np.ndarray | None = None,
    b_k: np.ndarray | None = None,
    b_v: np.ndarray | None = None,
    b_o: np.ndarray | None = None,
    *,
    n_heads: int,
    context: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    causal: bool = False,
    rope_base: float | None = None,
    positions: np.ndarray | None = None,
    kv_cache: KVCache | None = None,
    attn_impl: str = "auto",
) -> tuple[np.ndarray, MHACache | None]:
    """Multi-head attention from ``x`` to itself, or to ``context``.

    Four steps (equations in :mod:`npml.nn.mha`): 1. project ``Q = x W_q + b_q``, ``K``, ``V``
    (from ``context`` for cross-attention) and split them into ``H`` heads; 2. rotate ``Q``
    and ``K`` by RoPE if asked; 3. attend per head, ``softmax(Q K^T / sqrt(head_dim)) V``;
    4. merge the heads and project, ``Y = O W_o + b_o``. :func:`mha_backward` walks them
    back.

    Parameters
    ----------
    x : ndarray, shape (B, T, d_model)
    W_q, W_k, W_v, W_o : ndarray, shape (d_model, d_model)
        Head ``h`` uses columns ``h * head_dim .. (h + 1) * head_dim - 1`` of ``W_q, W_k,
        W_v`` and the same rows of ``W_o``.
    b_q, b_k, b_v, b_o : ndarray, shape (d_model,), optional
        Each bias may be given or left out on its own.
    n_heads : int
        ``H``; must divide ``d_model`` (``head_dim = d_model // H``).
    context : ndarray, shape (B, S, d_model), optional
        Keys and values come from here (cross-attention); default ``x``.
    mask : ndarray of bool, optional
        True = may attend; broadcastable to ``(B, H, T, S)`` (``S`` counts cached keys).
    causal : bool, default False
        Bottom-right aligned causal mask (``attention.py``).
    rope_base : float, optional
        Rotate queries and keys by RoPE of this base (``rope.py``; self-attention only, and
        ``head_dim`` must be even).
    positions : array_like of int, shape (T,) or (B, T), optional
        RoPE positions of the queries/new keys; default ``0..T-1``, continuing after the
        cached length when ``kv_cache`` is given. Only with ``rope_base``.
    kv_cache : KVCache, optional
        Inference only: the new keys/values are appended to it (for cross-attention the
        projected context is stored on the first call and reused) and attention runs over
        all of them. The returned cache is then None: there is no backward.
    attn_impl : {"auto", "naive", "fused"}, default "auto"
        ``"naive"`` uses ``attention.py``, ``"fused"`` ``flash_attention.py``; ``"auto"`` the
        fused kernel when its ``use_fused`` rule says so.

    Returns
    -------
    y : ndarray, shape (B, T, d_model)
    cache : MHACache, or None after a forward with ``kv_cache``

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> B, T, D, H = 2, 5, 8, 2
    >>> x = rng.standard_normal((B, T, D))
    >>> W_q, W_k, W_v, W_o = rng.standard_normal((4, D, D)) / np.sqrt(D)
    >>> y, cache = mha_forward(x, W_q, W_k, W_v, W_o, n_heads=H, causal=True)
    >>> y.shape
    (2, 5, 8)
    >>> grads = mha_backward(np.ones_like(y), cache)
    >>> grads.dx.shape, grads.dW_q.shape, grads.db_q is None
    ((2, 5, 8), (8, 8), True)
    """
    W_q, W_k, W_v, W_o = _as_arrays(("W_q", "W_k", "W_v", "W_o"), (W_q, W_k, W_v, W_o))
    b_q, b_k, b_v, b_o = _as_arrays(("b_q", "b_k", "b_v", "b_o"), (b_q, b_k, b_v, b_o), True)
    D = _check_weights((W_q, W_k, W_v, W_o), (b_q, b_k, b_v, b_o))
    check_heads(D, n_heads, rope_base)
    check_choice(attn_impl, "attn_impl", ATTN_IMPLS)
    causal = check_bool(causal, "causal")
    H = n_heads
    x = check_array(x, "x", ndim=3)
    check_last_dim(x, "x", D)
    B, T, _ = x.shape
    if B == 0 or T == 0:
        raise ValueError(f"x has shape {x.shape}; expected B >= 1 sequences of T >= 1 tokens")
    cross = context is not None
    if cross:
        context = check_array(context, "context", ndim=3)
        check_last_dim(context, "context", D)
        if context.shape[0] != B:
            raise ValueError(f"context has shape {context.shape}; expected batch size {B}")
        if context.shape[1] == 0:
            raise ValueError(f"context has shape {context.shape}; expected S >= 1 positions")
        if rope_base is not None:
            raise ValueError("rope_base is set: RoPE is for self-attention, not context")
    # x and context are validated above: the steps below do not scan them for NaN again
    with trusted_inputs():
        x2 = x.reshape(B * T, D)
        # 1. Q = X W_q, K = C W_k, V = C W_v, split into heads: (B, H, T, hd)
        context2 = context.reshape(-1, D) if cross else None  # (B*S, D)
        if not cross:  # the three products as one, X [W_q W_k W_v] (fewer, larger BLAS calls)
            q, k, v = _project_qkv(x2, (W_q, W_k, W_v), (b_q, b_k, b_v), B, H)
        else:
            q = _project(x2, W_q, b_q, B, H)
            if kv_cache is not None and kv_cache.length > 0:
                k, v = kv_cache.k, kv_cache.v  # the context was projected on the first call
            else:
                k = _project(context2, W_k, b_k, B, H)  # (B, H, S, hd)
                v = _project(context2, W_v, b_v, B, H)
        # 2. rotate q and the new k by RoPE
        rope_q = rope_k = None
        if rope_base is not None:
            pos = _positions(positions, B, T, 0 if kv_cache is None else kv_cache.length)
            q, rope_q = rope_forward(q, pos, rope_base)
            k, rope_k = rope_forward(k, pos, rope_base)
        if kv_cache is not None and (not cross or kv_cache.length == 0):
            k, v = kv_cache.append(k, v)  # (B, H, T_past + T, hd)
        S = k.shape[2]
        if mask is not None:
            mask = check_mask(mask, (B, H, T, S))
        # 3. O_h = softmax(Q_h K_h^T / sqrt(hd) + M) V_h
        attn_forward, fused = _attention_forward(attn_impl, T, S, D // H, q.dtype, n=B * H)
        o, attn = attn_forward(q, k, v, mask, causal)  # (B, H, T, hd)
        # 4. concat heads and project: Y = O W_o + b_o
        o2 = _merge(o)  # (B*T, D)
        y = o2 @ W_o
        if b_o is not None:
            y += b_o
    if kv_cache is not None:
        return y.reshape(B, T, D), None
    has_bias = tuple(b is not None for b in (b_q, b_k, b_v, b_o))
    cache = MHACache(
        x2, context2, W_q, W_k, W_v, W_o, has_bias, attn, fused, rope_q, rope_k, o2, (B, T, S, H)
    )
    return y.reshape(B, T, D), cache


def mha_backward(dout: np.ndarray, cache: MHACache) -> MHAGrads:
    """Gradients of :func:`mha_forward`: its steps 4 to 1 walked in reverse.

    Parameters
    ----------
    dout : ndarray, shape (B, T, d_model)
        Gradient of the loss with respect to the output.
    cache : MHACache
        From :func:`mha_forward` (with ``kv_cache=None``: decoding has no backward pass).

    Returns
    -------
    MHAGrads
        ``dx`` (B, T, d_model); ``dcontext`` (B, S, d_model) after cross-attention, else
        None (``dx`` then includes the key and value paths); ``dW_q, dW_k, dW_v, dW_o``
        (d_model, d_model); ``db_q, db_k, db_v, db_o`` (d_model,), each None when that bias
        was not given.

    Examples
    --------
    See :func:`mha_forward`.
    """
    x2, context2, W_q, W_k, W_v, W_o, has_bias, attn, fused, rope_q, rope_k, o2, shape = cache
    B, T, S, H = shape
    D = W_q.shape[0]
    dout = check_dout(dout, (B, T, D))
    dy2 = dout.reshape(B * T, D)
    # 4. Y = O W_o + b_o
    dW_o = o2.T @ dy2
    db_o = dy2.sum(axis=0) if has_bias[3] else None
    do = (dy2 @ W_o.T).reshape(B, T, H, D // H).transpose(0, 2, 1, 3)  # (B, H, T, hd)
    # 3. attention
    if fused:
        from npml.nn.flash_attention import fused_attention_backward

        dq, dk, dv = fused_attention_backward(do, attn)
    else:
        dq, dk, dv = attention_backward(do, attn)
    # 2. RoPE: rotate the gradients back
    if rope_q is not None:
        dq, dk = rope_backward(dq, rope_q), rope_backward(dk, rope_k)
    # 1. projections: merge heads (B, H, T, hd) -> (B*T, D)
    if context2 is None:  # self-attention: the three products as one, as in the forward
        dqkv = np.empty((B * T, 3 * D), dtype=dq.dtype)  # [dQ dK dV]
        for i, g in enumerate((dq, dk, dv)):
            dqkv[:, i * D : (i + 1) * D].reshape(B, T, H, D // H)[...] = g.transpose(0, 2, 1, 3)
        dW = x2.T @ dqkv  # (D, 3D)
        dW_q, dW_k, dW_v = dW[:, :D], dW[:, D : 2 * D], dW[:, 2 * D :]
        db_q, db_k, db_v = (
            dqkv[:, i * D : (i + 1) * D].sum(axis=0) if has_bias[i] else None for i in range(3)
        )
        dx = dqkv @ np.concatenate((W_q, W_k, W_v), axis=1).T  # (B*T, D)
        return MHAGrads(dx.reshape(B, T, D), None, dW_q, dW_k, dW_v, dW_o, db_q, db_k, db_v, db_o)
    dq2, dk2, dv2 = _merge(dq), _merge(dk), _merge(dv)  # (B*T, D), (B*S, D), (B*S, D)
    src2 = context2
    dW_q, dW_k, dW_v = x2.T @ dq2, src2.T @ dk2, src2.T @ dv2
    db_q = dq2.sum(axis=0) if has_bias[0] else None
    db_k = dk2.sum(axis=0) if has_bias[1] else None
    db_v = dv2.sum(axis=0) if has_bias[2] else None
    dx = dq2 @ W_q.T  # (B*T, D)
    dsrc = dk2 @ W_k.T
    dsrc += dv2 @ W_v.T  # (B*S, D)
    dcontext = dsrc.reshape(B, S, D)
    return MHAGrads(dx.reshape(B, T, D), dcontext, dW_q, dW_k, dW_v, dW_o, db_q, db_k, db_v, db_o)
