"""Encoder and decoder layers (their gradients, both norm orders, are checked by the layer
registry, tests/testing/test_registry.py)."""

import numpy as np
import pytest

from npml.nn.transformer import TransformerDecoderLayer, TransformerEncoderLayer


def test_padded_memory_positions_get_no_gradient_and_no_influence(rng):
    layer = TransformerDecoderLayer(4, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 3, 4))
    memory = rng.standard_normal((1, 5, 4))
    mem_mask = np.array([True, True, True, False, False])[None, None, None, :]
    y = layer.forward(x, memory, memory_mask=mem_mask)
    _, dmemory = layer.backward(np.ones_like(y))
    assert np.all(dmemory[0, 3:] == 0)
    memory2 = memory.copy()
    memory2[0, 3:] = rng.standard_normal((2, 4))
    np.testing.assert_allclose(layer.forward(x, memory2, memory_mask=mem_mask), y, atol=1e-12)


def test_decoder_self_attention_is_causal(rng):
    layer = TransformerDecoderLayer(4, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 5, 4))
    memory = rng.standard_normal((1, 3, 4))
    y = layer.forward(x, memory)
    x2 = x.copy()
    x2[0, 3:] += 1.0
    y2 = layer.forward(x2, memory)
    np.testing.assert_allclose(y2[0, :3], y[0, :3], atol=1e-12)
    assert not np.allclose(y2[0, 3:], y[0, 3:])


@pytest.mark.parametrize("D", [4, 8, 12])
def test_parameter_counts(D):
    # attention 4 D^2 (no biases), FFN 8 D^2 + 5 D, and 2 D per LayerNorm
    enc = TransformerEncoderLayer(D, 2, rng=0, dtype=np.float64)
    assert enc.n_params() == 4 * D * D + (8 * D * D + 5 * D) + 2 * 2 * D
    dec = TransformerDecoderLayer(D, 2, rng=0, dtype=np.float64)
    assert dec.n_params() == 2 * 4 * D * D + (8 * D * D + 5 * D) + 3 * 2 * D


def test_post_ln_output_is_normalised_and_pre_ln_is_not(rng):
    x = 3.0 * rng.standard_normal((2, 4, 8)) + 1.0
    post = TransformerEncoderLayer(8, 2, norm_first=False, rng=0, dtype=np.float64).forward(x)
    np.testing.assert_allclose(post.mean(axis=-1), 0.0, atol=1e-10)
    np.testing.assert_allclose(post.var(axis=-1), 1.0, rtol=1e-3)  # eps=1e-5 in the variance
    pre = TransformerEncoderLayer(8, 2, norm_first=True, rng=0, dtype=np.float64).forward(x)
    assert np.abs(pre.mean(axis=-1)).max() > 0.1


def test_dropout_only_in_training_mode(rng):
    layer = TransformerEncoderLayer(8, 2, dropout=0.5, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 4, 8))
    assert not np.allclose(layer.forward(x), layer.forward(x))  # two different masks
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), layer.forward(x))
    no_drop = TransformerEncoderLayer(8, 2, dropout=0.0, rng=0, dtype=np.float64)
    np.testing.assert_allclose(layer.forward(x), no_drop.forward(x), atol=1e-12)


def test_float32_stays_float32(rng):
    layer = TransformerDecoderLayer(8, 2, rng=0, dtype=np.float32)
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    m = rng.standard_normal((2, 5, 8)).astype(np.float32)
    y = layer.forward(x, m)
    assert y.dtype == np.float32
    dx, dm = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dm.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_bad_input(rng):
    with pytest.raises(ValueError, match="d_model=10"):
        TransformerEncoderLayer(10, 3, dtype=np.float64)
    layer = TransformerDecoderLayer(8, 2, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 7\)"):
        layer.forward(np.zeros((2, 3, 7)), np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="memory has batch size 3"):
        layer.forward(np.zeros((2, 3, 8)), np.zeros((3, 4, 8)))
    x = np.zeros((2, 3, 8))
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        TransformerEncoderLayer(8, 2, rng=0, dtype=np.float64).forward(x)
    with pytest.raises(ValueError, match="dropout"):
        TransformerEncoderLayer(8, 2, dropout=1.0, dtype=np.float64)


def test_incremental_decoding_with_kv_cache_matches_full_forward(rng):
    from npml.nn.multihead import KVCache

    enc = TransformerEncoderLayer(8, 2, rng=0, rope_base=10000.0, dtype=np.float64)
    dec = TransformerDecoderLayer(8, 2, rng=1, dtype=np.float64)
    x = rng.standard_normal((2, 5, 8))
    memory = rng.standard_normal((2, 3, 8))
    full_enc = enc.forward(x, causal=True)
    full_dec = dec.forward(x, memory)
    enc_cache, dec_cache = KVCache(), KVCache()
    steps_enc = [enc.forward(x[:, t : t + 1], causal=True, kv_cache=enc_cache) for t in range(5)]
    steps_dec = [dec.forward(x[:, t : t + 1], memory, kv_cache=dec_cache) for t in range(5)]
    np.testing.assert_allclose(np.concatenate(steps_enc, axis=1), full_enc, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(steps_dec, axis=1), full_dec, atol=1e-12)


def weight_checksums(module):
    """Name and an order-sensitive checksum of every parameter, in ``named_parameters`` order."""
    return [
        (name, float(np.dot(p.data.ravel(), np.sin(np.arange(1.0, p.size + 1)))))
        for name, p in module.named_parameters()
    ]


# Recorded on the code before the encoder and decoder layers shared one builder: the layers
# must keep drawing their initial weights from ``rng`` in this order (seeded models and their
# tests stay reproducible), and leave the generator where it was for the dropout masks.
ATTN = [f"self_attn.{w}" for w in ("W_q", "W_k", "W_v", "W_o")]
CROSS = [f"cross_attn.{w}" for w in ("W_q", "W_k", "W_v", "W_o")]
FFN = ["ffn.W_1", "ffn.b_1", "ffn.W_2", "ffn.b_2"]
NORMS = [f"norm{i}.{p}" for i in (1, 2, 3) for p in ("gamma", "beta")]
ENCODER_INIT = {
    "self_attn.W_q": -2.305980429931,
    "self_attn.W_k": 1.018163304452,
    "self_attn.W_v": 3.090539322455,
    "self_attn.W_o": -0.060462095219,
    "ffn.W_1": -1.173731104927,
    "ffn.W_2": 0.622369441118,
}
DECODER_INIT = {
    **{k: v for k, v in ENCODER_INIT.items() if k.startswith("self_attn")},
    "cross_attn.W_q": -0.736196573776,
    "cross_attn.W_k": -0.442650600104,
    "cross_attn.W_v": 0.354976044656,
    "cross_attn.W_o": 2.46820032425,
    "ffn.W_1": -1.092961858455,
    "ffn.W_2": 0.09002368501,
}


@pytest.mark.parametrize(
    ("make", "names", "expected", "next_draw"),
    [
        (
            lambda g: TransformerEncoderLayer(
                8, 2, d_ff=12, dropout=0.1, rng=g, rope_base=100.0, dtype=np.float64
            ),
            ATTN + FFN + NORMS[:4],
            ENCODER_INIT,
            0.27403798244452593,
        ),
        (
            lambda g: TransformerDecoderLayer(8, 2, d_ff=12, dropout=0.1, rng=g, dtype=np.float64),
            ATTN + CROSS + FFN + NORMS,
            DECODER_INIT,
            0.24693535035619463,
        ),
    ],
)
def test_seeded_initialisation_is_unchanged(make, names, expected, next_draw):
    g = np.random.default_rng(123)
    sums = weight_checksums(make(g))
    assert [name for name, _ in sums] == names
    for name, value in sums:
        if name in expected:
            assert value == pytest.approx(expected[name], rel=1e-10, abs=1e-12), name
        elif "gamma" in name:  # LayerNorm gains start at one, biases at zero
            assert value == pytest.approx(np.sin(np.arange(1.0, 9)).sum(), rel=1e-12), name
        else:
            assert value == 0.0, name
    assert g.random() == next_draw  # the generator (shared with dropout) ends in the same state
