import numpy as np
import pytest

from npml.nn.attention import (
    attention_backward,
    attention_forward,
    causal_mask,
    scaled_dot_product_attention,
)
from npml.ops import softmax
from npml.testing import check_gradient

# (q shape, k shape, v shape, mask shape or None, causal)
CASES = {
    "T=1": ((1, 3), (1, 3), (1, 2), None, False),
    "odd D, T_q != T_k": ((4, 5), (7, 5), (7, 3), None, False),
    "batch and heads": ((2, 3, 4, 6), (2, 3, 4, 6), (2, 3, 4, 5), None, False),
    "causal square": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 3), None, True),
    "causal T_q < T_k": ((2, 3, 3), (2, 6, 3), (2, 6, 4), None, True),
    "causal T_q > T_k (empty rows)": ((1, 6, 3), (1, 4, 3), (1, 4, 2), None, True),
    "padding mask": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), (2, 1, 1, 5), False),
    "mask and causal": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 3), (2, 1, 5, 5), True),
    "k, v shared by heads": ((2, 3, 4, 5), (2, 1, 6, 5), (2, 1, 6, 3), (4, 6), False),
}


def make(rng, case):
    q_shape, k_shape, v_shape, mask_shape, causal = CASES[case]
    q, k, v = (rng.standard_normal(s) for s in (q_shape, k_shape, v_shape))
    mask = None
    if mask_shape is not None:
        mask = rng.random(mask_shape) > 0.35
        if mask_shape[-2] == 1:  # key padding: keep two keys per sequence
            mask[..., :2] = True
        else:  # a fully masked query row
            mask[..., 0, :] = False
    return q, k, v, mask, causal


def naive(q, k, v, mask, causal):
    """Softmax attention written directly from the formula, for comparison."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    allowed = np.ones(s.shape, dtype=bool)
    if mask is not None:
        allowed &= mask
    if causal:
        T_q, T_k = s.shape[-2:]
        i, j = np.arange(T_q)[:, None], np.arange(T_k)[None, :]
        allowed &= j <= i + (T_k - T_q)
    return softmax(np.where(allowed, s, -np.inf)) @ v


@pytest.mark.parametrize("case", list(CASES))
def test_attention_matches_the_formula(rng, case):
    q, k, v, mask, causal = make(rng, case)
    out = scaled_dot_product_attention(q, k, v, mask, causal)
    np.testing.assert_allclose(out, naive(q, k, v, mask, causal), rtol=1e-12, atol=1e-12)


def test_fully_masked_rows_give_zeros_not_nan(rng):
    q, k, v = (
        rng.standard_normal((2, 4, 3)),
        rng.standard_normal((2, 5, 3)),
        rng.standard_normal((2, 5, 2)),
    )
    mask = np.ones((2, 4, 5), dtype=bool)
    mask[0, 2] = False
    mask[1] = False
    out, cache = attention_forward(q, k, v, mask)
    dq, dk, dv = attention_backward(np.ones_like(out), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dq))
    assert np.all(out[0, 2] == 0) and np.all(out[1] == 0)
    assert np.all(dq[0, 2] == 0) and np.all(dq[1] == 0)
    assert np.all(dk[1] == 0) and np.all(dv[1] == 0)
    # the other rows are unaffected by the empty ones
    np.testing.assert_allclose(out[0, :2], naive(q[0, :2], k[0], v[0], mask[0, :2], False))


def test_causal_alignment_is_bottom_right():
    np.testing.assert_array_equal(causal_mask(3, 3), np.tril(np.ones((3, 3), dtype=bool)))
    # one new query (decoding with a cache) sees every key
    assert causal_mask(1, 5).all()
    # two new queries after three cached keys
    expected = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(causal_mask(2, 5), expected)
    # more queries than keys: the first queries see nothing
    assert not causal_mask(4, 2)[:2].any() and causal_mask(4, 2)[3].all()


def test_causal_output_ignores_future_keys(rng):
    q, k, v = (rng.standard_normal((6, 4)) for _ in range(3))
    out = scaled_dot_product_attention(q, k, v, causal=True)
    k2, v2 = k.copy(), v.copy()
    k2[4:] += 10.0
    v2[4:] -= 3.0
    out2 = scaled_dot_product_attention(q, k2, v2, causal=True)
    np.testing.assert_array_equal(out[:4], out2[:4])
    assert not np.allclose(out[4:], out2[4:])


def test_float32_stays_float32(rng):
    q = rng.standard_normal((2, 4, 8)).astype(np.float32)
    out, cache = attention_forward(q, q, q, causal=True)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in attention_backward(np.ones_like(out), cache))


def test_huge_scores_are_stable(rng):
    q = 1e3 * rng.standard_normal((3, 4))
    out = scaled_dot_product_attention(q, q, rng.standard_normal((3, 2)))
    assert np.all(np.isfinite(out))


def test_bad_inputs(rng):
    q, k, v = (
        rng.standard_normal((2, 4, 3)),
        rng.standard_normal((2, 5, 3)),
        rng.standard_normal((2, 5, 2)),
    )
    with pytest.raises(ValueError, match=r"mask has shape \(4, 4\).*\(2, 4, 5\)"):
        attention_forward(q, k, v, mask=np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        attention_forward(q, k, v, mask=np.ones((3, 4, 5), dtype=bool))
    with pytest.raises(TypeError, match="mask"):
        attention_forward(q, k, v, mask=np.ones((4, 5)))
    with pytest.raises(ValueError, match="same last dimension"):
        attention_forward(q, rng.standard_normal((2, 5, 4)), v)
    with pytest.raises(ValueError, match="number of keys"):
        attention_forward(q, k, rng.standard_normal((2, 6, 2)))
    with pytest.raises(ValueError, match="do not broadcast"):
        attention_forward(q, rng.standard_normal((3, 5, 3)), v)
    bad = q.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="q contains 1 non-finite"):
        attention_forward(bad, k, v)
    with pytest.raises(ValueError, match="ndim >= 2"):
        attention_forward(q[0, 0], k, v)
    with pytest.raises(ValueError, match="T_k = 0 keys"):
        attention_forward(q, k[:, :0], v[:, :0])


def _bottom_right(T_q, T_k):
    """npml's causal rule built here by loops, independently of causal_mask."""
    return np.array([[j <= i + T_k - T_q for j in range(T_k)] for i in range(T_q)], dtype=bool)


def loop_attention(q, k, v, allowed, scale):
    """One query row at a time, the softmax written out: a check independent of npml."""
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for idx in np.ndindex(q.shape[:-2]):
        for i in range(q.shape[-2]):
            keys = np.flatnonzero(allowed[idx][i])
            if keys.size == 0:
                continue
            s = np.array([scale * np.dot(q[idx][i], k[idx][j]) for j in keys])
            w = np.exp(s - s.max())
            out[idx][i] = (w / w.sum()) @ v[idx][keys]
    return out


@pytest.mark.parametrize("scale", [None, 0.3])
def test_against_torch_sdpa(rng, scale):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = (
        rng.standard_normal((2, 3, 5, 4)),
        rng.standard_normal((2, 3, 7, 4)),
        rng.standard_normal((2, 3, 7, 6)),
    )
    mask = rng.random((2, 1, 5, 7)) > 0.4
    mask[..., 0] = True  # torch gives NaN for empty rows; npml's zeros are tested above
    for causal in (False, True):
        # torch's is_causal aligns top-left; give it npml's bottom-right rule as a mask
        allowed = mask & _bottom_right(5, 7) if causal else mask
        out, cache = attention_forward(q, k, v, mask, causal, scale=scale)
        dout = rng.standard_normal(out.shape)
        grads = attention_backward(dout, cache)
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        # torch's SDPA boolean mask uses the same convention as npml: True = may attend
        tout = F.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=torch.tensor(allowed), scale=scale
        )
        tout.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-10)
        for g, t in zip(grads, (tq, tk, tv), strict=True):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=0, atol=1e-10)
        # and against the softmax written out row by row
        alpha = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
        expected = loop_attention(q, k, v, np.broadcast_to(allowed, (2, 3, 5, 7)), alpha)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("T_q", "T_k"), [(3, 7), (7, 3), (1, 5)])
def test_torch_causal_alignment_recipe(rng, T_q, T_k):
    # the docstrings' recipe for torch's top-left is_causal=True: an explicit np.tril mask
    torch = pytest.importorskip("torch")
    q, k, v = (rng.standard_normal((2, T, 4)) for T in (T_q, T_k, T_k))
    top_left = np.tril(np.ones((T_q, T_k), dtype=bool))
    out = scaled_dot_product_attention(q, k, v, mask=top_left)
    tq, tk, tv = (torch.tensor(a) for a in (q, k, v))
    expected = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    np.testing.assert_allclose(out, expected.numpy(), rtol=0, atol=1e-12)
    # npml's causal=True differs from it when T_q != T_k (bottom-right aligned)
    assert not np.array_equal(causal_mask(T_q, T_k), top_left)


@pytest.mark.parametrize("case", ["causal T_q > T_k (empty rows)", "mask and causal"])
def test_gradients_with_a_scale(rng, case):
    q, k, v, mask, causal = make(rng, case)
    scale = 0.73
    out, cache = attention_forward(q, k, v, mask, causal, scale=scale)
    np.testing.assert_allclose(
        out, naive(q * (scale * np.sqrt(q.shape[-1])), k, v, mask, causal), atol=1e-12
    )
    dout = rng.standard_normal(out.shape)
    dq, dk, dv = attention_backward(dout, cache)
    for i, (x, g) in enumerate(((q, dq), (k, dk), (v, dv))):

        def f(y, i=i):
            args = [q, k, v]
            args[i] = y
            return attention_forward(*args, mask, causal, scale=scale)[0]

        assert check_gradient(f, x, g, dout) < 1e-6, "qkv"[i]


def test_bad_scale(rng):
    q = rng.standard_normal((3, 4))
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="scale="):
            scaled_dot_product_attention(q, q, q, scale=bad)
    for bad in ("0.5", True, np.ones(1)):
        with pytest.raises(TypeError, match="scale="):
            attention_forward(q, q, q, scale=bad)
    # the default is 1 / sqrt(D), as torch's
    np.testing.assert_array_equal(
        scaled_dot_product_attention(q, q, q), scaled_dot_product_attention(q, q, q, scale=0.5)
    )
