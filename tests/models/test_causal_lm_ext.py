"""CausalLM extensions for in-context RL and world models: loss masks, hidden states, heads."""

import numpy as np
import pytest

from npml.models import CausalLM
from npml.models.training import lm_loss
from npml.nn.losses import softmax_cross_entropy_forward
from npml.testing import check_gradient

V, D = 7, 8


def tiny_lm(heads=None, tie=True, positional="rope", seed=1, **kw):
    # a larger init than GPT-2's 0.02 so that every path (attention scores too) matters
    kw = {"max_len": 6, "init_std": 0.5, "d_ff": 8, **kw}
    return CausalLM(
        V, D, 2, 2, positional=positional, tie_embeddings=tie, rng=seed, dtype=np.float64,
        heads=heads, **kw,
    )  # fmt: skip


def weighted_objective(model, ids, dlogits, dhidden, dheads):
    """sum(logits * dlogits) + sum(hidden * dhidden) + sum_k sum(head_k * dheads_k)."""
    out = model.forward_outputs(ids)
    total = 0.0
    if dlogits is not None:
        total += float(np.sum(out.logits * dlogits))
    if dhidden is not None:
        total += float(np.sum(out.hidden * dhidden))
    for name, g in (dheads or {}).items():
        total += float(np.sum(out.heads[name] * g))
    return total


# awkward shapes: T=1, odd B, both positional modes and both output projections; gradients
# w.r.t. the logits alone, the hidden states alone, the heads alone and all together
@pytest.mark.parametrize(
    ("B", "T", "positional", "tie", "which"),
    [
        (3, 5, "rope", True, "all"),
        (1, 1, "learned", False, "all"),
        (2, 4, "rope", False, "hidden"),
        (3, 3, "learned", True, "heads"),
    ],
)
def test_gradient_with_hidden_and_heads(rng, B, T, positional, tie, which):
    heads = {"value": 1, "reward": 1, "done": 2}
    model = tiny_lm(heads, tie, positional)
    ids = rng.integers(0, V, size=(B, T))
    dlogits = rng.standard_normal((B, T, V)) if which == "all" else None
    dhidden = rng.standard_normal((B, T, D)) if which in ("all", "hidden") else None
    dheads = None
    if which in ("all", "heads"):
        dheads = {"reward": rng.standard_normal((B, T, 1)), "done": rng.standard_normal((B, T, 2))}
    out = model.forward_outputs(ids)
    assert out.logits.shape == (B, T, V) and out.hidden.shape == (B, T, D)
    assert {k: v.shape for k, v in out.heads.items()} == {
        "value": (B, T, 1),
        "reward": (B, T, 1),
        "done": (B, T, 2),
    }
    model.zero_grad()
    model.backward(dlogits, dhidden=dhidden, dheads=dheads)
    for name, p in model.named_parameters():
        err = check_gradient(
            lambda _: weighted_objective(model, ids, dlogits, dhidden, dheads), p.data, p.grad
        )
        assert err < 1e-6, f"{name}: relative error {err:.2e}"
        if name.startswith("heads.value") or (name.startswith("heads.") and which == "hidden"):
            np.testing.assert_array_equal(p.grad, 0.0)  # no gradient reached these heads


@pytest.mark.parametrize("tie", [True, False])
def test_masked_loss_gradient(rng, tie):
    model = tiny_lm(tie=tie)
    x = rng.integers(0, V, size=(3, 5))
    y = rng.integers(0, V, size=(3, 5))
    mask = rng.random((3, 5)) < 0.4
    mask[0, 0] = True
    model.zero_grad()
    loss = lm_loss(model, x, y, mask=mask)
    # the masked mean: the plain cross-entropy of the kept positions alone
    logits = model.forward(x)
    expected, _ = softmax_cross_entropy_forward(logits[mask], y[mask])
    assert loss == pytest.approx(expected, rel=1e-12)
    for name, p in model.named_parameters():
        err = check_gradient(lambda _: lm_loss(model, x, y, False, mask), p.data, p.grad)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_mask_changes_only_what_it_should(rng):
    model = tiny_lm()
    x = rng.integers(0, V, size=(2, 6))
    y = rng.integers(0, V, size=(2, 6))
    model.zero_grad()
    full = lm_loss(model, x, y)
    g_full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    assert lm_loss(model, x, y, mask=np.ones((2, 6), bool)) == full  # all True: unchanged
    for g, p in zip(g_full, model.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, g)
    # the last position's target is masked out: changing it changes nothing
    mask = np.ones((2, 6), bool)
    mask[:, -1] = False
    y2 = y.copy()
    y2[:, -1] = (y[:, -1] + 1) % V
    assert lm_loss(model, x, y, False, mask) == lm_loss(model, x, y2, False, mask)
    model.zero_grad()
    assert lm_loss(model, x, y, mask=np.zeros((2, 6), bool)) == 0.0  # nothing kept
    assert all(not p.grad.any() for p in model.parameters())


def test_heads_do_not_change_the_base_model(rng):
    ids = rng.integers(0, V, size=(2, 5))
    plain, with_heads = tiny_lm(), tiny_lm({"reward": 1})
    for (n1, p1), (n2, p2) in zip(
        plain.named_parameters(), with_heads.named_parameters(), strict=False
    ):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
    names = [n for n, _ in with_heads.named_parameters()]
    assert names[-2:] == ["heads.reward.W", "heads.reward.b"]
    np.testing.assert_array_equal(plain.forward(ids), with_heads.forward(ids))
    out = plain.forward_outputs(ids)
    assert out.heads == {}
    # hidden is the final LayerNorm's output: the logits are h E^T
    np.testing.assert_allclose(out.logits, out.hidden @ plain.tok_emb.W.data.T, atol=1e-12)


def test_heads_with_kv_cache_match_full_recompute(rng):
    model = tiny_lm({"value": 1, "done": 2}, max_len=8)
    ids = rng.integers(0, V, size=(2, 7))
    full = model.forward_outputs(ids)
    caches = model.new_kv_caches()
    parts = [model.forward_outputs(ids[:, a:b], caches) for a, b in [(0, 3), (3, 4), (4, 7)]]
    np.testing.assert_allclose(np.concatenate([p.hidden for p in parts], 1), full.hidden)
    for name in ("value", "done"):
        got = np.concatenate([p.heads[name] for p in parts], 1)
        np.testing.assert_allclose(got, full.heads[name], atol=1e-12)


def test_state_dict_round_trip_with_heads(tmp_path, rng):
    model = tiny_lm({"reward": 1, "done": 2})
    path = tmp_path / "lm.npz"
    model.save(path)
    other = tiny_lm({"reward": 1, "done": 2}, seed=5)
    other.load(path)
    ids = rng.integers(0, V, size=(1, 4))
    a, b = model.forward_outputs(ids), other.forward_outputs(ids)
    for name in ("reward", "done"):
        np.testing.assert_array_equal(a.heads[name], b.heads[name])


def test_float32_heads_get_float32_gradients(rng):
    model = CausalLM(V, D, 2, 1, 4, rng=0, heads={"r": 3})
    out = model.forward_outputs(rng.integers(0, V, size=(2, 4)))
    assert out.heads["r"].dtype == np.float32 and out.hidden.dtype == np.float32
    model.backward(dheads={"r": np.ones((2, 4, 3))})  # float64 gradient, cast
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_bad_input(rng):
    with pytest.raises(TypeError, match="heads"):
        tiny_lm(heads=[("reward", 1)])
    with pytest.raises(ValueError, match="heads"):
        tiny_lm(heads={"not a name": 1})
    with pytest.raises(ValueError, match="heads"):
        tiny_lm(heads={"_private": 1})
    with pytest.raises(ValueError, match="reward"):
        tiny_lm(heads={"reward": 0})
    model = tiny_lm({"reward": 1})
    ids = rng.integers(0, V, size=(2, 3))
    model.forward(ids)
    with pytest.raises(ValueError, match="no gradient"):
        model.backward()
    with pytest.raises(ValueError, match="dhidden"):
        model.backward(dhidden=np.ones((2, 3, D + 1)))
    with pytest.raises(ValueError, match="'value'"):
        model.backward(dheads={"value": np.ones((2, 3, 1))})
    model.zero_grad()
    with pytest.raises(ValueError, match="dheads\\['reward'\\]"):
        model.backward(np.ones((2, 3, V)), dheads={"reward": np.ones((2, 3, 2))})
    assert all(not p.grad.any() for p in model.parameters())  # checked before accumulating
    with pytest.raises(ValueError, match="mask"):
        lm_loss(model, ids, ids, mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="mask"):
        lm_loss(model, ids, ids, mask=np.ones((2, 3)))
