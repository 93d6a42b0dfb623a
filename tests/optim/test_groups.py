"""decay_groups: weight matrices decayed; biases, norm gains/shifts and embeddings not."""

import numpy as np
import pytest

from npml import models, nn
from npml.nn import Module, Parameter
from npml.optim import AdamW, decay_groups


def _names(groups):
    return [sorted(n for n, _ in g["params"]) for g in groups]


class Block(Module):
    def __init__(self):
        self.W_q = Parameter(np.zeros((4, 4)))  # a matrix: decays by default
        self.b_q = Parameter(np.zeros(4))  # a vector: does not
        self.gamma = Parameter(np.ones(4), decay=False)
        self.beta = Parameter(np.zeros(4), decay=False)


class MyEmbedding(Module):
    def __init__(self):
        self.table = Parameter(np.zeros((10, 4)), decay=False, embedding=True)


class Toy(Module):
    def __init__(self):
        self.tok = MyEmbedding()
        self.W_pos_emb = Parameter(np.zeros((8, 4)), decay=False, embedding=True)
        self.blocks = [Block(), Block()]
        self.scale = Parameter(np.ones((1, 4)), decay=False)  # 2-D, but its layer says no
        self.W_out = Parameter(np.zeros((4, 10)))
        self.b = Parameter(np.zeros(10))
        self.member = Block()  # the old name rule took "member" for an embedding


def test_toy_module_is_split_by_each_parameters_decay_attribute():
    decay, no_decay = decay_groups(Toy(), 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert _names([decay]) == [["W_out", "blocks.0.W_q", "blocks.1.W_q", "member.W_q"]]
    assert "tok.table" in _names([no_decay])[0] and "W_pos_emb" in _names([no_decay])[0]
    assert {"blocks.0.b_q", "blocks.1.gamma", "scale", "b"} <= set(_names([no_decay])[0])


def test_decay_embeddings_flag_adds_the_tables_marked_as_embeddings_only():
    decay, no_decay = decay_groups(Toy(), 0.1, decay_embeddings=True)
    assert {"tok.table", "W_pos_emb", "member.W_q"} <= set(_names([decay])[0])
    assert {"member.gamma", "scale", "b"} <= set(_names([no_decay])[0])


def test_parameter_decay_default_and_validation():
    assert Parameter(np.zeros((2, 3))).decay and not Parameter(np.zeros(3)).decay
    assert not Parameter(np.zeros((2, 3)), embedding=True).decay
    assert Parameter(np.zeros(3), decay=True).decay
    with pytest.raises(TypeError, match="decay='yes'"):
        Parameter(np.zeros(3), decay="yes")
    with pytest.raises(TypeError, match="embedding=1"):
        Parameter(np.zeros(3), embedding=1)
    with pytest.raises(TypeError, match="decay_embeddings='no'"):
        decay_groups(Toy(), 0.1, decay_embeddings="no")


def test_every_parameter_lands_in_exactly_one_group_and_the_optimizer_accepts_them():
    model = Toy()
    groups = decay_groups(model, 0.3)
    names = sum(_names(groups), [])
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    opt = AdamW(groups, lr=0.1)
    for p in model.parameters():
        p.data[...] = 1.0
        p.grad = np.zeros_like(p.data)
    opt.step()  # zero gradients: only the decay moves anything
    np.testing.assert_allclose(model.W_out.data, 1 - 0.1 * 0.3)
    np.testing.assert_array_equal(model.b.data, 1.0)


def test_real_layers():
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
