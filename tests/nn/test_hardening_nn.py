"""Issues 12 and 14 across npml.nn (and the models built on it): validation done once, every
backward checking its upstream gradient, boolean flags, and messages naming the argument."""

import numpy as np
import pytest

from npml.models import CausalLM, Transformer
from npml.models.training import lm_loss, seq2seq_loss
from npml.nn import (
    Embedding,
    FeedForward,
    Linear,
    MultiHeadAttention,
    MultiHeadCrossAttention,
    SinusoidalPositionalEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    attention_forward,
    causal_mask,
    embedding_forward,
    fused_attention,
    fused_attention_forward,
    linear_forward,
    mha_forward,
    rope_frequencies,
    scaled_dot_product_attention,
    use_fused,
)

F64 = np.float64
R = np.random.default_rng(0)
X = R.standard_normal((2, 3, 4))  # (B, T, D) with B, T, D all different
MEM = R.standard_normal((2, 5, 4))


def _mha_weights(D=4, bias=True):
    rng = np.random.default_rng(1)
    W = [rng.standard_normal((D, D)) / 2 for _ in range(4)]
    b = [rng.standard_normal(D) for _ in range(4)] if bias else [None] * 4
    return W, b


# -- 2. validation once -----------------------------------------------------------------------
NAN_X = X.copy()
NAN_X[1, 2, 3] = np.nan


@pytest.mark.parametrize(
    "call",
    [
        lambda x: MultiHeadAttention(4, 2, rng=0)(x),
        lambda x: MultiHeadAttention(4, 2, rng=0, dtype=F64)(x, causal=True),
        lambda x: MultiHeadCrossAttention(4, 2, rng=0)(x, MEM),
        lambda x: TransformerEncoderLayer(4, 2, rng=0)(x),
        lambda x: TransformerEncoderLayer(4, 2, rng=0, dtype=F64)(x, causal=True),
        lambda x: TransformerDecoderLayer(4, 2, rng=0)(x, MEM),
        lambda x: CausalLM(7, 4, 2, 1, 5, rng=0).blocks[0](x, causal=True),
        lambda x: Transformer(7, 6, 4, 2, 1, 1, 5, rng=0).decode(np.zeros((2, 3), int), x),
    ],
)
def test_nan_input_still_raises_naming_x(call):
    name = "memory" if "decode" in call.__code__.co_names else "x"
    with pytest.raises(ValueError, match=rf"^{name} contains 1 non-finite"):
        call(NAN_X)


def test_nan_memory_raises_naming_memory():
    with pytest.raises(ValueError, match=r"^memory contains 1 non-finite"):
        TransformerDecoderLayer(4, 2, rng=0)(X, NAN_X)


def _count_scans(monkeypatch, min_size):
    """Count np.isfinite calls on arrays of at least ``min_size`` elements (activation scans)."""
    calls = []
    real = np.isfinite

    def counting(x, *args, **kwargs):
        if np.size(x) >= min_size:
            calls.append(np.shape(x))
        return real(x, *args, **kwargs)

    monkeypatch.setattr(np, "isfinite", counting)
    return calls


@pytest.mark.parametrize("attn_impl", ["naive", "fused"])
def test_causal_lm_forward_scans_no_activation_whatever_its_depth(monkeypatch, attn_impl):
    B, T, D = 2, 5, 8
    counts = []
    for n_layers in (1, 4):
        model = CausalLM(11, D, 2, n_layers, T, rng=0, dropout=0.1)
        for block in model.blocks:
            block.self_attn.attn_impl = attn_impl
        ids = np.random.default_rng(0).integers(0, 11, (B, T))
        model.forward(ids)  # compile the kernels first (Numba resolves np.isfinite itself)
        calls = _count_scans(monkeypatch, B * T * D)
        model.forward(ids)
        counts.append(len(calls))
        monkeypatch.undo()
    # ids are integers: nothing float to scan at the top, and no layer scans its input
    assert counts == [0, 0]


def test_a_layer_scans_its_input_once(monkeypatch):
    layer = TransformerDecoderLayer(4, 2, rng=0)
    calls = _count_scans(monkeypatch, X.size)
    layer(X, MEM)
    monkeypatch.undo()
    assert calls == [X.shape, MEM.shape]  # x and memory, at the layer's door only


# -- 3. dout of the wrong shape: checked for every backward by the layer registry
W45 = R.standard_normal((4, 5))
Q, K, V = R.standard_normal((2, 3, 4)), R.standard_normal((2, 5, 4)), R.standard_normal((2, 5, 6))
MW, MB = _mha_weights()

# -- 4. flags are booleans --------------------------------------------------------------------
FLAGS = [  # the forward flags of registered layers are checked by the registry
    ("causal", lambda v: scaled_dot_product_attention(Q, K, V, causal=v)),
    ("causal", lambda v: fused_attention(Q, K, V, causal=v)),
    ("bias", lambda v: Linear(4, 5, bias=v)),
    ("bias", lambda v: FeedForward(4, bias=v)),
    ("bias", lambda v: MultiHeadAttention(4, 2, bias=v)),
    ("bias", lambda v: MultiHeadCrossAttention(4, 2, bias=v)),
    ("norm_first", lambda v: TransformerEncoderLayer(4, 2, norm_first=v)),
    ("norm_first", lambda v: TransformerDecoderLayer(4, 2, norm_first=v)),
    ("norm_first", lambda v: Transformer(7, 6, 4, 2, 1, 1, 5, norm_first=v)),
    ("tie_embeddings", lambda v: CausalLM(7, 4, 2, 1, 5, tie_embeddings=v)),
    (
        "backward",
        lambda v: lm_loss(
            CausalLM(7, 4, 2, 1, 5, rng=0), np.zeros((1, 3), int), np.zeros((1, 3), int), v
        ),
    ),
    (
        "backward",
        lambda v: seq2seq_loss(
            Transformer(7, 6, 4, 2, 1, 1, 5, rng=0),
            np.zeros((1, 3), int),
            np.zeros((1, 2), int),
            np.zeros((1, 2), int),
            v,
        ),
    ),
]


@pytest.mark.parametrize("flag, call", FLAGS)
@pytest.mark.parametrize("value", ["no", 1, None])
def test_flags_must_be_booleans(flag, call, value):
    with pytest.raises(TypeError, match=rf"^{flag}=.*expected True or False"):
        call(value)
    call(np.bool_(True))  # NumPy's bool is a bool


# -- 5. messages that name the argument -------------------------------------------------------
def _huge(dtype):
    return np.full((1, 2, 3, 4), 1e20 if dtype == np.float32 else 1e160, dtype=dtype)


MESSAGES = [
    # functional layers given nonsense weights (lists are converted, see below)
    (lambda: linear_forward(X, "W"), TypeError, r"^W="),
    (lambda: linear_forward(X, W45, "b"), TypeError, r"^b="),
    (lambda: embedding_forward(np.zeros(2, int), None), TypeError, r"^W="),
    (lambda: mha_forward(X, None, *MW[1:], n_heads=2), TypeError, r"^W_q="),
    (lambda: mha_forward(X, *MW, "b", n_heads=2), TypeError, r"^b_q="),
    # empty batches and heads
    (lambda: MultiHeadAttention(4, 2, rng=0)(np.zeros((2, 0, 4))), ValueError, r"^x has shape"),
    (lambda: MultiHeadAttention(4, 2, rng=0)(np.zeros((0, 3, 4))), ValueError, r"^x has shape"),
    (lambda: MultiHeadCrossAttention(4, 2)(X, np.zeros((2, 0, 4))), ValueError, r"^context has"),
    (
        lambda: attention_forward(np.zeros((3, 0)), np.zeros((3, 0)), np.ones((3, 2))),
        ValueError,
        r"^q has shape",
    ),
    (
        lambda: fused_attention(np.zeros((3, 0)), np.zeros((3, 0)), np.ones((3, 2))),
        ValueError,
        r"^q has shape",
    ),
    # backward before forward
    (lambda: CausalLM(7, 4, 2, 1, 5).backward(np.ones((1, 2, 7))), RuntimeError, r"before forward"),
    (
        lambda: Transformer(7, 6, 4, 2, 1, 1, 5).backward(np.ones((1, 2, 6))),
        RuntimeError,
        r"before forward",
    ),
    (lambda: TransformerEncoderLayer(4, 2).backward(X), RuntimeError, r"before forward"),
    (lambda: SinusoidalPositionalEmbedding(6, 4).backward(X), RuntimeError, r"before forward"),
    # ids out of range, not wrapped around by the int cast
    (lambda: Embedding(5, 3)(np.array([[1e20]])), ValueError, r"^ids contains 1 value.*1e\+20"),
    (lambda: Embedding(5, 3)([[2.0, -1e30]]), ValueError, r"^ids contains 1 value.*-1e\+30"),
    (lambda: CausalLM(7, 4, 2, 1, 5)(np.array([[1e20, 1]])), ValueError, r"^ids contains"),
    (
        lambda: CausalLM(7, 4, 2, 1, 5).generate(np.array([3.0, 1e20]), 1),
        ValueError,
        r"^prompt_ids",
    ),
    # the user's names, not the sub-layer's
    (lambda: CausalLM(7, 4, 2, 1, 5, dropout=1.5), ValueError, r"^dropout=1.5"),
    (lambda: Transformer(7, 6, 4, 2, 1, 1, 5, dropout=-0.1), ValueError, r"^dropout=-0.1"),
    (
        lambda: Transformer(7, 6, 4, 2, 1, 1, 5)(np.array([[7, 0]]), np.array([[0]])),
        ValueError,
        r"^src contains",
    ),
    (
        lambda: Transformer(7, 6, 4, 2, 1, 1, 5)(np.array([[1, 0]]), np.array([[6]])),
        ValueError,
        r"^tgt contains",
    ),
    # sizes
    (lambda: causal_mask(2.5, 3), TypeError, r"^T_q=2.5"),
    (lambda: causal_mask(-1, 3), ValueError, r"^T_q=-1"),
    (lambda: causal_mask(3, -2), ValueError, r"^T_k=-2"),
    (lambda: rope_frequencies(5), ValueError, r"^head_dim=5 is odd"),
    (lambda: rope_frequencies(0), ValueError, r"^head_dim=0"),
    (lambda: rope_frequencies(-4), ValueError, r"^head_dim=-4"),
    (lambda: rope_frequencies(2.0), TypeError, r"^head_dim=2.0"),
    (lambda: rope_frequencies(8, base=0.0), ValueError, r"^base=0.0"),
    (lambda: rope_frequencies(8, base=-10.0), ValueError, r"^base=-10.0"),
    (lambda: use_fused(-300, -300, 1), ValueError, r"^T_q=-300"),
    (lambda: use_fused(300, -300, 1), ValueError, r"^T_k=-300"),
    (lambda: use_fused(300, 300, 0), ValueError, r"^D=0"),
    # attention scores that overflow, on both paths
    (lambda: attention_forward(_huge(F64), _huge(F64), _huge(F64)), ValueError, r"scores q k\^T"),
    (lambda: fused_attention(_huge(F64), _huge(F64), _huge(F64)), ValueError, r"scores q k\^T"),
    (lambda: fused_attention(_huge(F64), -_huge(F64), _huge(F64)), ValueError, r"scores q k\^T"),
    (
        lambda: attention_forward(_huge(np.float32), _huge(np.float32), _huge(np.float32)),
        ValueError,
        r"scores q k\^T.*float64",
    ),
    (
        lambda: MultiHeadAttention(4, 2, rng=0, attn_impl="naive")(1e25 * X),
        ValueError,
        r"scores q k\^T",
    ),
    (
        lambda: MultiHeadAttention(4, 2, rng=0, attn_impl="fused")(1e25 * X),
        ValueError,
        r"scores q k\^T",
    ),
]


@pytest.mark.parametrize("call, error, pattern", MESSAGES)
def test_errors_name_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_lists_are_accepted_as_weights():
    y, _ = linear_forward(X, W45.tolist(), [0.5] * 5)
    np.testing.assert_allclose(y, X @ W45 + 0.5)
    np.testing.assert_array_equal(embedding_forward([1, 0], W45.tolist())[0], W45[[1, 0]])
    y_list, _ = mha_forward(X, *[w.tolist() for w in MW], *[b.tolist() for b in MB], n_heads=2)
    np.testing.assert_allclose(y_list, mha_forward(X, *MW, *MB, n_heads=2)[0])


def test_a_fully_masked_row_is_not_an_overflow():
    mask = np.ones((3, 5), bool)
    mask[1] = False
    for attend in (attention_forward, fused_attention_forward):
        out, _ = attend(Q, K, V, mask)
        assert np.all(out[:, 1] == 0) and np.isfinite(out).all()
    # causal with more queries than keys: the first rows see no key
    q = R.standard_normal((2, 6, 4))
    for attend in (attention_forward, fused_attention_forward):
        out, _ = attend(q, K[:, :4], V[:, :4], causal=True)
        assert np.all(out[:, :2] == 0) and np.isfinite(out).all()
