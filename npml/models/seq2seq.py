"""The encoder-decoder Transformer of Vaswani et al. 2017, with a hand-written backward pass.

"Attention Is All You Need" (arXiv:1706.03762). The encoder reads the source ids
:math:`s_1..s_S`, the decoder reads the target shifted right (:math:`\\text{BOS}, y_1, ..,
y_{T-1}`) and predicts :math:`y_1..y_T` (teacher forcing):

.. math::

    m = \\operatorname{LN}\\bigl(\\operatorname{Enc}_N \\circ \\cdots \\circ
        \\operatorname{Enc}_1(\\sqrt{D}\\, E^{\\text{src}}_{s} + \\operatorname{PE})\\bigr),

    z = \\operatorname{LN}\\bigl(\\operatorname{Dec}_N(\\cdots
        \\operatorname{Dec}_1(\\sqrt{D}\\, E^{\\text{tgt}}_{y_{\\text{in}}}
        + \\operatorname{PE}, m) \\cdots, m)\\bigr)\\, W_{\\text{out}} + b_{\\text{out}},

with sinusoidal positions :math:`\\operatorname{PE}_{t, 2i} = \\sin(t / 10000^{2i/D})`,
:math:`\\operatorname{PE}_{t, 2i+1} = \\cos(t / 10000^{2i/D})`, the embeddings scaled by
:math:`\\sqrt{D}` as in the paper, and pre-LN layers (Xiong et al. 2020) followed by a final
LayerNorm on each stack (with ``norm_first=False`` the layers are post-LN and the final norms
are left out, as in the original). Every decoder layer cross-attends to the same memory
:math:`m`, so the memory's gradient is the sum of the decoder layers' contributions.

Padding is described by key masks: ``src_key_mask`` (B, S) and ``tgt_key_mask`` (B, T),
True for real tokens; a padded position is never attended to.
"""

from __future__ import annotations

import math

import numpy as np

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_dout,
    check_scalar,
    trusted_inputs,
)
from npml._module import Module
from npml.nn._dtype import cast_input
from npml.nn.dropout import Dropout
from npml.nn.embedding import Embedding, check_ids
from npml.nn.layer_norm import LayerNorm
from npml.nn.linear import Linear
from npml.nn.positional import sinusoidal_positions
from npml.nn.transformer import TransformerDecoderLayer, TransformerEncoderLayer


def _key_mask(mask: np.ndarray | None, name: str, shape: tuple[int, int]) -> np.ndarray | None:
    """(B, L) key mask -> (B, 1, 1, L), broadcastable over heads and queries."""
    if mask is None:
        return None
    mask = check_array(mask, name, dtype="bool")
    if mask.shape != shape:
        raise ValueError(f"{name} has shape {mask.shape}; expected {shape}")
    return mask[:, None, None, :]


class Transformer(Module):
    """Encoder-decoder Transformer (Vaswani et al. 2017) for sequence-to-sequence tasks.

    Source and target embeddings plus sinusoidal positions, a stack of
    :class:`~npml.nn.TransformerEncoderLayer` over the source, a stack of
    :class:`~npml.nn.TransformerDecoderLayer` over the target attending to the encoder's
    output, and a linear output layer (the architecture is in :mod:`npml.models.seq2seq`).
    ``forward(src, tgt)`` gives teacher-forced logits ``(B, T, tgt_vocab_size)``;
    ``backward(dlogits)`` accumulates the gradients; ``encode``/``decode`` run the halves;
    ``generate(src, max_new_tokens, bos_id)`` decodes greedily.

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : int
    d_model, n_heads : int
    n_encoder_layers, n_decoder_layers : int
    max_len : int
        Longest source or target sequence.
    d_ff : int, optional
        FFN width; default ``4 * d_model``.
    dropout : float, default 0.0
    norm_first : bool, default True
        Pre-LN (True) or post-LN (False) layers.
    rng : None, int or Generator
    dtype : numpy float dtype, default float32
        Dtype of every parameter, activation and gradient; a ``memory`` given to
        :meth:`decode` and the ``dlogits`` given to :meth:`backward` are cast to it.
    activation : {"relu", "gelu"}, default "relu"

    Attributes
    ----------
    src_emb, tgt_emb : Embedding
    encoder, decoder : list of TransformerEncoderLayer / TransformerDecoderLayer
    enc_norm, dec_norm : LayerNorm or None
    out : Linear

    Examples
    --------
    >>> model = Transformer(src_vocab_size=6, tgt_vocab_size=5, d_model=8, n_heads=2,
    ...                     n_encoder_layers=1, n_decoder_layers=1, max_len=10, rng=0)
    >>> src = np.array([[1, 2, 3, 4]])                   # (B=1, S=4)
    >>> tgt_in = np.array([[0, 2, 3]])                   # (B=1, T=3), starting with BOS = 0
    >>> logits = model(src, tgt_in)
    >>> logits.shape
    (1, 3, 5)
    >>> model.backward(np.ones_like(logits))
    >>> model.out.W.grad.shape
    (8, 5)
    >>> model.generate(src, max_new_tokens=3, bos_id=0).shape
    (1, 3)
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int,
        n_heads: int,
        n_encoder_layers: int,
        n_decoder_layers: int,
        max_len: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
        *,
        activation: str = "relu",
    ) -> None:
        for name, value in [
            ("src_vocab_size", src_vocab_size),
            ("tgt_vocab_size", tgt_vocab_size),
            ("d_model", d_model),
            ("max_len", max_len),
        ]:
            check_scalar(value, name, kind=int, low=1)
        check_scalar(n_encoder_layers, "n_encoder_layers", kind=int, low=1)
        check_scalar(n_decoder_layers, "n_decoder_layers", kind=int, low=1)
        check_scalar(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        norm_first = check_bool(norm_first, "norm_first")
        rng = as_rng(rng)
        self.dtype = np.dtype(dtype)
        self._out_shape: tuple[int, int, int] | None = None  # (B, T, V) of the last forward
        self.d_model, self.max_len, self.norm_first = d_model, max_len, norm_first
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        # N(0, 1/D) rows times sqrt(D) gives unit-scale inputs, like the positions
        std = d_model**-0.5
        self.src_emb = Embedding(src_vocab_size, d_model, rng=rng, dtype=dtype, std=std)
        self.tgt_emb = Embedding(tgt_vocab_size, d_model, rng=rng, dtype=dtype, std=std)
        self._scale = math.sqrt(d_model)  # a Python float keeps float32 arrays float32
        self._pe = sinusoidal_positions(max_len, d_model).astype(dtype)  # (max_len, D)
        self.src_drop = Dropout(dropout, rng=rng)
        self.tgt_drop = Dropout(dropout, rng=rng)
        layer_args = (d_model, n_heads, d_ff, dropout, norm_first, rng, dtype)
        self.encoder = [
            TransformerEncoderLayer(*layer_args, activation=activation)
            for _ in range(n_encoder_layers)
        ]
        self.decoder = [
            TransformerDecoderLayer(*layer_args, activation=activation)
            for _ in range(n_decoder_layers)
        ]
        self.enc_norm = LayerNorm(d_model, dtype=dtype) if norm_first else None
        self.dec_norm = LayerNorm(d_model, dtype=dtype) if norm_first else None
        self.out = Linear(d_model, tgt_vocab_size, True, rng, dtype)

    def _embed(self, emb: Embedding, ids: np.ndarray, name: str) -> np.ndarray:
        ids = check_array(ids, name, ndim=2, dtype="int")
        if not 1 <= ids.shape[1] <= self.max_len:
            raise ValueError(
                f"{name} has length {ids.shape[1]}; expected between 1 and max_len={self.max_len}"
            )
        if ids.shape[0] < 1:
            raise ValueError(f"{name} has shape {ids.shape}; expected at least one sequence")
        ids = check_ids(ids, name, emb.n)  # range errors name src/tgt, not the layer's ids
        return self._scale * emb(ids) + self._pe[: ids.shape[1]]  # (B, L, D)

    def encode(self, src: np.ndarray, src_key_mask: np.ndarray | None = None) -> np.ndarray:
        """Memory ``m`` of shape ``(B, S, d_model)`` for source ids ``src`` (B, S).

        The inputs are validated here, once; the layers run inside
        :func:`npml._checks.trusted_inputs` and do not scan their inputs for NaN again.
        """
        with trusted_inputs():
            x = self.src_drop(self._embed(self.src_emb, src, "src"))  # 1. sqrt(D) E[src] + PE
        mask = _key_mask(src_key_mask, "src_key_mask", x.shape[:2])
        with trusted_inputs():
            for layer in self.encoder:  # 2. encoder layers
                x = layer(x, mask=mask)
            return x if self.enc_norm is None else self.enc_norm(x)  # 3. final LN (pre-LN)

    def decode(
        self,
        tgt: np.ndarray,
        memory: np.ndarray,
        src_key_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logits ``(B, T, tgt_vocab_size)`` for target inputs ``tgt`` (B, T) given memory.

        ``memory`` (B, S, d_model) is cast to the model's dtype and scanned for NaN here,
        once; the layers run inside :func:`npml._checks.trusted_inputs`.
        """
        memory = check_array(cast_input(memory, "memory", self.dtype), "memory", ndim=3)
        if memory.shape[-1] != self.d_model:
            raise ValueError(
                f"memory has shape {memory.shape}; expected (B, S, d_model={self.d_model})"
            )
        with trusted_inputs():
            y = self.tgt_drop(self._embed(self.tgt_emb, tgt, "tgt"))  # 4. sqrt(D) E[tgt] + PE
        B, T = y.shape[:2]
        if memory.shape[0] != B:
            raise ValueError(f"memory has batch size {memory.shape[0]} but tgt has {B}")
        mask = _key_mask(tgt_key_mask, "tgt_key_mask", (B, T))
        memory_mask = _key_mask(src_key_mask, "src_key_mask", memory.shape[:2])
        with trusted_inputs():
            for layer in self.decoder:  # 5. decoder layers: causal self-attn + cross-attn
                y = layer(y, memory, mask=mask, memory_mask=memory_mask, causal=True)
            if self.dec_norm is not None:
                y = self.dec_norm(y)  # 6. final LN (pre-LN)
            logits = self.out(y)  # 7. z = y W_out + b_out
        self._out_shape = logits.shape
        return logits

    def forward(
        self,
        src: np.ndarray,
        tgt: np.ndarray,
        src_key_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Teacher-forced logits ``(B, T, tgt_vocab_size)``: encode ``src``, decode ``tgt``.

        Parameters
        ----------
        src : ndarray of int, shape (B, S)
        tgt : ndarray of int, shape (B, T)
            Target shifted right (starts with a BOS token).
        src_key_mask, tgt_key_mask : ndarray of bool, shapes (B, S) and (B, T), optional
            True for real tokens, False for padding.
        """
        memory = self.encode(src, src_key_mask)
        if memory.shape[0] != np.shape(tgt)[0]:
            raise ValueError(f"src has batch size {memory.shape[0]} but tgt has {np.shape(tgt)[0]}")
        return self.decode(tgt, memory, src_key_mask, tgt_key_mask)

    def extra_repr(self) -> str:
        """The constructor's arguments, with ``d_ff`` as built (``4 * d_model`` for None)."""
        return self._config_repr(d_ff=self.encoder[0].ffn.W_1.shape[1])

    def backward(self, dlogits: np.ndarray) -> None:
        """Accumulate the gradient of every parameter from ``dlogits`` (B, T, V).

        ``dlogits`` must have the shape of the last forward's logits; it is cast to the
        model's dtype. ``RuntimeError`` before any forward.
        """
        if self._out_shape is None:
            raise RuntimeError("Transformer.backward called before forward; run forward first")
        dlogits = check_dout(dlogits, self._out_shape, "dlogits").astype(self.dtype, copy=False)
        dy = self.out.backward(dlogits)  # 7.
        if self.dec_norm is not None:
            dy = self.dec_norm.backward(dy)  # 6.
        dmemory = 0.0
        for layer in reversed(self.decoder):  # 5. memory feeds every decoder layer: sum
            dy, dm = layer.backward(dy)
            dmemory = dmemory + dm
        dy = self.tgt_drop.backward(dy)  # 4. (PE is a constant: no gradient)
        self.tgt_emb.backward(self._scale * dy)
        dx = dmemory  # 3. the memory's gradient enters the encoder
        if self.enc_norm is not None:
            dx = self.enc_norm.backward(dx)  # 3.
        for layer in reversed(self.encoder):  # 2.
            dx = layer.backward(dx)
        dx = self.src_drop.backward(dx)  # 1.
        self.src_emb.backward(self._scale * dx)

    def generate(
        self,
        src: np.ndarray,
        max_new_tokens: int,
        bos_id: int,
        src_key_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Greedy decoding: ``(B, max_new_tokens)`` target ids after ``bos_id``.

        The decoder is rerun on the whole prefix at each step (simple, O(T^2) layers calls;
        the causal LM shows the KV-cache version).
        """
        check_scalar(max_new_tokens, "max_new_tokens", kind=int, low=1, high=self.max_len)
        check_scalar(bos_id, "bos_id", kind=int, low=0, high=self.tgt_vocab_size - 1)
        was_training = self.training
        self.eval()
        try:
            memory = self.encode(src, src_key_mask)
            tgt = np.full((memory.shape[0], 1), bos_id, dtype=np.int64)
            for _ in range(max_new_tokens):
                logits = self.decode(tgt, memory, src_key_mask)[:, -1]  # (B, V)
                tgt = np.concatenate([tgt, np.argmax(logits, axis=-1)[:, None]], axis=1)
        finally:
            self.train(was_training)
        return tgt[:, 1:]
