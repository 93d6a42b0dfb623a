"""A decoder-only (GPT-style) causal language model with a hand-written backward pass.

The model maps token ids :math:`u_1, \\ldots, u_T` to next-token logits,

.. math::

    h^{(0)}_t &= E_{u_t} \\; (+\\, P_t \\text{ for learned positions}), \\\\
    h^{(l)} &= \\operatorname{Block}_l\\bigl(h^{(l-1)}\\bigr), \\quad l = 1, \\ldots, L, \\\\
    z_t &= \\operatorname{LN}\\bigl(h^{(L)}_t\\bigr) \\, W_{\\text{out}}, \\qquad
    W_{\\text{out}} = E^\\top \\text{ when the embeddings are tied},

where each block is a pre-LN :class:`~npml.nn.transformer.TransformerEncoderLayer` with
*causal* self-attention (Vaswani et al. 2017; Radford et al. 2019, GPT-2), so position
:math:`t` sees only :math:`u_{\\le t}` and :math:`z_t` scores :math:`u_{t+1}`. Positions enter
either as a learned table :math:`P` added to the embeddings, or by rotating queries and keys
in every attention layer (RoPE, Su et al. 2021, arXiv:2104.09864), which makes attention
scores depend only on relative positions.

**Tied embeddings** (Press & Wolf 2017, arXiv:1608.05859) reuse the token table :math:`E`
(shape ``(V, D)``) as the output projection, :math:`z = h E^\\top`. The table then gets two
gradient contributions, :math:`\\bar{E} \\mathrel{+}= \\bar{z}^\\top h` from the output and the
scatter-add from the input lookup; ``Parameter.accumulate`` adds both.

**Generation** samples :math:`u_{t+1} \\sim \\operatorname{softmax}(z_t / \\tau)`, optionally
restricted to the ``top_k`` largest logits, and decodes incrementally: each layer keeps a
:class:`~npml.nn.kv_cache.KVCache` of past keys and values, so a new token costs one query
against the cache instead of recomputing the whole prefix.

**Hidden states and extra heads.** :meth:`CausalLM.forward_outputs` also returns the final
normalised states :math:`h_t = \\operatorname{LN}(h^{(L)}_t)` and, for each extra head
``name`` of width :math:`n` given at construction (``heads={"reward": 1, "done": 2}``), its
output :math:`y^{\\text{name}}_t = h_t W_{\\text{name}} + b_{\\text{name}}`: the value,
reward and episode-end predictions that in-context RL and world models read off the same
states as the next-token logits. :meth:`CausalLM.backward` takes a gradient for any of them;
their contributions to :math:`\\bar{h}` add up before the final LayerNorm's backward.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_choice,
    check_dout,
    check_scalar,
    trusted_inputs,
)
from npml._module import Module
from npml.models._sampling import _sample
from npml.nn.dropout import Dropout
from npml.nn.embedding import Embedding, check_ids
from npml.nn.kv_cache import KVCache
from npml.nn.layer_norm import LayerNorm
from npml.nn.linear import Linear
from npml.nn.positional import LearnedPositionalEmbedding
from npml.nn.transformer import TransformerEncoderLayer


class CausalLMOutput(NamedTuple):
    """What :meth:`CausalLM.forward_outputs` returns."""

    logits: np.ndarray  # (B, T, vocab_size)
    hidden: np.ndarray  # (B, T, d_model): LN_f of the last block's output
    heads: dict[str, np.ndarray]  # name -> (B, T, width) for each extra head


class _Heads(Module):
    """The extra output heads, one :class:`Linear` attribute per name (so parameters are
    named ``heads.<name>.W`` and ``heads.<name>.b``)."""

    def __init__(self, widths: dict[str, int], d_model: int, rng: np.random.Generator, dtype):
        self._names = tuple(widths)
        for name in self._names:
            setattr(self, name, Linear(d_model, widths[name], True, rng, dtype))

    def items(self) -> list[tuple[str, Linear]]:
        return [(name, getattr(self, name)) for name in self._names]


def _check_heads(heads: object) -> dict[str, int]:
    """Validate the ``heads`` argument: a mapping of identifier names to widths >= 1."""
    if heads is None:
        return {}
    if not isinstance(heads, dict):
        raise TypeError(f"heads must be a dict of name -> width, got {type(heads).__name__}")
    for name, width in heads.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"heads has the name {name!r}; expected identifiers not starting with '_'"
            )
        check_scalar(width, f"heads[{name!r}]", kind=int, low=1)
    return dict(heads)


class CausalLM(Module):
    """Decoder-only Transformer language model (GPT): token ids in, next-token logits out.

    Token embedding (scaled positions by RoPE or a learned table), ``n_layers`` pre-LN causal
    :class:`~npml.nn.TransformerEncoderLayer` blocks, a final LayerNorm and the output
    projection (the token table itself when ``tie_embeddings``); the equations are in
    :mod:`npml.models.causal_lm`. ``forward(ids)`` maps ids ``(B, T)`` to logits
    ``(B, T, vocab_size)``; ``backward(dlogits)`` accumulates every parameter's gradient;
    ``generate(prompt_ids, max_new_tokens, ...)`` samples with a key/value cache. Train it
    with :func:`npml.models.train_causal_lm`.

    Parameters
    ----------
    vocab_size : int
    d_model : int
    n_heads : int
        Must divide ``d_model``.
    n_layers : int
    max_len : int
        Longest sequence :meth:`forward` accepts (the context window).
    positional : {"rope", "learned"}, default "rope"
    tie_embeddings : bool, default True
        Use the token table as the output projection.
    d_ff : int, optional
        FFN width; default ``4 * d_model``.
    dropout : float, default 0.0
    rng : None, int or Generator
        Initialisation (and dropout) randomness.
    dtype : numpy float dtype, default float32
        Dtype of every parameter, activation and gradient; ``backward`` casts ``dlogits``
        to it (so float64 ``dlogits`` still give float32 gradients).
    rope_base : float, default 10000.0
        RoPE base (``positional="rope"`` only).
    activation : {"gelu", "relu"}, default "gelu"
    init_std : float, default 0.02
        Standard deviation of the token (and learned position) tables, as in GPT-2.
    heads : dict of str to int, optional
        Extra output heads on the final hidden states, e.g.
        ``{"value": 1, "reward": 1, "done": 2}``: each name gets a :class:`Linear`
        ``(d_model, width)`` with bias, initialised after every other parameter (so a seed
        gives the same base model with or without heads).

    Attributes
    ----------
    tok_emb : Embedding
    pos_emb : LearnedPositionalEmbedding or None
    blocks : list of TransformerEncoderLayer
    norm_f : LayerNorm
    lm_head : Linear or None
        ``None`` when the embeddings are tied.
    heads : Module or None
        The extra heads as attributes (``model.heads.reward``), ``None`` without any.
    head_widths : dict of str to int
        Widths of the extra heads (empty without any).

    Examples
    --------
    >>> from npml.models import CharTokenizer, train_causal_lm
    >>> tok = CharTokenizer("abcabcabcabc")
    >>> model = CausalLM(tok.vocab_size, d_model=16, n_heads=2, n_layers=1, max_len=8, rng=0)
    >>> logits = model(np.array([tok.encode("abca")]))   # (B=1, T=4) ids
    >>> logits.shape
    (1, 4, 3)
    >>> ids = np.array(tok.encode("abc" * 20))
    >>> history = train_causal_lm(model, ids, steps=60, batch_size=4, block_size=6, lr=1e-2,
    ...                           rng=0, progress=False)
    >>> history.train_loss[-1] < 0.5 * history.train_loss[0]
    True
    >>> tok.decode(model.generate(np.array(tok.encode("ab")), 4, temperature=0)[2:])
    'cabc'
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        max_len: int,
        positional: str = "rope",
        tie_embeddings: bool = True,
        d_ff: int | None = None,
        dropout: float = 0.0,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
        *,
        rope_base: float = 10000.0,
        activation: str = "gelu",
        init_std: float = 0.02,
        heads: dict[str, int] | None = None,
    ) -> None:
        for name, value in [("vocab_size", vocab_size), ("d_model", d_model)]:
            check_scalar(value, name, kind=int, low=1)
        check_scalar(n_layers, "n_layers", kind=int, low=1)
        check_scalar(max_len, "max_len", kind=int, low=1)
        check_choice(positional, "positional", ("rope", "learned"))
        check_scalar(init_std, "init_std", low=0.0)
        check_scalar(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        tie_embeddings = check_bool(tie_embeddings, "tie_embeddings")
        head_widths = _check_heads(heads)
        rng = as_rng(rng)
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.positional, self.tie_embeddings = positional, bool(tie_embeddings)
        self.dtype = np.dtype(dtype)
        self.tok_emb = Embedding(vocab_size, d_model, rng=rng, dtype=dtype, std=init_std)
        self.pos_emb = None
        if positional == "learned":
            self.pos_emb = LearnedPositionalEmbedding(max_len, d_model, rng=rng, dtype=dtype)
            self.pos_emb.W.data *= init_std / 0.02  # its table is drawn from N(0, 0.02^2)
        self.drop = Dropout(dropout, rng=rng)
        self.blocks = [
            TransformerEncoderLayer(
                d_model,
                n_heads,
                d_ff,
                dropout,
                norm_first=True,
                rng=rng,
                dtype=dtype,
                activation=activation,
                rope_base=rope_base if positional == "rope" else None,
            )
            for _ in range(n_layers)
        ]
        self.norm_f = LayerNorm(d_model, dtype=dtype)
        self.lm_head = None if tie_embeddings else Linear(d_model, vocab_size, False, rng, dtype)
        self.head_widths = head_widths
        self.heads = _Heads(head_widths, d_model, rng, dtype) if head_widths else None
        self._h: np.ndarray | None = None  # normalised final states, for the tied backward
        self._cached_forward = False
        self._out_shape: tuple[int, int, int] | None = None  # (B, T, V) of the last forward

    # -- forward / backward ----------------------------------------------------------------
    def _check_ids(self, ids: np.ndarray, start: int = 0) -> np.ndarray:
        ids = check_ids(ids, "ids", self.vocab_size)  # range-checked before the int cast
        if ids.ndim != 2:
            raise ValueError(f"ids has ndim={ids.ndim} (shape {ids.shape}); expected 2")
        T = ids.shape[1]
        if ids.shape[0] < 1:
            raise ValueError(f"ids has shape {ids.shape}; expected at least one sequence")
        if T < 1:
            raise ValueError(f"ids has shape {ids.shape}; expected at least one token")
        if start + T > self.max_len:
            raise ValueError(
                f"sequence length {start + T} (ids has shape {ids.shape}, {start} cached) "
                f"exceeds max_len={self.max_len}"
            )
        return ids

    def forward(self, ids: np.ndarray, kv_caches: list[KVCache] | None = None) -> np.ndarray:
        """Next-token logits for ``ids``.

        Parameters
        ----------
        ids : ndarray of int, shape (B, T)
            Token ids in ``[0, vocab_size)``, ``T <= max_len`` (else ``ValueError``).
        kv_caches : list of KVCache, optional
            One cache per block (:meth:`new_kv_caches`) for incremental decoding: ``ids``
            then continues the cached sequence. Inference only: no backward afterwards.

        Returns
        -------
        logits : ndarray, shape (B, T, vocab_size)
            In the model's dtype.

        Notes
        -----
        The ids are validated here, once; the layers run inside
        :func:`npml._checks.trusted_inputs`, so no activation is scanned for NaN again (an
        overflow in attention is still refused, by the attention's cheap row check).
        """
        return self.forward_outputs(ids, kv_caches).logits

    def forward_outputs(
        self, ids: np.ndarray, kv_caches: list[KVCache] | None = None
    ) -> CausalLMOutput:
        """Logits, final hidden states and extra-head outputs for ``ids``.

        Parameters
        ----------
        ids : ndarray of int, shape (B, T)
        kv_caches : list of KVCache, optional
            As in :meth:`forward`.

        Returns
        -------
        CausalLMOutput
            ``logits`` (B, T, vocab_size), ``hidden`` (B, T, d_model) (the normalised final
            states every head reads) and ``heads``, a dict of name -> (B, T, width) (empty
            without heads). :meth:`backward` accepts a gradient for each of them.
        """
        start = 0 if kv_caches is None else _cached_length(kv_caches[0])
        ids = self._check_ids(ids, start)
        if kv_caches is not None and len(kv_caches) != len(self.blocks):
            raise ValueError(f"got {len(kv_caches)} kv_caches; expected {len(self.blocks)}")
        self._cached_forward = kv_caches is not None
        with trusted_inputs():
            h = self._forward_hidden(ids, start, kv_caches)
            logits = self._lm_head_forward(h)
            # 7. y_name = h W_name + b_name for each extra head
            heads = {} if self.heads is None else {n: m(h) for n, m in self.heads.items()}
        self._out_shape = logits.shape
        return CausalLMOutput(logits, h, heads)

    def _forward(self, ids: np.ndarray, start: int, kv_caches: list[KVCache] | None) -> np.ndarray:
        """The forward steps (module docstring) on validated ``ids``: the logits."""
        return self._lm_head_forward(self._forward_hidden(ids, start, kv_caches))

    def _forward_hidden(
        self, ids: np.ndarray, start: int, kv_caches: list[KVCache] | None
    ) -> np.ndarray:
        """Forward steps 1-5 (module docstring) on validated ``ids``: h, (B, T, D)."""
        x = self.tok_emb(ids)  # 1. x = E[ids], (B, T, D)
        if self.pos_emb is not None:  # 2. x = x + P[start : start + T]
            x = self.pos_emb(x, offset=start)
        x = self.drop(x)  # 3. embedding dropout
        for i, block in enumerate(self.blocks):  # 4. x = Block_l(x), causal
            x = block(x, causal=True, kv_cache=None if kv_caches is None else kv_caches[i])
        return self.norm_f(x)  # 5. h = LN_f(x)

    def _lm_head_forward(self, h: np.ndarray) -> np.ndarray:
        """Forward step 6: logits (B, T, V) from h (B, T, D)."""
        if self.lm_head is None:  # 6. z = h E^T (tied) or h W_out
            self._h = h
            B, T, D = h.shape
            return (h.reshape(B * T, D) @ self.tok_emb.W.data.T).reshape(B, T, -1)  # (B, T, V)
        return self.lm_head(h)

    def extra_repr(self) -> str:
        """The constructor's arguments, with ``d_ff`` as built (``4 * d_model`` for None)."""
        return self._config_repr(d_ff=self.blocks[0].ffn.W_1.shape[1])

    def backward(
        self,
        dlogits: np.ndarray | None = None,
        *,
        dhidden: np.ndarray | None = None,
        dheads: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Accumulate the gradient of every parameter from the gradients of the outputs.

        Parameters
        ----------
        dlogits : ndarray, shape (B, T, vocab_size), optional
            Gradient w.r.t. the last forward's logits; cast to the model's dtype.
        dhidden : ndarray, shape (B, T, d_model), optional
            Gradient w.r.t. the final hidden states (``forward_outputs(...).hidden``).
        dheads : dict of str to ndarray, optional
            Gradient w.r.t. some extra heads' outputs, name -> (B, T, width); heads left
            out get none.

        ``RuntimeError`` before any forward or after one with ``kv_caches``; ``ValueError``
        when no gradient is given, a shape differs or a head name is unknown.
        """
        if self._out_shape is None:
            raise RuntimeError("CausalLM.backward called before forward; run forward(ids) first")
        if self._cached_forward:
            raise RuntimeError("backward after a forward with kv_caches is not supported")
        if dlogits is None and dhidden is None and not dheads:
            raise ValueError("backward got no gradient; pass dlogits, dhidden or dheads")
        B, T, _ = self._out_shape
        # every gradient is checked before any parameter accumulates one
        if dlogits is not None:
            dlogits = check_dout(dlogits, self._out_shape, "dlogits").astype(self.dtype, copy=False)
        if dhidden is not None:
            dhidden = check_dout(dhidden, (B, T, self.d_model), "dhidden").astype(self.dtype)
        checked = {}
        for name, g in (dheads or {}).items():
            if name not in self.head_widths:
                raise ValueError(
                    f"dheads has the head {name!r}; the model's heads are "
                    f"{sorted(self.head_widths)}"
                )
            g = check_dout(g, (B, T, self.head_widths[name]), f"dheads[{name!r}]")
            checked[name] = g.astype(self.dtype, copy=False)
        dh = None if dlogits is None else self._lm_head_backward(dlogits)
        if dhidden is not None:  # h is an output itself: its gradient adds to dh
            dh = dhidden if dh is None else dh + dhidden
        for name, g in checked.items():  # 7. y_name = h W_name + b_name
            g = getattr(self.heads, name).backward(g)
            dh = g if dh is None else dh + g
        self._backward_hidden(dh)

    def _lm_head_backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Backward of step 6: dh (B, T, D) from checked dlogits; accumulates the output weights."""
        if self.lm_head is None:
            # 6. z = h E^T: dh = dz E and dE += dz^T h (the output half of the tied gradient)
            h = self._h
            dz2 = dlogits.reshape(-1, self.vocab_size)  # (B*T, V)
            dh = (dz2 @ self.tok_emb.W.data).reshape(*dlogits.shape[:-1], -1)  # (B, T, D)
            self.tok_emb.W.accumulate(dz2.T @ h.reshape(-1, self.d_model))  # (V, D)
            return dh
        return self.lm_head.backward(dlogits)

    def _backward_hidden(self, dh: np.ndarray) -> None:
        """Backward of steps 5-1 from dh, the gradient w.r.t. h (B, T, D)."""
        dx = self.norm_f.backward(dh)  # 5. h = LN_f(x)
        for block in reversed(self.blocks):  # 4. blocks in reverse
            dx = block.backward(dx)
        dx = self.drop.backward(dx)  # 3. dropout
        if self.pos_emb is not None:  # 2. x + P: P.grad += dx, dx passes through
            dx = self.pos_emb.backward(dx)
        self.tok_emb.backward(dx)  # 1. E[ids]: scatter-add (the input half if tied)

    def new_kv_caches(self) -> list[KVCache]:
        """One empty :class:`KVCache` per block, for :meth:`forward` and :meth:`generate`."""
        return [KVCache() for _ in self.blocks]

    # -- sampling ----------------------------------------------------------------------------
    def generate(
        self,
        prompt_ids: np.ndarray,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: None | int | np.random.Generator = None,
    ) -> np.ndarray:
        """Sample ``max_new_tokens`` tokens after ``prompt_ids`` with the KV cache.

        Parameters
        ----------
        prompt_ids : ndarray of int, shape (T_0,) or (B, T_0)
            At least one token, at most ``max_len``.
        max_new_tokens : int
        temperature : float, default 1.0
            Logits are divided by it; ``0`` means greedy (arg max) decoding, and small
            positive values approach it (the shifted logits ``z - max z`` are divided, so
            even ``1e-320`` gives the arg max, never NaN).
        top_k : int, optional
            Sample only among the ``top_k`` most likely tokens.
        rng : None, int or Generator

        Returns
        -------
        ndarray of int, shape (T_0 + max_new_tokens,) or (B, T_0 + max_new_tokens)
            The prompt followed by the new tokens. Once the sequence is longer than
            ``max_len`` the context is cropped to its last ``max_len`` tokens and the
            caches are rebuilt from it at every step (slower, but never out of range).
        """
        prompt = check_array(prompt_ids, "prompt_ids", ndim=(1, 2), dtype=None)
        prompt = check_ids(prompt, "prompt_ids", self.vocab_size)  # before the int cast
        squeeze = prompt.ndim == 1
        seq = prompt[None, :] if squeeze else prompt  # (B, T_0)
        check_scalar(max_new_tokens, "max_new_tokens", kind=int, low=0)
        check_scalar(temperature, "temperature", low=0.0)
        if top_k is not None:
            check_scalar(top_k, "top_k", kind=int, low=1, high=self.vocab_size)
        rng = as_rng(rng)
        was_training = self.training
        self.eval()
        try:
            caches = self.new_kv_caches()
            logits = self.forward(seq, caches)[:, -1]  # prefill: (B, V)
            for i in range(max_new_tokens):
                nxt = _sample(logits, temperature, top_k, rng)  # (B,)
                seq = np.concatenate([seq, nxt[:, None]], axis=1)
                if i == max_new_tokens - 1:
                    break
                if seq.shape[1] <= self.max_len:  # room left: one query against the cache
                    logits = self.forward(nxt[:, None], caches)[:, -1]
                else:  # context full: crop and recompute
                    caches = self.new_kv_caches()
                    logits = self.forward(seq[:, -self.max_len :], caches)[:, -1]
        finally:
            self.train(was_training)
        return seq[0] if squeeze else seq


def _cached_length(cache: KVCache) -> int:
    """Number of positions already stored in ``cache``."""
    return cache.length
