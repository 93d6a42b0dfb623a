"""decay_groups: weight matrices decayed; biases, norm gains/shifts and embeddings not."""

import numpy as np
import pytest

from npml.nn import Module, Parameter
from npml.optim import AdamW, decay_groups


def _names(groups):
    return [sorted(n for n, _ in g["params"]) for g in groups]


class Block(Module):
    def __init__(self):
        self.W_q = Parameter(np.zeros((4, 4)))
        self.b_q = Parameter(np.zeros(4))
        self.gamma = Parameter(np.ones(4))
        self.beta = Parameter(np.zeros(4))


class MyEmbedding(Module):  # class name ends in "Embedding": an embedding table
    def __init__(self):
        self.table = Parameter(np.zeros((10, 4)))


class RMSNorm(Module):  # class name ends in "Norm": its gain is not decayed
    def __init__(self):
        self.scale = Parameter(np.ones(4))


class Toy(Module):
    def __init__(self):
        self.tok = MyEmbedding()
        self.W_pos_emb = Parameter(np.zeros((8, 4)))  # "emb" in the name
        self.blocks = [Block(), Block()]
        self.norm = RMSNorm()
        self.W_out = Parameter(np.zeros((4, 10)))
        self.b = Parameter(np.zeros(10))
        self.member = Block()  # "member" contains "emb": documented false positive


def test_toy_module_is_split_by_the_documented_rule():
    decay, no_decay = decay_groups(Toy(), 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert _names([decay]) == [["W_out", "blocks.0.W_q", "blocks.1.W_q"]]
    assert "tok.table" in _names([no_decay])[0] and "W_pos_emb" in _names([no_decay])[0]
    assert {"blocks.0.b_q", "blocks.1.gamma", "norm.scale", "b"} <= set(_names([no_decay])[0])


def test_decay_embeddings_flag():
    decay, _ = decay_groups(Toy(), 0.1, decay_embeddings=True)
    assert {"tok.table", "W_pos_emb", "member.W_q"} <= set(_names([decay])[0])
    assert "member.gamma" not in _names([decay])[0]


def test_every_parameter_lands_in_exactly_one_group_and_the_optimizer_accepts_them():
    model = Toy()
    groups = decay_groups(model, 0.3)
    names = sum(_names(groups), [])
    assert sorted(names) == sorted(n for n, _ in model.parameters())
    opt = AdamW(groups, lr=0.1)
    for _, p in model.parameters():
        p.data[...] = 1.0
        p.grad = np.zeros_like(p.data)
    opt.step()  # zero gradients: only the decay moves anything
    np.testing.assert_allclose(model.W_out.data, 1 - 0.1 * 0.3)
    np.testing.assert_array_equal(model.b.data, 1.0)


def test_real_layers():
    nn = pytest.importorskip("npml.nn")
    if not all(hasattr(nn, c) for c in ("Linear", "LayerNorm", "Embedding")):
        pytest.skip("npml.nn layers not available")

    class Net(Module):
        def __init__(self):
            self.emb = nn.Embedding(10, 4, rng=0)
            self.pos = nn.LearnedPositionalEmbedding(6, 4, rng=0)
            self.ln = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 3, rng=0)
            self.attn = nn.MultiHeadAttention(4, 2, bias=True, rng=0)

    decay, no_decay = _names(decay_groups(Net(), 0.1))
    assert decay == ["attn.W_k", "attn.W_o", "attn.W_q", "attn.W_v", "fc.W"]
    assert no_decay == sorted(
        ["emb.W", "pos.W", "ln.gamma", "ln.beta", "fc.b", "attn.b_q", "attn.b_k", "attn.b_v",
         "attn.b_o"]
    )  # fmt: skip


def test_tied_output_projection_follows_the_embedding_rule():
    models = pytest.importorskip("npml.models")
    model = models.CausalLM(vocab_size=13, d_model=8, n_heads=2, n_layers=1, max_len=5, rng=0)
    decay, no_decay = _names(decay_groups(model, 0.1))
    assert "tok_emb.W" in no_decay and "tok_emb.W" not in decay
    assert decay and all(n.split(".")[-1].startswith("W") for n in decay)
    decay, _ = _names(decay_groups(model, 0.1, decay_embeddings=True))
    assert "tok_emb.W" in decay


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected an npml.nn.Module"):
        decay_groups([Parameter(np.zeros(1))], 0.1)
    with pytest.raises(ValueError, match="weight_decay=-0.1"):
        decay_groups(Toy(), -0.1)
