import numpy as np
import pytest

from npml.nn.attention import scaled_dot_product_attention
from npml.nn.mha import MHAGrads, mha_backward, mha_forward
from npml.nn.multihead import KVCache, MultiHeadAttention, MultiHeadCrossAttention
from npml.testing import check_gradient, numerical_gradient


@pytest.mark.parametrize("D, H", [(4, 1), (6, 3), (12, 4), (64, 8)])
def test_parameter_counts(D, H):
    assert MultiHeadAttention(D, H, rng=0, dtype=np.float64).n_params() == 4 * D**2
    assert (
        MultiHeadAttention(D, H, bias=True, rng=0, dtype=np.float64).n_params() == 4 * D**2 + 4 * D
    )
    names = [
        n
        for n, _ in MultiHeadAttention(D, H, bias=True, rng=0, dtype=np.float64).named_parameters()
    ]
    assert sorted(names) == sorted(["W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o"])


def test_one_head_is_plain_attention_of_the_projections(rng):
    m = MultiHeadAttention(5, 1, rng=3, dtype=np.float64)
    x = rng.standard_normal((2, 4, 5))
    q, k, v = x @ m.W_q.data, x @ m.W_k.data, x @ m.W_v.data
    expected = scaled_dot_product_attention(q, k, v, causal=True) @ m.W_o.data
    np.testing.assert_allclose(m(x, causal=True), expected, atol=1e-13)


def test_heads_attend_independently(rng):
    # Changing the key projection of head 1 does not change head 0's output before W_o.
    m = MultiHeadAttention(4, 2, rng=4, dtype=np.float64)
    m.W_o.data[...] = np.eye(4)
    x = rng.standard_normal((1, 3, 4))
    y = m(x)
    m.W_k.data[:, 2:] += 1.0
    y2 = m(x)
    np.testing.assert_allclose(y[..., :2], y2[..., :2], atol=1e-14)
    assert not np.allclose(y[..., 2:], y2[..., 2:])


@pytest.mark.parametrize("rope", [None, 10000.0])
@pytest.mark.parametrize("bias", [False, True])
def test_kv_cache_matches_full_causal_forward(rng, rope, bias):
    m = MultiHeadAttention(8, 2, bias=bias, rope_base=rope, rng=5, dtype=np.float64)
    x = rng.standard_normal((2, 7, 8))
    full = m(x, causal=True)
    cache = KVCache()
    steps = [m(x[:, t : t + 1], causal=True, kv_cache=cache) for t in range(7)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-13)
    assert cache.length == 7 and cache.k.shape == (2, 2, 7, 4)
    # chunks of several tokens (a prompt, then single tokens) work too
    cache = KVCache()
    chunks = [m(x[:, :4], causal=True, kv_cache=cache), m(x[:, 4:5], causal=True, kv_cache=cache)]
    chunks.append(m(x[:, 5:], causal=True, kv_cache=cache))
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), full, atol=1e-13)
    with pytest.raises(RuntimeError, match="kv_cache"):
        m.backward(np.ones_like(full[:, 5:]))
    cache.reset()
    assert cache.length == 0 and cache.k is None


def test_kv_cache_grows_past_its_first_capacity(rng):
    m = MultiHeadAttention(4, 2, rope_base=100.0, rng=6, dtype=np.float64)
    x = rng.standard_normal((1, 40, 4))
    cache = KVCache()
    steps = [m(x[:, t : t + 1], causal=True, kv_cache=cache) for t in range(40)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), m(x, causal=True), atol=1e-13)


def test_cross_attention_kv_cache_reuses_the_context(rng):
    m = MultiHeadCrossAttention(6, 3, bias=True, rng=7, dtype=np.float64)
    x, c = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    full = m(x, c)
    cache = KVCache()
    steps = [m(x[:, t : t + 1], c, kv_cache=cache) for t in range(4)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-13)
    assert cache.length == 5  # the context was stored once


def test_rope_positions_argument(rng):
    m = MultiHeadAttention(8, 2, rope_base=100.0, rng=8, dtype=np.float64)
    x = rng.standard_normal((2, 3, 8))
    y = m(x)
    np.testing.assert_allclose(m(x, positions=np.arange(3)), y, atol=1e-14)
    # shifting every position by the same amount leaves the scores (and outputs) unchanged
    np.testing.assert_allclose(m(x, positions=np.arange(3) + 11), y, atol=1e-12)
    per_batch = m(x, positions=np.array([[0, 1, 2], [5, 6, 7]]))
    np.testing.assert_allclose(per_batch, y, atol=1e-12)
    # but the relative order matters
    assert not np.allclose(m(x, positions=np.array([2, 1, 0])), y)


def test_float32_stays_float32(rng):
    m = MultiHeadAttention(8, 2, bias=True, rope_base=10000.0, rng=9, dtype=np.float32)
    x = rng.standard_normal((1, 5, 8)).astype(np.float32)
    y = m(x, causal=True)
    assert y.dtype == np.float32
    assert m.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        MultiHeadAttention(10, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="head_dim=3.*odd"):
        MultiHeadAttention(6, 2, rope_base=10000.0, dtype=np.float64)
    with pytest.raises(ValueError, match="attn_impl"):
        MultiHeadAttention(6, 2, attn_impl="flash", dtype=np.float64)
    m = MultiHeadAttention(6, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 4, 6))
    with pytest.raises(ValueError, match=r"x has shape \(2, 4, 5\); expected last dimension 6"):
        m(rng.standard_normal((2, 4, 5)))
    with pytest.raises(ValueError, match="x has ndim=2"):
        m(x[0])
    with pytest.raises(ValueError, match=r"mask has shape \(3, 4\).*\(2, 2, 4, 4\)"):
        m(x, mask=np.ones((3, 4), dtype=bool))
    c = MultiHeadCrossAttention(6, 2, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"context has shape \(3, 5, 6\); expected batch size 2"):
        c(x, rng.standard_normal((3, 5, 6)))
    with pytest.raises(ValueError, match=r"context has shape \(2, 5, 4\)"):
        c(x, rng.standard_normal((2, 5, 4)))
    with pytest.raises(TypeError, match="context"):
        m(x, context=x)  # self-attention takes no context: that is MultiHeadCrossAttention
    bad = x.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        m(bad)
    r = MultiHeadAttention(8, 2, rope_base=10.0, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"positions has shape \(5,\)"):
        r(rng.standard_normal((2, 4, 8)), positions=np.arange(5))
    x8, W = rng.standard_normal((2, 4, 8)), np.eye(8)
    with pytest.raises(ValueError, match="RoPE is for self-attention"):
        mha_forward(x8, W, W, W, W, n_heads=2, context=x8[:, :3], rope_base=10.0)
    with pytest.raises(ValueError, match=r"W_v has shape \(8, 6\); expected \(8, 8\)"):
        mha_forward(x8, W, W, W[:, :6], W, n_heads=2)
    with pytest.raises(ValueError, match=r"b_o has shape \(7,\); expected \(8,\)"):
        mha_forward(x8, W, W, W, W, b_o=np.zeros(7), n_heads=2)
    with pytest.raises(ValueError, match="n_heads"):
        mha_forward(x8, W, W, W, W, n_heads=0)
    with pytest.raises(RuntimeError, match="needs a forward"):
        MultiHeadAttention(4, 2, dtype=np.float64).backward(np.ones((1, 2, 4)))
    with pytest.raises(RuntimeError, match="MultiHeadCrossAttention.backward needs a forward"):
        MultiHeadCrossAttention(4, 2, dtype=np.float64).backward(np.ones((1, 2, 4)))


def test_fused_implementation_matches_naive(rng):
    naive = MultiHeadAttention(
        8, 2, bias=True, rope_base=100.0, attn_impl="naive", rng=10, dtype=np.float64
    )
    fused = MultiHeadAttention(
        8, 2, bias=True, rope_base=100.0, attn_impl="fused", rng=10, dtype=np.float64
    )
    x = rng.standard_normal((2, 6, 8))
    mask = rng.random((2, 1, 1, 6)) > 0.3
    mask[..., 0] = True
    np.testing.assert_allclose(
        fused(x, mask=mask, causal=True), naive(x, mask=mask, causal=True), atol=1e-12
    )
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(fused.backward(dout), naive.backward(dout), atol=1e-12)
    for (name, p), (_, q) in zip(fused.named_parameters(), naive.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_against_torch_multihead_attention(rng, bias, cross):
    torch = pytest.importorskip("torch")
    B, T, S, D, H = 2, 4, 6 if cross else 4, 6, 3
    cls = MultiHeadCrossAttention if cross else MultiHeadAttention
    m = cls(D, H, bias=bias, attn_impl="naive", rng=11, dtype=np.float64)
    if bias:
        for name in ("b_q", "b_k", "b_v", "b_o"):
            getattr(m, name).data[...] = rng.standard_normal(D)
    t = torch.nn.MultiheadAttention(D, H, bias=bias, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        # torch computes x @ in_proj_weight.T with in_proj_weight = [W_q^T; W_k^T; W_v^T]
        t.in_proj_weight.copy_(
            torch.tensor(np.concatenate([m.W_q.data, m.W_k.data, m.W_v.data], 1).T)
        )
        t.out_proj.weight.copy_(torch.tensor(m.W_o.data.T))
        if bias:
            t.in_proj_bias.copy_(torch.tensor(np.concatenate([m.b_q.data, m.b_k.data, m.b_v.data])))
            t.out_proj.bias.copy_(torch.tensor(m.b_o.data))
    x = rng.standard_normal((B, T, D))
    c = rng.standard_normal((B, S, D)) if cross else None
    mask = rng.random((B, 1, T, S)) > 0.4
    mask[..., 0] = True  # torch returns NaN for a query with no allowed key
    y = m(x, c, mask=mask) if cross else m(x, mask=mask)
    dout = rng.standard_normal(y.shape)
    m.zero_grad()
    grads = m.backward(dout)
    dx, dc = grads if cross else (grads, None)

    tx = torch.tensor(x, requires_grad=True)
    tc = torch.tensor(c, requires_grad=True) if cross else tx
    # torch's boolean attn_mask means the opposite: True = NOT allowed; shape (B*H, T, S)
    t_mask = torch.tensor(np.broadcast_to(~mask, (B, H, T, S)).reshape(B * H, T, S))
    ty, _ = t(tx, tc, tc, attn_mask=t_mask, need_weights=False)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=1e-10)
    if cross:
        np.testing.assert_allclose(dc, tc.grad.numpy(), rtol=0, atol=1e-10)
    g_in = t.in_proj_weight.grad.numpy()
    for i, name in enumerate(("W_q", "W_k", "W_v")):
        np.testing.assert_allclose(getattr(m, name).grad, g_in[i * D : (i + 1) * D].T, atol=1e-10)
    np.testing.assert_allclose(m.W_o.grad, t.out_proj.weight.grad.numpy().T, atol=1e-10)
    if bias:
        g_b = t.in_proj_bias.grad.numpy()
        for i, name in enumerate(("b_q", "b_k", "b_v")):
            np.testing.assert_allclose(getattr(m, name).grad, g_b[i * D : (i + 1) * D], atol=1e-10)
        np.testing.assert_allclose(m.b_o.grad, t.out_proj.bias.grad.numpy(), atol=1e-10)


# ---- the functional pair ------------------------------------------------------------------
PAIR_CASES = [
    # B, T, S, D, H, cross, rope, causal, masked, biases (which of b_q, b_k, b_v, b_o)
    (1, 1, 1, 4, 2, False, None, False, False, ""),  # T = 1
    (2, 5, 5, 6, 3, False, None, True, False, "qkvo"),  # causal, head_dim 2
    (2, 4, 4, 9, 3, False, None, False, True, "qo"),  # odd head_dim 3, some biases
    (3, 3, 3, 5, 1, False, None, True, True, "v"),  # one head of odd size 5
    (2, 5, 5, 8, 2, False, 100.0, True, True, "qkvo"),  # RoPE with mask and causal
    (1, 1, 1, 4, 2, False, 10.0, False, False, "k"),  # RoPE at T = 1
    (2, 3, 5, 6, 2, True, None, False, True, "qkvo"),  # cross-attention, T_q < T_k
    (2, 4, 1, 9, 3, True, None, False, False, "o"),  # cross, a single key, odd head_dim
    (1, 1, 4, 4, 4, True, None, True, False, ""),  # cross, T_q = 1, head_dim 1, causal
]


@pytest.mark.parametrize("B, T, S, D, H, cross, rope, causal, masked, biases", PAIR_CASES)
def test_pair_gradients(rng, B, T, S, D, H, cross, rope, causal, masked, biases):
    x = rng.standard_normal((B, T, D))
    context = rng.standard_normal((B, S, D)) if cross else None
    Ws = [rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(4)]
    bs = [rng.standard_normal(D) if c in biases else None for c in "qkvo"]
    mask = None
    if masked:
        mask = rng.random((B, 1, T, S)) > 0.4
        mask[..., 0] = True
    kw = dict(n_heads=H, context=context, mask=mask, causal=causal, rope_base=rope)

    def f():
        return mha_forward(x, *Ws, *bs, attn_impl="naive", **kw)[0]

    y, cache = mha_forward(x, *Ws, *bs, attn_impl="naive", **kw)
    assert y.shape == (B, T, D) and not cache.fused
    assert not any(callable(field) for field in cache)  # a cache holds data, not functions
    dout = rng.standard_normal(y.shape)
    grads = mha_backward(dout, cache)
    assert isinstance(grads, MHAGrads)
    assert (grads.dcontext is None) == (not cross)
    inputs = {"x": (x, grads.dx)}
    if cross:
        inputs["context"] = (context, grads.dcontext)
    for name, W, g in zip(("W_q", "W_k", "W_v", "W_o"), Ws, grads[2:6], strict=True):
        inputs[name] = (W, g)
    for name, b, g in zip(("b_q", "b_k", "b_v", "b_o"), bs, grads[6:], strict=True):
        assert (g is None) == (b is None), name
        if b is not None:
            inputs[name] = (b, g)
    zero = set()  # gradients that are exactly zero, compared absolutely below
    if rope is None:
        zero.add("b_k")  # b_k adds q . b_k to a whole score row, which softmax ignores
    if S == 1:  # softmax over a single key is 1 whatever the scores: Q and K get no gradient
        zero |= {"W_q", "W_k", "b_q", "b_k", "x" if cross else ""}
    errors = {}
    for name, (a, g) in inputs.items():
        if name in zero:
            assert np.abs(g).max() < 1e-12, name
            assert np.abs(numerical_gradient(lambda _: f(), a, dout)).max() < 1e-8, name
        else:
            errors[name] = check_gradient(lambda _: f(), a, g, dout)
    assert max(errors.values()) < 1e-6, errors


def test_modules_call_the_pair(rng):
    m = MultiHeadAttention(
        8, 2, bias=True, rope_base=100.0, attn_impl="naive", rng=12, dtype=np.float64
    )
    for p in (m.b_q, m.b_k, m.b_v, m.b_o):
        p.data[...] = rng.standard_normal(8)
    x = rng.standard_normal((2, 5, 8))
    weights = [p.data for p in (m.W_q, m.W_k, m.W_v, m.W_o, m.b_q, m.b_k, m.b_v, m.b_o)]
    y, cache = mha_forward(x, *weights, n_heads=2, causal=True, rope_base=100.0)
    np.testing.assert_array_equal(m(x, causal=True), y)
    dout = rng.standard_normal(y.shape)
    m.zero_grad()
    grads = mha_backward(dout, cache)
    np.testing.assert_array_equal(m.backward(dout), grads.dx)
    for name, g in zip(("W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o"), grads[2:]):
        np.testing.assert_array_equal(getattr(m, name).grad, g, err_msg=name)


def test_self_and_cross_attention_share_parameters(rng):
    # Same names, shapes and draws: a state dict moves between the two modules, and
    # cross-attention of x to itself is self-attention, with dx + dcontext = dx_self.
    s = MultiHeadAttention(6, 3, bias=True, attn_impl="naive", rng=13, dtype=np.float64)
    c = MultiHeadCrossAttention(6, 3, bias=True, attn_impl="naive", rng=13, dtype=np.float64)
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in c.named_parameters()]
    for (_, p), (_, q) in zip(s.named_parameters(), c.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    s.W_q.data += 0.1
    s.b_v.data += 0.2
    c.load_state_dict(s.state_dict())
    x = rng.standard_normal((2, 4, 6))
    np.testing.assert_allclose(c(x, x), s(x), atol=1e-14)
    dout = rng.standard_normal(x.shape)
    dx, dcontext = c.backward(dout)
    np.testing.assert_allclose(dx + dcontext, s.backward(dout), atol=1e-13)


def test_pair_with_kv_cache_returns_no_cache(rng):
    x, W = rng.standard_normal((1, 3, 4)), rng.standard_normal((4, 4))
    y, cache = mha_forward(x, W, W, W, W, n_heads=2, causal=True, kv_cache=KVCache())
    assert cache is None and y.shape == x.shape


def test_fused_flag_picks_the_backward(rng):
    x = rng.standard_normal((2, 6, 8))
    Ws = [rng.standard_normal((8, 8)) / 3 for _ in range(4)]
    kw = dict(n_heads=2, causal=True, rope_base=100.0)
    y_f, c_f = mha_forward(x, *Ws, attn_impl="fused", **kw)
    y_n, c_n = mha_forward(x, *Ws, attn_impl="naive", **kw)
    assert c_f.fused and not c_n.fused
    np.testing.assert_allclose(y_f, y_n, atol=1e-12)
    dout = rng.standard_normal(y_f.shape)
    for a, b in zip(mha_backward(dout, c_f), mha_backward(dout, c_n), strict=True):
        if a is None:
            assert b is None
        else:
            np.testing.assert_allclose(a, b, atol=1e-12)
