"""CausalLM: gradients of every parameter, causality, KV-cache decoding, sampling, save/load."""

import numpy as np
import pytest

from npml.models import CausalLM
from npml.models.causal_lm import _sample
from npml.testing import check_gradient

POSITIONAL = ["rope", "learned"]


def tiny_lm(positional="rope", tie=True, dtype=np.float64, seed=0, **kw):
    kw = {"max_len": 6, **kw}
    return CausalLM(
        7, 8, 2, 2, positional=positional, tie_embeddings=tie, rng=seed, dtype=dtype, **kw
    )


# both positional modes, and both tied and untied output projections
@pytest.mark.parametrize(("positional", "tie"), [("rope", True), ("learned", False)])
def test_gradient_of_every_parameter(rng, positional, tie):
    # a larger init than GPT-2's 0.02 so that every path (attention scores too) matters
    model = tiny_lm(positional, tie, init_std=0.5, seed=1, d_ff=8)
    ids = rng.integers(0, 7, size=(2, 5))
    dout = rng.standard_normal((2, 5, 7))
    model.forward(ids)
    model.zero_grad()
    model.backward(dout)
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == (3 + 2 * 12 + (1 if positional == "learned" else 0) + (0 if tie else 1))
    for name, p in model.named_parameters():
        err = check_gradient(lambda _: model.forward(ids), p.data, p.grad, dout)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_tied_embedding_gets_both_contributions(rng):
    model = tiny_lm("rope", tie=True, init_std=0.5)
    ids = rng.integers(0, 7, size=(1, 4))
    dout = rng.standard_normal((1, 4, 7))
    model.forward(ids)
    model.zero_grad()
    model.backward(dout)
    # the output half alone, h^T dz, differs from the total: the lookup half is non-zero
    out_half = dout.reshape(-1, 7).T @ model._h.reshape(-1, 8)
    assert not np.allclose(model.tok_emb.W.grad, out_half)
    assert model.lm_head is None and model.n_params() == sum(p.size for p in model.parameters())


@pytest.mark.parametrize("positional", POSITIONAL)
def test_causality(rng, positional):
    model = tiny_lm(positional, init_std=0.5, max_len=8)
    ids = rng.integers(0, 7, size=(2, 8))
    logits = model.forward(ids)
    for t in range(7):
        changed = ids.copy()
        changed[:, t + 1 :] = (changed[:, t + 1 :] + 1 + np.arange(7 - t)) % 7
        new = model.forward(changed)
        np.testing.assert_array_equal(new[:, : t + 1], logits[:, : t + 1])
        assert not np.allclose(new[:, t + 1 :], logits[:, t + 1 :])


@pytest.mark.parametrize("positional", POSITIONAL)
@pytest.mark.parametrize("chunks", [(1,) * 8, (3, 1, 4), (8,)])
def test_kv_cache_matches_full_recompute(rng, positional, chunks):
    model = tiny_lm(positional, init_std=0.5, max_len=8)
    ids = rng.integers(0, 7, size=(2, 8))
    full = model.forward(ids)
    caches = model.new_kv_caches()
    pieces, start = [], 0
    for n in chunks:
        pieces.append(model.forward(ids[:, start : start + n], caches))
        start += n
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="exceeds max_len=8"):
        model.forward(ids[:, :1], caches)
    with pytest.raises(RuntimeError, match="kv_caches"):
        model.backward(np.ones_like(full[:, :1]))


@pytest.mark.parametrize("positional", POSITIONAL)
def test_generate_greedy_matches_recompute(rng, positional):
    model = tiny_lm(positional, init_std=0.5, max_len=6)
    prompt = rng.integers(0, 7, size=(2, 2))
    out = model.generate(prompt, 9, temperature=0)  # runs past max_len=6: cropped context
    assert out.shape == (2, 11)
    np.testing.assert_array_equal(out[:, :2], prompt)
    for t in range(2, 11):
        context = out[:, max(0, t - 6) : t]
        np.testing.assert_array_equal(out[:, t], model.forward(context)[:, -1].argmax(-1))
    np.testing.assert_array_equal(model.generate(prompt, 9, top_k=1, rng=3), out)


def test_generate_sampling_is_reproducible_and_respects_top_k(rng):
    model = tiny_lm("rope", init_std=0.5, max_len=6)
    prompt = np.array([1, 2, 3])
    a = model.generate(prompt, 3, temperature=1.5, rng=5)
    b = model.generate(prompt, 3, temperature=1.5, rng=5)
    assert a.shape == (6,) and a.dtype.kind == "i"
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.generate(prompt, 0), prompt)
    for seed in range(20):
        out = model.generate(prompt, 1, top_k=2, rng=seed)
        top2 = np.argsort(model.forward(prompt[None])[0, -1])[-2:]
        assert out[-1] in top2


def test_sampler_frequencies_follow_softmax_with_temperature():
    logits = np.array([[0.0, 1.0, 2.0, -np.inf]])
    rng = np.random.default_rng(0)
    n = 20000
    draws = np.array([_sample(logits, 2.0, None, rng)[0] for _ in range(n)])
    freq = np.bincount(draws, minlength=4) / n
    p = np.exp(np.array([0.0, 0.5, 1.0]))
    p /= p.sum()
    # 4 standard errors of a frequency estimated from n draws
    np.testing.assert_allclose(freq[:3], p, atol=4 * np.sqrt(0.25 / n))
    assert freq[3] == 0
    top2 = np.array([_sample(logits, 1.0, 2, rng)[0] for _ in range(200)])
    assert set(top2.tolist()) == {1, 2}


@pytest.mark.parametrize("positional", POSITIONAL)
def test_save_load_round_trip_is_bit_exact(tmp_path, positional):
    model = tiny_lm(positional, init_std=0.5, seed=1)
    model.tok_emb.W.data += 0.1  # something an untrained fresh model would not have
    path = tmp_path / "lm.npz"
    model.save(path)
    other = tiny_lm(positional, init_std=0.5, seed=2)
    other.load(path)
    for (name, p), (name2, q) in zip(
        model.named_parameters(), other.named_parameters(), strict=True
    ):
        assert name == name2
        np.testing.assert_array_equal(p.data, q.data)
    prompt = np.array([[0, 3], [6, 1]])
    np.testing.assert_array_equal(
        model.generate(prompt, 4, rng=11), other.generate(prompt, 4, rng=11)
    )
    state = model.state_dict()
    del state["norm_f.gamma"]
    with pytest.raises(ValueError, match="norm_f.gamma"):
        other.load_state_dict(state)
    state = model.state_dict()
    state["tok_emb.W"] = np.zeros((7, 9))
    with pytest.raises(ValueError, match="tok_emb.W"):
        other.load_state_dict(state)


def test_float32_model(rng):
    model = tiny_lm("learned", dtype=np.float32)
    ids = rng.integers(0, 7, size=(2, 5))
    logits = model.forward(ids)
    assert logits.dtype == np.float32
    model.zero_grad()
    model.backward(np.ones_like(logits))
    assert all(
        p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters()
    )


def test_bad_input(rng):
    model = tiny_lm(max_len=6)
    with pytest.raises(ValueError, match=r"outside \[0, 7\).*9"):
        model.forward(np.array([[1, 9, 2]]))
    with pytest.raises(ValueError, match=r"outside \[0, 7\).*-1"):
        model.generate(np.array([-1, 2]), 2)
    with pytest.raises(ValueError, match="sequence length 7.*max_len=6"):
        model.forward(np.zeros((1, 7), dtype=int))
    with pytest.raises(ValueError, match="sequence length 7.*max_len=6"):
        model.generate(np.zeros(7, dtype=int), 1)
    with pytest.raises(ValueError, match="ndim"):
        model.forward(np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="positional='alibi'"):
        CausalLM(7, 8, 2, 1, 6, positional="alibi", dtype=np.float64)
    with pytest.raises(ValueError, match="d_model=8 .*n_heads=3|n_heads=3"):
        CausalLM(7, 8, 3, 1, 6, dtype=np.float64)
    with pytest.raises(ValueError, match="top_k=8"):
        model.generate(np.array([1]), 1, top_k=8)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([1]), 1, temperature=-1.0)


# Recorded before the transformer layers shared one builder: CausalLM(7, 8, 2, 2, 6,
# dropout=0.1, rng=default_rng(123)) must keep drawing its initial weights in this order.
LM_INIT = {
    "tok_emb.W": -0.132721622966,
    "blocks.0.self_attn.W_q": -1.084219168416,
    "blocks.0.self_attn.W_k": 2.290538830619,
    "blocks.0.self_attn.W_v": -2.995974611421,
    "blocks.0.self_attn.W_o": 1.584477731746,
    "blocks.0.ffn.W_1": -2.313656033764,
    "blocks.0.ffn.W_2": -0.220910266008,
    "blocks.1.self_attn.W_q": 0.782616849267,
    "blocks.1.self_attn.W_k": -0.936573122445,
    "blocks.1.self_attn.W_v": -1.816748881674,
    "blocks.1.self_attn.W_o": -1.968540149879,
    "blocks.1.ffn.W_1": -0.894133071376,
    "blocks.1.ffn.W_2": 0.799030117152,
}


def test_seeded_initialisation_is_unchanged():
    g = np.random.default_rng(123)
    model = CausalLM(7, 8, 2, 2, 6, dropout=0.1, rng=g, dtype=np.float64)
    block = [f"self_attn.{w}" for w in ("W_q", "W_k", "W_v", "W_o")]
    block += ["ffn.W_1", "ffn.b_1", "ffn.W_2", "ffn.b_2"]
    block += [f"norm{i}.{p}" for i in (1, 2) for p in ("gamma", "beta")]
    names = ["tok_emb.W"] + [f"blocks.{i}.{n}" for i in (0, 1) for n in block]
    names += ["norm_f.gamma", "norm_f.beta"]
    params = list(model.named_parameters())
    assert [name for name, _ in params] == names
    for name, p in params:
        checksum = float(np.dot(p.data.ravel(), np.sin(np.arange(1.0, p.size + 1))))
        if name in LM_INIT:
            assert checksum == pytest.approx(LM_INIT[name], rel=1e-10, abs=1e-12), name
        else:  # LayerNorm gains one, biases zero
            np.testing.assert_array_equal(p.data, 1.0 if "gamma" in name else 0.0, err_msg=name)
    assert g.random() == 0.5093320526151263  # the generator (shared with dropout) ends alike
