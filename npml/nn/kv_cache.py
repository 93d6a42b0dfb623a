"""The key/value cache of incremental decoding.

A causal decoder that emits one token at a time would recompute the keys and values of the
whole prefix at every step, although they never change: with causal attention, position
:math:`t`'s input :math:`x_t`, and so its key :math:`k_t = x_t W_k` and value
:math:`v_t = x_t W_v`, depend only on tokens :math:`\\le t`. The cache keeps them, shape
``(B, H, T_past, head_dim)``, so each step projects only the new tokens and attends over
``T_past + T_new`` keys (causal masks align bottom-right for this, ``attention.py``).
"""

from __future__ import annotations

import numpy as np


class KVCache:
    """Keys and values of past positions, shape ``(B, H, T_past, head_dim)``, for decoding.

    Starts empty; :func:`~npml.nn.multihead.mha_forward` (and so the attention modules)
    appends the new keys/values in place (storage grows by doubling, so a sequence of
    appends costs linear time). For cross-attention the first forward stores the projected
    context and later forwards reuse it. Use one cache per attention layer and sequence
    batch; call :meth:`reset` to reuse.
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
