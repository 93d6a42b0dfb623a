"""Transformer encoder and decoder layers, with hand-written backward passes.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762). A layer is a stack of
sublayers, each wrapped in a residual connection and a layer normalisation. Two orders
are in use:

.. math::

    \\text{post-LN (the original):}\\quad
        h = \\operatorname{LN}\\bigl(x + \\operatorname{Sublayer}(x)\\bigr),

    \\text{pre-LN (Xiong et al. 2020):}\\quad
        h = x + \\operatorname{Sublayer}\\bigl(\\operatorname{LN}(x)\\bigr).

Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"
(arXiv:2002.04745) show that pre-LN keeps the gradients at initialisation well scaled, so it
trains without a learning-rate warm-up; its residual stream is never normalised, so a stack
of pre-LN layers needs one final LayerNorm (added by the models, not here).

The **encoder layer** has two sublayers: multi-head self-attention (optionally causal, which
turns it into the block of a decoder-only language model) and the position-wise FFN,

.. math::

    h = x + \\operatorname{MHA}(\\operatorname{LN}_1(x)), \\qquad
    y = h + \\operatorname{FFN}(\\operatorname{LN}_2(h)) \\qquad \\text{(pre-LN)}.

The **decoder layer** adds cross-attention between them: its queries come from the decoder,
its keys and values from the encoder output ``memory``,

.. math::

    h_1 = x + \\operatorname{MHA}_{\\text{causal}}(\\operatorname{LN}_1(x)), \\quad
    h_2 = h_1 + \\operatorname{MHA}(\\operatorname{LN}_2(h_1), \\text{memory}), \\quad
    y = h_2 + \\operatorname{FFN}(\\operatorname{LN}_3(h_2)).

Dropout (when ``dropout > 0`` and in training mode) is applied to each sublayer's output
before it is added to the residual. The backward passes walk the forward steps in reverse;
at a residual ``h = x + f(x)`` the gradient of ``x`` is the sum of the skip path (``dh``)
and the path through ``f``. The constructor both layers share (and their input checks) is in
``_transformer_layer.py``.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_bool, trusted_inputs
from npml.nn._transformer_layer import _check_input, _TransformerLayer


class TransformerEncoderLayer(_TransformerLayer):
    """A Transformer block: self-attention and FFN, each with a residual connection and LayerNorm.

    Pre-LN (the default): ``h = x + Drop(MHA(LN_1(x)))``, ``y = h + Drop(FFN(LN_2(h)))``;
    post-LN: ``h = LN_1(x + Drop(MHA(x)))``, ``y = LN_2(h + Drop(FFN(h)))`` (the numbered steps
    are in :mod:`npml.nn.transformer`). ``forward(x, mask=None, causal=False, ...)`` maps
    ``(B, T, d_model)`` to the same shape; ``backward(dy)`` returns ``dx``. With
    ``causal=True`` it is the block of a decoder-only language model
    (:class:`npml.models.CausalLM`).

    Parameters
    ----------
    d_model : int
        Width of the residual stream.
    n_heads : int
        Attention heads; must divide ``d_model``.
    d_ff : int, optional
        Hidden width of the FFN; default ``4 * d_model``.
    dropout : float, default 0.0
        Dropout probability on each sublayer output (training mode only).
    norm_first : bool, default True
        Pre-LN (True, Xiong et al. 2020) or post-LN (False, Vaswani et al. 2017).
    rng : None, int or numpy.random.Generator
        Initialisation and dropout randomness.
    dtype : numpy float dtype, default float32
        Dtype of every sub-layer's parameters. ``forward`` casts its inputs to it (float64
        input to a float32 layer is computed in float32, and conversely), ``backward`` casts
        ``dy``.
    activation : {"relu", "gelu"}, default "relu"
        FFN nonlinearity.
    rope_base : float, optional
        If given, self-attention rotates queries and keys with RoPE of this base.
    attn_impl : {"auto", "naive", "fused"}, default "auto"
        Passed to :class:`~npml.nn.multihead.MultiHeadAttention`.

    Attributes
    ----------
    self_attn : MultiHeadAttention
    ffn : FeedForward
    norm1, norm2 : LayerNorm
    dropout1, dropout2 : Dropout

    Examples
    --------
    >>> layer = TransformerEncoderLayer(d_model=8, n_heads=2, rng=0)
    >>> x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    >>> y = layer(x, causal=True)
    >>> dx = layer.backward(np.ones_like(y))
    >>> y.shape, dx.shape, layer.n_params()
    ((2, 5, 8), (2, 5, 8), 840)
    """

    def forward(
        self,
        x: np.ndarray,
        mask: np.ndarray | None = None,
        causal: bool = False,
        positions: np.ndarray | None = None,
        kv_cache: object | None = None,
    ) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(B, T, d_model)``.

        ``mask`` (boolean, True = may attend, broadcastable to ``(B, H, T, T)``), ``causal``,
        ``positions`` (RoPE) and ``kv_cache`` (incremental decoding, inference only) are
        passed to the self-attention. Returns ``(B, T, d_model)``.

        ``x`` is cast to the layer's dtype and scanned for NaN here, once: the sub-layers run
        inside :func:`npml._checks.trusted_inputs` and do not scan their inputs again.
        """
        x = _check_input(x, "x", self.d_model, self.dtype)
        causal = check_bool(causal, "causal")
        attn_kw = dict(mask=mask, causal=causal, positions=positions, kv_cache=kv_cache)
        with trusted_inputs():
            y = self._forward(x, attn_kw)
        self._out_shape = y.shape
        return y

    def _forward(self, x: np.ndarray, attn_kw: dict) -> np.ndarray:
        """The forward steps (module docstring) on a validated ``x``."""
        if self.norm_first:
            a = self.norm1(x)  # 1. a = LN_1(x)
            s = self.self_attn(a, **attn_kw)  # 2. s = MHA(a)
            h = x + self.dropout1(s)  # 3. h = x + Drop(s)
            b = self.norm2(h)  # 4. b = LN_2(h)
            f = self.ffn(b)  # 5. f = FFN(b)
            return h + self.dropout2(f)  # 6. y = h + Drop(f)
        s = self.self_attn(x, **attn_kw)  # 1. s = MHA(x)
        h = self.norm1(x + self.dropout1(s))  # 2. h = LN_1(x + Drop(s))
        f = self.ffn(h)  # 3. f = FFN(h)
        return self.norm2(h + self.dropout2(f))  # 4. y = LN_2(h + Drop(f))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Accumulate all parameter gradients; return ``dx`` of shape ``(B, T, d_model)``."""
        dy = self._check_dy(dy)
        if self.norm_first:
            # 6. y = h + Drop(f): the skip path gives dh, the other path df
            dh = dy
            df = self.dropout2.backward(dy)
            db = self.ffn.backward(df)  # 5. f = FFN(b)
            dh = dh + self.norm2.backward(db)  # 4. b = LN_2(h): second path into h
            # 3. h = x + Drop(s)
            dx = dh
            ds = self.dropout1.backward(dh)
            da = self.self_attn.backward(ds)  # 2. s = MHA(a)
            return dx + self.norm1.backward(da)  # 1. a = LN_1(x)
        dz = self.norm2.backward(dy)  # 4. y = LN_2(z), z = h + Drop(f)
        dh = dz + self.ffn.backward(self.dropout2.backward(dz))  # 3. f = FFN(h), and the skip
        dz = self.norm1.backward(dh)  # 2. h = LN_1(z), z = x + Drop(s)
        return dz + self.self_attn.backward(self.dropout1.backward(dz))  # 1. s = MHA(x)


class TransformerDecoderLayer(_TransformerLayer):
    """A decoder block: masked self-attention, cross-attention to ``memory``, then an FFN.

    Each sub-layer has a residual connection and a LayerNorm, as in
    :class:`TransformerEncoderLayer` (steps in :mod:`npml.nn.transformer`).
    ``forward(x, memory, mask=None, memory_mask=None, causal=True, ...)`` maps ``x`` of shape
    ``(B, T, d_model)``, attending to the encoder output ``memory`` ``(B, S, d_model)``, to
    ``(B, T, d_model)``; ``backward(dy)`` returns ``(dx, dmemory)``.

    Parameters are those of :class:`TransformerEncoderLayer`; the cross-attention has its
    own :class:`~npml.nn.multihead.MultiHeadCrossAttention` (``cross_attn``, never rotated by
    RoPE: decoder and encoder positions are not on one axis) and LayerNorm (``norm2``; the
    FFN's is ``norm3``).

    Attributes
    ----------
    self_attn : MultiHeadAttention
    cross_attn : MultiHeadCrossAttention
    ffn : FeedForward
    norm1, norm2, norm3 : LayerNorm
    dropout1, dropout2, dropout3 : Dropout

    Examples
    --------
    >>> layer = TransformerDecoderLayer(d_model=8, n_heads=2, rng=0)
    >>> rng = np.random.default_rng(1)
    >>> x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    >>> memory = rng.standard_normal((2, 6, 8)).astype(np.float32)
    >>> y = layer(x, memory)
    >>> dx, dmemory = layer.backward(np.ones_like(y))
    >>> dx.shape, dmemory.shape
    ((2, 3, 8), (2, 6, 8))
    """

    cross = True

    def forward(
        self,
        x: np.ndarray,
        memory: np.ndarray,
        mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        causal: bool = True,
        positions: np.ndarray | None = None,
        kv_cache: object | None = None,
    ) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(B, T, d_model)`` attending to ``memory``.

        Parameters
        ----------
        x : ndarray, shape (B, T, d_model)
            Decoder stream.
        memory : ndarray, shape (B, S, d_model)
            Encoder output (keys and values of the cross-attention).
        mask : ndarray of bool, optional
            Self-attention mask, broadcastable to ``(B, H, T, T)`` (e.g. target padding).
        memory_mask : ndarray of bool, optional
            Cross-attention mask, broadcastable to ``(B, H, T, S)`` (e.g. source padding).
        causal : bool, default True
            Causal self-attention (the decoder never sees later target tokens).
        positions, kv_cache
            Passed to the self-attention (RoPE positions; incremental decoding).

        Returns
        -------
        ndarray, shape (B, T, d_model)

        Notes
        -----
        ``x`` and ``memory`` are cast to the layer's dtype and scanned for NaN here, once: the
        sub-layers run inside :func:`npml._checks.trusted_inputs` and do not scan again.
        """
        x = _check_input(x, "x", self.d_model, self.dtype)
        memory = _check_input(memory, "memory", self.d_model, self.dtype)
        if memory.shape[0] != x.shape[0]:
            raise ValueError(
                f"memory has batch size {memory.shape[0]} but x has {x.shape[0]}; expected equal"
            )
        causal = check_bool(causal, "causal")
        self_kw = dict(mask=mask, causal=causal, positions=positions, kv_cache=kv_cache)
        with trusted_inputs():
            y = self._forward(x, memory, memory_mask, self_kw)
        self._out_shape = y.shape
        return y

    def _forward(
        self, x: np.ndarray, memory: np.ndarray, memory_mask: np.ndarray | None, self_kw: dict
    ) -> np.ndarray:
        """The forward steps (module docstring) on validated ``x`` and ``memory``."""
        if self.norm_first:
            a = self.norm1(x)  # 1. a = LN_1(x)
            s = self.self_attn(a, **self_kw)  # 2. s = MHA_causal(a)
            h1 = x + self.dropout1(s)  # 3. h_1 = x + Drop(s)
            q = self.norm2(h1)  # 4. q = LN_2(h_1)
            c = self.cross_attn(q, memory, mask=memory_mask)  # 5. c = MHA(q, memory)
            h2 = h1 + self.dropout2(c)  # 6. h_2 = h_1 + Drop(c)
            b = self.norm3(h2)  # 7. b = LN_3(h_2)
            f = self.ffn(b)  # 8. f = FFN(b)
            return h2 + self.dropout3(f)  # 9. y = h_2 + Drop(f)
        s = self.self_attn(x, **self_kw)  # 1. s = MHA_causal(x)
        h1 = self.norm1(x + self.dropout1(s))  # 2. h_1 = LN_1(x + Drop(s))
        c = self.cross_attn(h1, memory, mask=memory_mask)  # 3. c = MHA(h_1, memory)
        h2 = self.norm2(h1 + self.dropout2(c))  # 4. h_2 = LN_2(h_1 + Drop(c))
        f = self.ffn(h2)  # 5. f = FFN(h_2)
        return self.norm3(h2 + self.dropout3(f))  # 6. y = LN_3(h_2 + Drop(f))

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accumulate all parameter gradients; return ``(dx, dmemory)``."""
        dy = self._check_dy(dy)
        if self.norm_first:
            # 9. y = h_2 + Drop(f)
            dh2 = dy
            db = self.ffn.backward(self.dropout3.backward(dy))  # 8. f = FFN(b)
            dh2 = dh2 + self.norm3.backward(db)  # 7. b = LN_3(h_2)
            # 6. h_2 = h_1 + Drop(c)
            dh1 = dh2
            dq, dmemory = self.cross_attn.backward(self.dropout2.backward(dh2))  # 5.
            dh1 = dh1 + self.norm2.backward(dq)  # 4. q = LN_2(h_1)
            # 3. h_1 = x + Drop(s)
            dx = dh1
            da = self.self_attn.backward(self.dropout1.backward(dh1))  # 2. s = MHA_causal(a)
            return dx + self.norm1.backward(da), dmemory  # 1. a = LN_1(x)
        dz = self.norm3.backward(dy)  # 6. y = LN_3(z), z = h_2 + Drop(f)
        dh2 = dz + self.ffn.backward(self.dropout3.backward(dz))  # 5. f = FFN(h_2), and skip
        dz = self.norm2.backward(dh2)  # 4. h_2 = LN_2(z), z = h_1 + Drop(c)
        dq, dmemory = self.cross_attn.backward(self.dropout2.backward(dz))  # 3. c = MHA(h_1, m)
        dh1 = dz + dq
        dz = self.norm1.backward(dh1)  # 2. h_1 = LN_1(z), z = x + Drop(s)
        dx = dz + self.self_attn.backward(self.dropout1.backward(dz))  # 1. s = MHA_causal(x)
        return dx, dmemory
