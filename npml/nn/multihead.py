"""Multi-head attention (self- and cross-attention) with a key/value cache for decoding.

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
RoPE, merge heads, then :math:`\\bar{W}_q = X^\\top \\bar{Q}` and
:math:`\\bar{X} = \\bar{Q} W_q^\\top (+ \\bar{K} W_k^\\top + \\bar{V} W_v^\\top` for
self-attention, where :math:`X` feeds all three).

When decoding token by token, a :class:`KVCache` keeps the (unchanging) past keys and values,
so each step projects only the new token; causal masks align bottom-right for this.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_choice, check_last_dim, check_scalar
from npml._module import Module, Parameter
from npml.nn.attention import attention_backward, attention_core, check_mask
from npml.nn.rope import RoPECache, rope_backward, rope_forward


class KVCache:
    """Keys and values of past positions, shape ``(B, H, T_past, head_dim)``, for decoding.

    Starts empty; :meth:`MultiHeadAttention.forward` appends the new keys/values in place
    (storage grows by doubling, so a sequence of appends costs linear time). For
    cross-attention the first forward stores the projected context and later forwards reuse
    it. Use one cache per attention layer and sequence batch; call :meth:`reset` to reuse.
    """

    def __init__(self) -> None:
        self._k: np.ndarray | None = None  # (B, H, capacity, head_dim)
        self._v: np.ndarray | None = None
        self.length = 0

    @property
    def k(self) -> np.ndarray | None:
        """Cached keys ``(B, H, length, head_dim)`` (a view), or None when empty."""
        return None if self._k is None else self._k[:, :, : self.length]

    @property
    def v(self) -> np.ndarray | None:
        """Cached values ``(B, H, length, head_dim)`` (a view), or None when empty."""
        return None if self._v is None else self._v[:, :, : self.length]

    def append(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append ``k, v`` of shape ``(B, H, T_new, head_dim)``; return all keys and values."""
        T_new = k.shape[2]
        if self._k is None:
            shape = (*k.shape[:2], max(2 * T_new, 16), k.shape[3])
            self._k, self._v = np.empty(shape, k.dtype), np.empty(shape, v.dtype)
        elif k.shape[:2] != self._k.shape[:2] or k.shape[3] != self._k.shape[3]:
            raise ValueError(f"new keys of shape {k.shape} do not match cached {self.k.shape}")
        if self.length + T_new > self._k.shape[2]:  # double the capacity (at least)
            pad = ((0, 0), (0, 0), (0, max(self._k.shape[2], T_new)), (0, 0))
            self._k, self._v = np.pad(self._k, pad), np.pad(self._v, pad)
        self._k[:, :, self.length : self.length + T_new] = k
        self._v[:, :, self.length : self.length + T_new] = v
        self.length += T_new
        return self.k, self.v

    def reset(self) -> None:
        """Forget all cached positions."""
        self._k = self._v = None
        self.length = 0


class MHACache(NamedTuple):
    x2: np.ndarray  # (B*T, D) queries' input
    src2: np.ndarray | None  # (B*S, D) keys'/values' input for cross-attention, else None
    attn: Any  # cache of the attention pair used (AttentionCache or the fused one)
    attn_backward: Any  # the matching backward function
    rope_q: RoPECache | None
    rope_k: RoPECache | None
    o2: np.ndarray  # (B*T, D) merged heads before W_o
    shape: tuple[int, int, int]  # (B, T, S)


class MultiHeadAttention(Module):
    """Multi-head self- or cross-attention (module docstring).

    Parameters
    ----------
    d_model : int
        Model width; must be divisible by ``n_heads``.
    n_heads : int
        Number of heads ``H``; each has ``head_dim = d_model // n_heads``.
    bias : bool, default False
        Add biases ``b_q, b_k, b_v, b_o``.
    rope_base : float, optional
        Rotate queries and keys with RoPE of this base (self-attention only).
    attn_impl : {"auto", "naive", "fused"}, default "auto"
        ``"naive"`` uses ``attention.py``, ``"fused"`` ``flash_attention.py``; ``"auto"`` uses
        the fused kernel when it is importable and its ``use_fused`` rule says so.
    rng : None, int or numpy.random.Generator
        Initialisation: every ``W ~ U(-sqrt(3/d_model), sqrt(3/d_model))`` (Glorot), biases 0.
    dtype : numpy float dtype, default float64

    Attributes
    ----------
    W_q, W_k, W_v, W_o : Parameter, shape (d_model, d_model)
    b_q, b_k, b_v, b_o : Parameter, shape (d_model,) (with ``bias=True``)
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool = False,
        rope_base: float | None = None,
        attn_impl: str = "auto",
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float64,
    ) -> None:
        check_scalar(d_model, "d_model", kind=int, low=1)
        check_scalar(n_heads, "n_heads", kind=int, low=1)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        if rope_base is not None:
            check_scalar(rope_base, "rope_base", low=1.0, low_inclusive=False)
            if self.head_dim % 2:
                raise ValueError(
                    f"head_dim={self.head_dim} (d_model={d_model} / n_heads={n_heads}) is odd; "
                    "RoPE rotates pairs of dimensions, so it needs an even head_dim"
                )
        self.rope_base = rope_base
        self.attn_impl = check_choice(attn_impl, "attn_impl", ("auto", "naive", "fused"))
        rng = as_rng(rng)
        bound = math.sqrt(3.0 / d_model)  # Glorot uniform: sqrt(6 / (fan_in + fan_out))
        for name in ("W_q", "W_k", "W_v", "W_o"):
            w = rng.uniform(-bound, bound, size=(d_model, d_model)).astype(dtype)
            setattr(self, name, Parameter(w, decay=True))
        for name in ("b_q", "b_k", "b_v", "b_o"):
            setattr(
                self, name, Parameter(np.zeros(d_model, dtype=dtype), decay=False) if bias else None
            )
        self._cache: MHACache | None = None

    def _attention(self, T_q: int, T_k: int, dtype: np.dtype) -> tuple[Any, Any]:
        """Pick the attention forward/backward pair for these sizes (``attn_impl``)."""
        if self.attn_impl != "naive":
            # Imported here: the fused module loads Numba's machinery on first use only.
            from npml.nn.flash_attention import (
                fused_attention_backward,
                fused_attention_forward,
                use_fused,
            )

            if self.attn_impl == "fused" or use_fused(T_q, T_k, self.head_dim, dtype):
                return fused_attention_forward, fused_attention_backward
        return attention_core, attention_backward

    def _project(self, x2: np.ndarray, W: Parameter, b: Parameter | None, B: int) -> np.ndarray:
        """``x2 @ W + b`` split into heads: ``(B*T, D) -> (B, H, T, head_dim)`` (a view)."""
        y = x2 @ W.data  # (B*T, D)
        if b is not None:
            y += b.data
        return y.reshape(B, -1, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

    def forward(
        self,
        x: np.ndarray,
        context: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        causal: bool = False,
        positions: np.ndarray | None = None,
        kv_cache: KVCache | None = None,
    ) -> np.ndarray:
        """Attend from ``x`` to itself (or to ``context``).

        Parameters
        ----------
        x : ndarray, shape (B, T, d_model)
        context : ndarray, shape (B, S, d_model), optional
            Keys and values come from here (cross-attention); default ``x``.
        mask : ndarray of bool, optional
            True = may attend; broadcastable to ``(B, H, T, S)`` (``S`` counts cached keys).
        causal : bool, default False
            Bottom-right aligned causal mask (``attention.py``).
        positions : array_like of int, shape (T,) or (B, T), optional
            RoPE positions of the queries/new keys; default ``0..T-1``, continuing after the
            cached length when ``kv_cache`` is given. Only with ``rope_base``.
        kv_cache : KVCache, optional
            Inference only: new keys/values are appended to it and attention runs over all of
            them; ``backward`` is then unavailable.

        Returns
        -------
        ndarray, shape (B, T, d_model)
        """
        D, H = self.d_model, self.n_heads
        x = check_array(x, "x", ndim=3)
        check_last_dim(x, "x", D)
        B, T, _ = x.shape
        cross = context is not None
        if cross:
            context = check_array(context, "context", ndim=3)
            check_last_dim(context, "context", D)
            if context.shape[0] != B:
                raise ValueError(f"context has shape {context.shape}; expected batch size {B}")
            if self.rope_base is not None:
                raise ValueError("rope_base is set: RoPE is for self-attention, not context")
        x2 = x.reshape(B * T, D)
        # 1. Q = X W_q, K = C W_k, V = C W_v, split into heads: (B, H, T, hd)
        q = self._project(x2, self.W_q, self.b_q, B)
        src2 = context.reshape(-1, D) if cross else None  # (B*S, D)
        if cross and kv_cache is not None and kv_cache.length > 0:
            k, v = kv_cache.k, kv_cache.v  # the context was projected on the first step
        else:
            k = self._project(x2 if src2 is None else src2, self.W_k, self.b_k, B)  # (B, H, S, hd)
            v = self._project(x2 if src2 is None else src2, self.W_v, self.b_v, B)
        # 2. rotate q and the new k by RoPE
        rope_q = rope_k = None
        if self.rope_base is not None:
            pos = self._positions(positions, B, T, 0 if kv_cache is None else kv_cache.length)
            q, rope_q = rope_forward(q, pos, self.rope_base)
            k, rope_k = rope_forward(k, pos, self.rope_base)
        if kv_cache is not None and (not cross or kv_cache.length == 0):
            k, v = kv_cache.append(k, v)  # (B, H, T_past + T, hd)
        S = k.shape[2]
        if mask is not None:
            mask = check_mask(mask, (B, H, T, S))
        # 3. O_h = softmax(Q_h K_h^T / sqrt(hd) + M) V_h
        attn_forward, attn_backward = self._attention(T, S, q.dtype)
        o, a_cache = attn_forward(q, k, v, mask, bool(causal))  # (B, H, T, hd)
        # 4. concat heads and project: Y = O W_o
        o2 = o.transpose(0, 2, 1, 3).reshape(B * T, D)  # (B*T, D)
        y = o2 @ self.W_o.data
        if self.b_o is not None:
            y += self.b_o.data
        self._cache = None  # backward is not supported after a kv_cache forward
        if kv_cache is None:
            self._cache = MHACache(x2, src2, a_cache, attn_backward, rope_q, rope_k, o2, (B, T, S))
        return y.reshape(B, T, D)

    def _positions(self, positions: Any, B: int, T: int, offset: int) -> np.ndarray:
        """RoPE positions broadcastable to ``(B, H, T)``."""
        if positions is None:
            return np.arange(offset, offset + T)
        positions = check_array(positions, "positions", dtype="int")
        if positions.shape not in ((T,), (B, T)):
            raise ValueError(f"positions has shape {positions.shape}; want ({T},) or ({B}, {T})")
        return positions if positions.ndim == 1 else positions[:, None, :]  # (B, 1, T)

    def backward(self, dout: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Accumulate the parameter gradients; return ``dx`` (or ``(dx, dcontext)``)."""
        if self._cache is None:
            raise RuntimeError("MultiHeadAttention.backward needs a forward without kv_cache")
        x2, src2, attn_cache, attn_backward, rope_q, rope_k, o2, (B, T, S) = self._cache
        D, H, hd = self.d_model, self.n_heads, self.head_dim
        dy2 = dout.reshape(B * T, D)
        # 4. Y = O W_o + b_o
        self.W_o.accumulate(o2.T @ dy2)
        if self.b_o is not None:
            self.b_o.accumulate(dy2.sum(axis=0))
        do = (dy2 @ self.W_o.data.T).reshape(B, T, H, hd).transpose(0, 2, 1, 3)  # (B, H, T, hd)
        # 3. attention
        dq, dk, dv = attn_backward(do, attn_cache)
        # 2. RoPE
        if rope_q is not None:
            dq, dk = rope_backward(dq, rope_q), rope_backward(dk, rope_k)
        # 1. projections: merge heads (B, H, T, hd) -> (B*T, D)
        dq2 = dq.transpose(0, 2, 1, 3).reshape(B * T, D)
        dk2 = dk.transpose(0, 2, 1, 3).reshape(B * S, D)
        dv2 = dv.transpose(0, 2, 1, 3).reshape(B * S, D)
        inp = x2 if src2 is None else src2
        self.W_q.accumulate(x2.T @ dq2)
        self.W_k.accumulate(inp.T @ dk2)
        self.W_v.accumulate(inp.T @ dv2)
        if self.b_q is not None:
            self.b_q.accumulate(dq2.sum(axis=0))
            self.b_k.accumulate(dk2.sum(axis=0))
            self.b_v.accumulate(dv2.sum(axis=0))
        dx = dq2 @ self.W_q.data.T
        dsrc = dk2 @ self.W_k.data.T
        dsrc += dv2 @ self.W_v.data.T
        if src2 is None:
            dx += dsrc
            return dx.reshape(B, T, D)
        return dx.reshape(B, T, D), dsrc.reshape(B, S, D)
