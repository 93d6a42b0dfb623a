"""Registry entries of the assembled layers and models: the Transformer encoder and decoder
layers, the causal language model and the encoder-decoder Transformer."""

from __future__ import annotations

import numpy as np

from npml.models import CausalLM, Transformer
from npml.nn import TransformerDecoderLayer, TransformerEncoderLayer
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import randn


def single_key_zeros(module, attention: str) -> frozenset[str]:
    """``W_q, W_k`` (and biases) of every ``attention`` sublayer of ``module``: with a single
    key the softmax is 1 whatever the scores, so they get exactly zero gradient."""
    ends = tuple(f"{attention}.{w}" for w in ("W_q", "W_k", "b_q", "b_k"))
    return frozenset(n for n, _ in module.named_parameters() if n.endswith(ends))


ENCODER_CASES = [
    # norm_first, B, T, causal, padded, extra constructor arguments
    (True, 2, 5, False, True, {}),
    (False, 2, 5, False, True, {}),
    (True, 1, 1, False, False, {}),
    (False, 2, 4, True, True, {}),
    (True, 2, 4, True, False, {"activation": "gelu", "rope_base": 100.0}),
]


def encoder_samples(rng, dtype):
    for norm_first, B, T, causal, padded, extra in ENCODER_CASES:
        layer = TransformerEncoderLayer(
            6 if not extra else 8, 2, 7, 0.0, norm_first, rng, dtype, **extra
        )
        D = layer.d_model
        mask = None
        if padded:  # key padding: the last key of the first sequence is padding
            mask = np.ones((B, 1, 1, T), dtype=bool)
            mask[0, ..., -1] = False
        kwargs = {"x": randn(rng, (B, T, D), dtype), "mask": mask, "causal": causal}
        zero = single_key_zeros(layer, "self_attn") if T == 1 else frozenset()
        desc = f"{'pre' if norm_first else 'post'}-LN B={B} T={T} causal={causal} pad={padded}"
        yield Sample(kwargs, desc + "".join(f" {k}={v}" for k, v in extra.items()), layer, zero)


def layer_errors(rng, dtype):
    enc = TransformerEncoderLayer(6, 2, rng=0, dtype=dtype)
    dec = TransformerDecoderLayer(6, 2, rng=0, dtype=dtype)
    x = np.ones((2, 3, 6), dtype)
    yield ErrorInput("x", lambda: enc(np.ones((2, 3, 5), dtype)), match="d_model=6")
    yield ErrorInput("x", lambda: enc(x[0]), match="ndim")
    yield ErrorInput("memory", lambda: dec(x, x[:1]), match="batch size")
    yield ErrorInput("memory", lambda: dec(x, np.ones((2, 3, 4), dtype)))
    yield ErrorInput("norm_first", lambda: TransformerEncoderLayer(6, 2, norm_first=1), TypeError)
    yield ErrorInput(
        "norm_first", lambda: TransformerDecoderLayer(6, 2, norm_first="no"), TypeError
    )
    yield ErrorInput("dropout", lambda: TransformerDecoderLayer(6, 2, dropout=1.0))
    yield ErrorInput("n_heads", lambda: TransformerEncoderLayer(6, 4))


register(
    LayerInfo(
        "TransformerEncoderLayer",
        None,
        None,
        ("x",),
        encoder_samples,
        module=True,
        error_inputs=layer_errors,
        checked_inputs=("x",),
        flags=("causal",),
        dout_name="dy",
        covers=("TransformerEncoderLayer",),
    )
)


def decoder_samples(rng, dtype):
    for norm_first, T, S in [(True, 3, 5), (False, 3, 5), (True, 1, 4), (False, 4, 1)]:
        B, D = 2, 6
        layer = TransformerDecoderLayer(D, 3, 5, 0.0, norm_first, rng, dtype)
        tgt_mask = np.ones((B, 1, 1, T), dtype=bool)
        mem_mask = np.ones((B, 1, 1, S), dtype=bool)
        if T > 1:
            tgt_mask[1, ..., -1] = False  # target padding in the second sequence
        if S > 1:
            mem_mask[0, ..., -2:] = False  # source padding in the first sequence
        kwargs = {"x": randn(rng, (B, T, D), dtype), "memory": randn(rng, (B, S, D), dtype)}
        kwargs |= {"mask": tgt_mask, "memory_mask": mem_mask}
        zero = frozenset()
        if T == 1:
            zero |= single_key_zeros(layer, "self_attn")
        if S == 1:
            zero |= single_key_zeros(layer, "cross_attn")
        yield Sample(kwargs, f"{'pre' if norm_first else 'post'}-LN T={T} S={S}", layer, zero)


register(
    LayerInfo(
        "TransformerDecoderLayer",
        None,
        None,
        ("x", "memory"),
        decoder_samples,
        module=True,
        error_inputs=layer_errors,
        checked_inputs=("x", "memory"),
        flags=("causal",),
        dout_name="dy",
        covers=("TransformerDecoderLayer",),
    )
)


# ---- models -------------------------------------------------------------------------------
CAUSAL_LM_CASES = [("rope", True, (2, 5)), ("learned", False, (2, 5)), ("learned", True, (1, 1))]


def causal_lm_samples(rng, dtype):
    # a larger init than GPT-2's 0.02 so that every path (attention scores too) matters
    kw = dict(max_len=6, d_ff=8, init_std=0.5, dtype=dtype)
    for positional, tie, shape in CAUSAL_LM_CASES:  # positions, tied output, ids shape
        model = CausalLM(7, 8, 2, 2, positional=positional, tie_embeddings=tie, rng=rng, **kw)
        zero = single_key_zeros(model, "self_attn") if shape[1] == 1 else frozenset()
        ids = rng.integers(0, 7, size=shape)
        yield Sample({"ids": ids}, f"{positional} tie={tie} ids{shape}", model, zero)


def causal_lm_errors(rng, dtype):
    model = CausalLM(7, 8, 2, 1, max_len=4, rng=0, dtype=dtype)
    yield ErrorInput("max_len", lambda: model(np.zeros((1, 5), int)), match="exceeds")
    yield ErrorInput("ids", lambda: model(np.zeros(3, int)), match="ndim")
    yield ErrorInput("ids", lambda: model(np.full((1, 3), 0.5)), TypeError)
    yield ErrorInput("ids", lambda: model(np.full((1, 3), 7)), match="outside")
    caches = model.new_kv_caches() * 2  # two caches for one block
    yield ErrorInput("kv_caches", lambda: model(np.zeros((1, 2), int), caches))
    yield ErrorInput("positional", lambda: CausalLM(7, 8, 2, 1, 4, positional="abs"))
    yield ErrorInput(
        "tie_embeddings", lambda: CausalLM(7, 8, 2, 1, 4, tie_embeddings="no"), TypeError
    )


register(
    LayerInfo(
        "CausalLM",
        None,
        None,
        (),
        causal_lm_samples,
        module=True,
        error_inputs=causal_lm_errors,
        dout_name="dlogits",
        covers=("CausalLM",),
    )
)


def seq2seq_samples(rng, dtype):
    for norm_first in (True, False):
        model = Transformer(5, 6, 4, 2, 1, 2, 6, 6, 0.0, norm_first, rng, dtype)
        src_key_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
        tgt_key_mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)
        kwargs = {"src": rng.integers(0, 5, size=(2, 5)), "tgt": rng.integers(0, 6, size=(2, 3))}
        kwargs |= {"src_key_mask": src_key_mask, "tgt_key_mask": tgt_key_mask}
        yield Sample(kwargs, f"{'pre' if norm_first else 'post'}-LN, padding", model)


def seq2seq_errors(rng, dtype):
    model = Transformer(5, 6, 4, 2, 1, 1, 6, rng=0, dtype=dtype)
    src, tgt = np.zeros((2, 5), int), np.zeros((2, 3), int)
    yield ErrorInput("src_key_mask", lambda: model(src, tgt, np.ones((2, 4), bool)))
    yield ErrorInput("tgt_key_mask", lambda: model(src, tgt, None, np.ones((2, 3))), TypeError)
    yield ErrorInput(
        "norm_first", lambda: Transformer(5, 6, 4, 2, 1, 1, 6, norm_first=0), TypeError
    )


register(
    LayerInfo(
        "Transformer",
        None,
        None,
        (),
        seq2seq_samples,
        module=True,
        error_inputs=seq2seq_errors,
        dout_name="dlogits",
        covers=("Transformer",),
    )
)
