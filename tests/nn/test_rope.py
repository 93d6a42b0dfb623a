import math

import numpy as np
import pytest

from npml.nn.attention import scaled_dot_product_attention
from npml.nn.mha import mha_forward
from npml.nn.rope import (
    RotaryEmbedding,
    rope_backward,
    rope_forward,
    rope_frequencies,
    rope_permute,
    rope_single_frequency,
)
from npml.testing import check_gradient


def as_complex(x):
    """Pairs (x[2i], x[2i+1]) as complex numbers x[2i] + i x[2i+1]."""
    return x[..., 0::2] + 1j * x[..., 1::2]


def test_module_gradient_and_default_positions(rng):
    rope = RotaryEmbedding(6, base=50.0)
    x = rng.standard_normal((2, 4, 6))
    y = rope(x)
    np.testing.assert_array_equal(y, rope_forward(x, np.arange(4), 50.0)[0])
    np.testing.assert_array_equal(y[:, 0], x[:, 0])  # position 0 is not rotated
    dout = rng.standard_normal(y.shape)
    assert check_gradient(lambda z: rope.forward(z), x, rope.backward(dout), dout) < 1e-6
    assert rope.n_params() == 0


def test_general_form_is_complex_multiplication(rng):
    x = rng.standard_normal((5, 8))
    m = np.arange(5)[:, None]
    theta = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    np.testing.assert_allclose(theta, rope_frequencies(8))
    expected = as_complex(x) * np.exp(1j * m * theta)
    np.testing.assert_allclose(as_complex(rope_forward(x, np.arange(5))[0]), expected, atol=1e-14)


def scores(rotate, q, k, m, n):
    """Score between q rotated at position m and k rotated at position n."""
    return float(rotate(q[None], np.array([m]))[0] @ rotate(k[None], np.array([n]))[0])


FORMS = {
    "general": lambda x, pos: rope_forward(x, pos, base=10000.0)[0],
    "single-frequency": lambda x, pos: rope_single_frequency(x, pos, epsilon=math.pi / (2 * 64)),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_scores_depend_only_on_relative_position(rng, form):
    rotate = FORMS[form]
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    for m, n in [(0, 0), (5, 2), (2, 5), (20, 3)]:
        base = scores(rotate, q, k, m, n)
        for shift in (1, 7, 40):
            assert abs(scores(rotate, q, k, m + shift, n + shift) - base) < 1e-12
    # and they do depend on m - n
    assert abs(scores(rotate, q, k, 5, 2) - scores(rotate, q, k, 2, 5)) > 1e-3


@pytest.mark.parametrize("form", list(FORMS))
def test_norms_are_preserved(rng, form):
    x = rng.standard_normal((2, 9, 6))
    out = FORMS[form](x, np.arange(9) * 7 % 60)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-13)


def test_single_frequency_is_the_general_form_with_one_frequency(rng):
    x = rng.standard_normal((3, 5, 6))
    positions = np.arange(5)
    eps = math.pi / (2 * 5)
    single = rope_single_frequency(x, positions, eps)
    # every pair multiplied by exp(i m eps), as in the notes: RoPE(x, m) = x e^{i m eps}
    expected = as_complex(x) * np.exp(1j * positions[:, None] * eps)
    np.testing.assert_allclose(as_complex(single), expected, atol=1e-14)
    # = the general form with all frequencies theta_i = eps
    general = rope_forward(x, positions, theta=np.full(3, eps))[0]
    np.testing.assert_allclose(single, general, atol=1e-15)
    # = with one pair (d = 2, theta_0 = base^0 = 1), the general form at positions m * eps
    x2 = x[..., :2]
    np.testing.assert_allclose(
        rope_single_frequency(x2, positions, eps), rope_forward(x2, positions * eps)[0], atol=1e-15
    )


def test_single_frequency_angles_stay_below_a_right_angle():
    # with epsilon = pi / (2N) the largest rotation, at position N - 1, is below pi / 2
    N = 10
    x = np.tile([1.0, 0.0], (N, 1))  # the complex number 1 at every position
    out = rope_single_frequency(x, np.arange(N), math.pi / (2 * N))
    angles = np.angle(as_complex(out)[:, 0])
    assert np.all(np.diff(angles) > 0) and angles[-1] < math.pi / 2


def test_positions_broadcast_per_batch(rng):
    x = rng.standard_normal((2, 3, 4))
    pos = np.array([[0, 1, 2], [4, 5, 6]])
    out = rope_forward(x, pos)[0]
    np.testing.assert_allclose(out[1], rope_forward(x[1], np.arange(4, 7))[0], atol=1e-15)


def test_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, cache = rope_forward(x, np.arange(3))
    assert out.dtype == np.float32 and rope_backward(out, cache).dtype == np.float32


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="d even"):
        rope_forward(np.ones((3, 5)), np.arange(3))
    with pytest.raises(ValueError, match="head_dim=5 is odd"):
        RotaryEmbedding(5)
    with pytest.raises(ValueError, match=r"positions has shape \(4,\)"):
        rope_forward(np.ones((3, 4)), np.arange(4))
    with pytest.raises(ValueError, match=r"x has shape \(3, 6\); expected \(\.\.\., T, 4\)"):
        RotaryEmbedding(4)(np.ones((3, 6)))
    with pytest.raises(ValueError, match="epsilon=.* is out of range"):
        rope_single_frequency(np.ones((8, 2)), np.arange(8), math.pi / 8)  # > pi / (2 * 8)
    with pytest.raises(ValueError, match="epsilon=0"):
        rope_single_frequency(np.ones((8, 2)), np.arange(8), 0)
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        rope_forward(np.array([[np.nan, 1.0]]), np.arange(1))


# ---- the two layouts ------------------------------------------------------------------------
def rope_halves(x, positions, base):
    """RoPE in the halves layout (Hugging Face's rotate_half): pair i is (x_i, x_{i + d/2})."""
    d = x.shape[-1]
    angle = positions[:, None] * base ** (-np.arange(0, d, 2) / d)  # (T, d/2)
    cos = np.concatenate([np.cos(angle)] * 2, axis=-1)  # (T, d)
    sin = np.concatenate([np.sin(angle)] * 2, axis=-1)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + np.concatenate([-x2, x1], axis=-1) * sin


def heads(y, H):
    """(B, T, H*d) -> (B, H, T, d)."""
    B, T, D = y.shape
    return y.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)


@pytest.mark.parametrize("H, d", [(1, 2), (2, 4), (3, 8)])
def test_permuted_weights_give_the_same_scores(rng, H, d):
    B, T, d_in, base = 2, 5, 7, 100.0
    x = rng.standard_normal((B, T, d_in))
    W_q, W_k = rng.standard_normal((d_in, H * d)), rng.standard_normal((d_in, H * d))
    b_q = rng.standard_normal(H * d)
    pos = np.arange(T) + 2.0

    def scores_halves(W_q, W_k, b_q):
        q = rope_halves(heads(x @ W_q + b_q, H), pos, base)
        k = rope_halves(heads(x @ W_k, H), pos, base)
        return q @ np.swapaxes(k, -1, -2)  # (B, H, T, T)

    def scores_npml(W_q, W_k, b_q):
        q = rope_forward(heads(x @ W_q + b_q, H), pos, base)[0]
        k = rope_forward(heads(x @ W_k, H), pos, base)[0]
        return q @ np.swapaxes(k, -1, -2)

    # halves-layout weights (a Hugging Face checkpoint) used with npml's interleaved RoPE
    to_npml = [rope_permute(a, H, to="interleaved") for a in (W_q, W_k, b_q)]
    np.testing.assert_allclose(scores_npml(*to_npml), scores_halves(W_q, W_k, b_q), atol=1e-12)
    # and npml weights used with the halves layout
    to_hf = [rope_permute(a, H, to="halves") for a in (W_q, W_k, b_q)]
    np.testing.assert_allclose(scores_halves(*to_hf), scores_npml(W_q, W_k, b_q), atol=1e-12)
    if d > 2:  # the layouts differ: without the permutation the scores do too
        assert not np.allclose(scores_npml(W_q, W_k, b_q), scores_halves(W_q, W_k, b_q))


def test_permuted_weights_give_the_same_attention_layer(rng):
    # A causal MHA layer with halves-layout RoPE, written out here, equals npml's mha_forward
    # (interleaved RoPE) on the permuted W_q, W_k; W_v and W_o are not permuted.
    B, T, D, H, base = 2, 6, 12, 2, 10000.0
    x = rng.standard_normal((B, T, D))
    W_q, W_k, W_v, W_o = (rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(4))
    pos = np.arange(T)
    q = rope_halves(heads(x @ W_q, H), pos, base)
    k = rope_halves(heads(x @ W_k, H), pos, base)
    o = scaled_dot_product_attention(q, k, heads(x @ W_v, H), causal=True)  # (B, H, T, d)
    expected = o.transpose(0, 2, 1, 3).reshape(B, T, D) @ W_o
    W_q2, W_k2 = rope_permute(W_q, H), rope_permute(W_k, H)
    y = mha_forward(x, W_q2, W_k2, W_v, W_o, n_heads=H, causal=True, rope_base=base)[0]
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_rope_permute_round_trip_and_layout(rng):
    W = rng.standard_normal((5, 3 * 6))
    for to, back in (("halves", "interleaved"), ("interleaved", "halves")):
        np.testing.assert_array_equal(rope_permute(rope_permute(W, 3, to=to), 3, to=back), W)
    # within each head of size 6, interleaved column 2i is halves column i, 2i+1 is i + 3
    cols = rope_permute(np.arange(12.0), 2, to="interleaved")
    np.testing.assert_array_equal(cols, [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11])
    np.testing.assert_array_equal(rope_permute(cols, 2, to="halves"), np.arange(12.0))
    np.testing.assert_array_equal(rope_permute(W[:, :4], 2), W[:, :4])  # head size 2: no change


def test_rope_permute_bad_inputs():
    with pytest.raises(ValueError, match=r"W has shape \(4, 9\).*n_heads=3.*even"):
        rope_permute(np.ones((4, 9)), 3)
    with pytest.raises(ValueError, match=r"W has shape \(4, 8\).*n_heads=3"):
        rope_permute(np.ones((4, 8)), 3)
    with pytest.raises(ValueError, match="to"):
        rope_permute(np.ones((4, 8)), 2, to="llama")
