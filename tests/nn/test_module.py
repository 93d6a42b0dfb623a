import os

import numpy as np
import pytest

from npml._module import Module, Parameter, load_npz, save_npz


class Leaf(Module):
    def __init__(self, rng, shape=(3, 2)):
        self.W = Parameter(rng.standard_normal(shape))
        self.b = Parameter(np.zeros(shape[-1]))
        self.not_a_param = np.ones(4)  # plain arrays are not parameters


class Tree(Module):
    def __init__(self, rng):
        self.embed = Leaf(rng, (5, 2))
        self.blocks = [Leaf(rng), Leaf(rng)]
        self.head = Leaf(rng, (2, 5))
        self.head.W = self.embed.W  # tied: the same Parameter object twice ...
        self.scale = Parameter(np.ones(1))


def test_parameter_names_are_dotted_and_shared_ones_appear_once(rng):
    tree = Tree(rng)
    names = [n for n, _ in tree.named_parameters()]
    assert names == [
        "scale",
        "embed.W",
        "embed.b",
        "blocks.0.W",
        "blocks.0.b",
        "blocks.1.W",
        "blocks.1.b",
        "head.b",  # ... so head.W is not listed again
    ]
    assert tree.n_params() == 1 + (10 + 2) + 2 * (6 + 2) + 5
    assert len(list(tree.modules())) == 5


def test_parameters_children_follow_torch(rng):
    tree = Tree(rng)
    params = list(tree.parameters())
    assert all(isinstance(p, Parameter) for p in params)
    assert [id(p) for p in params] == [id(p) for _, p in tree.named_parameters()]
    assert [n for n, _ in tree.named_children()] == ["embed", "blocks.0", "blocks.1", "head"]
    assert list(tree.children()) == [tree.embed, *tree.blocks, tree.head]
    assert [n for n, _ in tree.embed.named_parameters(prefix="embed.")] == ["embed.W", "embed.b"]


def test_nn_module_is_the_ground_floor_module():
    import npml.nn
    import npml.nn.module

    assert npml.nn.Module is Module and npml.nn.module.Parameter is Parameter


def test_zero_grad_and_accumulate(rng):
    tree = Tree(rng)
    tree.embed.W.accumulate(np.ones((5, 2)))
    tree.head.W.accumulate(np.ones((5, 2)))  # the tied parameter receives both
    np.testing.assert_array_equal(tree.embed.W.grad, 2.0)
    tree.zero_grad()
    assert all(p.grad is not None and not p.grad.any() for p in tree.parameters())
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) for a parameter of shape"):
        tree.scale.accumulate(np.ones(2))


def test_state_dict_is_a_copy_and_round_trips(rng):
    a, b = Tree(rng), Tree(rng)
    state = a.state_dict()
    state["embed.W"][...] = 0  # a copy: the module is unchanged
    assert a.embed.W.data.any()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    assert b.head.W is b.embed.W  # loading keeps the tie


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_is_bit_exact(rng, tmp_path, dtype):
    a, b = Tree(rng), Tree(rng)
    for p in a.parameters():
        p.data = (p.data * np.pi + 1e-300).astype(dtype)  # awkward values
    for p in b.parameters():
        p.data = p.data.astype(dtype)
    path = tmp_path / "model.npz"
    a.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind
    b.load(path)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert q.data.dtype == dtype
        assert p.data.tobytes() == q.data.tobytes(), n


def test_load_rejects_missing_unexpected_and_misshapen(rng, tmp_path):
    tree = Tree(rng)
    state = tree.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    state["embed.W"] += 1.0  # loading a valid part of this must not happen on failure
    path = tmp_path / "bad.npz"
    missing = {k: v for k, v in state.items() if k != "blocks.1.b"}
    save_npz(path, missing)
    with pytest.raises(ValueError, match=r"missing \['blocks.1.b'\]"):
        tree.load(path)
    save_npz(path, {**state, "extra": np.ones(1)})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        tree.load(path)
    save_npz(path, {**state, "head.b": np.ones(4)})
    with pytest.raises(ValueError, match=r"state\['head.b'\] has shape \(4,\); expected \(5,\)"):
        tree.load(path)
    for name, p in tree.named_parameters():  # failed loads change nothing
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_npz_helpers(tmp_path):
    with pytest.raises(ValueError, match="ending in .npz"):
        save_npz(tmp_path / "x.txt", {"a": np.ones(1)})
    with pytest.raises(TypeError, match="dtype object"):
        save_npz(tmp_path / "x.npz", {"a": np.array([{}], dtype=object)})
    save_npz(tmp_path / "x.npz", {"a": np.arange(3.0)})
    np.testing.assert_array_equal(load_npz(tmp_path / "x.npz")["a"], np.arange(3.0))


def test_parameter_and_modes(rng):
    with pytest.raises(TypeError, match="expected a float array"):
        Parameter(np.arange(3))
    tree = Tree(rng)
    tree.eval()
    assert not any(m.training for m in tree.modules())
    tree.train()
    assert all(m.training for m in tree.modules())
    assert "n_params=" in repr(tree)
