"""float32 by default (as torch), and a module computes in its own dtype whatever the input's.

The training-step tests walk every sub-module's cached arrays (``_cache`` NamedTuples and
any other array attribute), every returned gradient and every ``Parameter.grad``: one
float64 array anywhere would mean a silent promotion (twice the memory, slower BLAS).
"""

import numpy as np
import pytest

from npml._module import Module, Parameter
from npml.models import CausalLM, Transformer
from npml.nn import (
    Embedding,
    LearnedPositionalEmbedding,
    Linear,
    MultiHeadAttention,
    MultiHeadCrossAttention,
    SinusoidalPositionalEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from npml.optim import AdamW
from npml.preference import RewardModel

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

DEFAULTS = [
    lambda: Linear(4, 3, rng=0),
    lambda: Embedding(5, 4, rng=0),
    lambda: LearnedPositionalEmbedding(6, 4, rng=0),
    lambda: MultiHeadAttention(4, 2, bias=True, rng=0),
    lambda: MultiHeadCrossAttention(4, 2, bias=True, rng=0),
    lambda: TransformerEncoderLayer(4, 2, rng=0),
    lambda: TransformerDecoderLayer(4, 2, rng=0),
    lambda: CausalLM(7, 4, 2, 2, 5, rng=0),
    lambda: CausalLM(7, 4, 2, 1, 5, positional="learned", tie_embeddings=False, rng=0),
    lambda: Transformer(7, 6, 4, 2, 1, 1, 5, rng=0),
    lambda: RewardModel(3, (4,), rng=0),
]


@pytest.mark.parametrize("make", DEFAULTS)
def test_default_dtype_is_float32(make):
    assert {p.data.dtype for p in make().parameters()} == {F32}  # every sub-layer's too


def test_sinusoidal_table_is_float32_by_default():
    assert SinusoidalPositionalEmbedding(6, 4).table.dtype == F32
    assert SinusoidalPositionalEmbedding(6, 4, dtype=np.float64).table.dtype == F64


CAST = [
    (lambda dt: Linear(4, 3, rng=0, dtype=dt), lambda x: (x,), (2, 3, 4)),
    (lambda dt: LearnedPositionalEmbedding(6, 4, rng=0, dtype=dt), lambda x: (x,), (2, 3, 4)),
    (lambda dt: SinusoidalPositionalEmbedding(6, 4, dtype=dt), lambda x: (x,), (2, 3, 4)),
    (lambda dt: MultiHeadAttention(4, 2, rng=0, dtype=dt), lambda x: (x,), (2, 3, 4)),
    (lambda dt: MultiHeadCrossAttention(4, 2, rng=0, dtype=dt), lambda x: (x, x), (2, 3, 4)),
    (lambda dt: TransformerEncoderLayer(4, 2, rng=0, dtype=dt), lambda x: (x,), (2, 3, 4)),
    (lambda dt: TransformerDecoderLayer(4, 2, rng=0, dtype=dt), lambda x: (x, x), (2, 3, 4)),
    (lambda dt: RewardModel(4, (3,), rng=0, dtype=dt), lambda x: (x,), (5, 4)),
]


@pytest.mark.parametrize("make, args, shape", CAST)
@pytest.mark.parametrize("module_dtype, input_dtype", [(F32, F64), (F64, F32)])
def test_input_is_cast_to_the_module_dtype(make, args, shape, module_dtype, input_dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(input_dtype)
    assert make(module_dtype)(*args(x)).dtype == module_dtype


# -- walking caches ----------------------------------------------------------------------------
def _float_arrays(value, path):
    """``(path, array)`` for every float array in ``value`` (NamedTuples, tuples, dicts)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            yield path, value
    elif isinstance(value, (Module, Parameter)):
        return  # walked on their own
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _float_arrays(v, f"{path}[{k!r}]")
    elif isinstance(value, tuple):
        names = getattr(value, "_fields", range(len(value)))
        for k, v in zip(names, value, strict=True):
            yield from _float_arrays(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _float_arrays(v, f"{path}[{i}]")
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        for k, v in vars(value).items():  # e.g. the fused attention's MaskLayout
            yield from _float_arrays(v, f"{path}.{k}")


def record_gradients(model, monkeypatch):
    """Collect every gradient a sub-module's ``backward`` returns and every array given to
    ``Parameter.accumulate`` (which would cast a float64 gradient into a float32 ``.grad``
    without a word, so ``.grad`` alone cannot show a promotion)."""
    seen = []
    for m in model.modules():
        if hasattr(m, "backward"):
            name = type(m).__name__

            def wrapped(*args, _inner=m.backward, _name=name, **kwargs):
                out = _inner(*args, **kwargs)
                seen.append((f"{_name}.backward", out))
                return out

            monkeypatch.setattr(m, "backward", wrapped)
    accumulate = Parameter.accumulate

    def recording(self, g):
        seen.append(("Parameter.accumulate", g))
        return accumulate(self, g)

    monkeypatch.setattr(Parameter, "accumulate", recording)
    return seen


def assert_all_float32(model, returned=()):
    """Every cached float array, every returned gradient and every .grad is float32."""
    found = 0
    for i, m in enumerate(model.modules()):
        for name, value in vars(m).items():
            for path, arr in _float_arrays(value, f"{type(m).__name__}#{i}.{name}"):
                assert arr.dtype == F32, f"{path} is {arr.dtype}"
                found += 1
    for name, p in model.named_parameters():
        assert p.data.dtype == F32 and p.grad is not None and p.grad.dtype == F32, name
    for path, arr in _float_arrays(tuple(returned), "returned"):
        assert arr.dtype == F32, f"{path} is {arr.dtype}"
    assert found > 0


@pytest.mark.parametrize(
    "kw",
    [
        dict(positional="rope", tie_embeddings=True, dropout=0.1),
        dict(positional="learned", tie_embeddings=False, dropout=0.0),
    ],
)
@pytest.mark.parametrize("attn_impl", ["naive", "fused"])
def test_float32_training_step_of_a_causal_lm(kw, attn_impl, monkeypatch):
    model = CausalLM(11, 8, 2, 2, 6, rng=0, **kw)
    returned = record_gradients(model, monkeypatch)
    for block in model.blocks:
        block.self_attn.attn_impl = attn_impl
    opt = AdamW(model.parameters(), lr=1e-2)
    ids = np.random.default_rng(1).integers(0, 11, size=(3, 6))
    model.zero_grad()
    logits = model.forward(ids[:, :-1])
    assert logits.dtype == F32
    loss, cache = softmax_cross_entropy_forward(logits, ids[:, 1:])
    # float64 upstream gradient (a loss computed in float64) still gives float32 gradients
    model.backward(softmax_cross_entropy_backward(1.0, cache).astype(np.float64))
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    kinds = [kind for kind, _ in returned]
    assert kinds.count("Parameter.accumulate") >= len(list(model.parameters()))
    assert {"MultiHeadAttention.backward", "TransformerEncoderLayer.backward"} <= set(kinds)
    assert_all_float32(model, [g for _, g in returned])
    assert all(p.data.dtype == F32 for p in model.parameters())
    assert any(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert np.isfinite(float(loss))


def test_float32_layers_fed_float64_keep_float32_caches_and_gradients(monkeypatch):
    rng = np.random.default_rng(2)
    x, memory = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 4, 8))
    enc = TransformerEncoderLayer(8, 2, dropout=0.1, rng=0)
    returned = record_gradients(enc, monkeypatch)
    y = enc(x, causal=True)
    dx = enc.backward(rng.standard_normal(y.shape))  # float64 dy
    assert_all_float32(enc, [y, dx, *(g for _, g in returned)])
    dec = TransformerDecoderLayer(8, 2, norm_first=False, rng=0)
    y = dec(x, memory)
    grads = dec.backward(rng.standard_normal(y.shape))
    assert_all_float32(dec, [y, *grads])
    cross = MultiHeadCrossAttention(8, 2, bias=True, rng=0)
    y = cross(x, memory)
    assert_all_float32(cross, [y, *cross.backward(rng.standard_normal(y.shape))])


def test_float32_training_step_of_the_seq2seq_transformer(monkeypatch):
    model = Transformer(9, 7, 8, 2, 1, 2, 6, dropout=0.1, rng=0)
    returned = record_gradients(model, monkeypatch)
    rng = np.random.default_rng(3)
    src, tgt = rng.integers(0, 9, (2, 5)), rng.integers(0, 7, (2, 4))
    model.zero_grad()
    logits = model(src, tgt, src_key_mask=np.array([[True] * 5, [True] * 3 + [False] * 2]))
    loss, cache = softmax_cross_entropy_forward(logits, tgt)
    model.backward(softmax_cross_entropy_backward(1.0, cache).astype(np.float64))
    AdamW(model.parameters(), lr=1e-2).step()
    assert_all_float32(model, [logits, *(g for _, g in returned)])
