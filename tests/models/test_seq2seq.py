"""Encoder-decoder Transformer: gradients of every parameter, and it learns to reverse."""

import numpy as np
import pytest

from npml.models import Transformer
from npml.models.training import fit, make_optimizer, seq2seq_loss
from npml.testing import numerical_gradient, relative_error


@pytest.mark.parametrize("norm_first", [True, False])
def test_gradient_of_every_parameter_with_padding(rng, norm_first):
    model = Transformer(
        5, 6, 4, 2, 1, 2, max_len=6, d_ff=6, norm_first=norm_first, rng=1, dtype=np.float64
    )
    src = rng.integers(0, 5, size=(2, 5))
    tgt = rng.integers(0, 6, size=(2, 3))
    src_key_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    tgt_key_mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)
    dout = rng.standard_normal((2, 3, 6))

    def run():
        return model.forward(src, tgt, src_key_mask, tgt_key_mask)

    run()
    model.zero_grad()
    model.backward(dout)
    for name, p in model.named_parameters():
        numeric = numerical_gradient(lambda _: run(), p.data, dout)
        err = relative_error(p.grad, numeric)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"
    # the padded source token never influences the output
    src2 = src.copy()
    src2[0, 4] = (src2[0, 4] + 1) % 5
    np.testing.assert_allclose(model.forward(src2, tgt, src_key_mask, tgt_key_mask), run())


def reversal_batch(rng, B, L=8, V=8):
    """Random sequences and their reversals; the decoder input starts with BOS = V."""
    src = rng.integers(0, V, size=(B, L))
    tgt = src[:, ::-1]
    tgt_in = np.concatenate([np.full((B, 1), V), tgt[:, :-1]], axis=1)
    return src, tgt_in, tgt


@pytest.mark.slow
def test_learns_to_reverse_sequences(one_thread):
    V, L = 8, 8
    model = Transformer(V, V + 1, 32, 2, 1, 1, L, d_ff=64, rng=0, dtype=np.float32)
    optimizer = make_optimizer(model, lr=3e-3, weight_decay=0.0)
    fit(
        model,
        lambda r: seq2seq_loss(model, *reversal_batch(r, 32)),
        optimizer,
        steps=300,
        rng=1,
    )
    # held out: a different generator (8^8 possible sequences, so overlap is negligible)
    src, tgt_in, tgt = reversal_batch(np.random.default_rng(12345), 500)
    teacher_forced = model.forward(src, tgt_in).argmax(axis=-1)
    assert np.mean(teacher_forced == tgt) > 0.95
    greedy = model.generate(src, L, bos_id=V)
    assert np.mean(greedy == tgt) > 0.95


def test_bad_input(rng):
    model = Transformer(5, 6, 4, 2, 1, 1, max_len=4, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        model.forward(np.array([[0, 5]]), np.array([[0]]))
    with pytest.raises(ValueError, match="src has length 5; expected between 1 and max_len=4"):
        model.forward(np.zeros((1, 5), dtype=int), np.zeros((1, 2), dtype=int))
    with pytest.raises(ValueError, match=r"src_key_mask has shape \(1, 3\)"):
        model.forward(
            np.zeros((1, 2), dtype=int),
            np.zeros((1, 2), dtype=int),
            src_key_mask=np.ones((1, 3), dtype=bool),
        )
    with pytest.raises(ValueError, match="batch size"):
        model.forward(np.zeros((2, 2), dtype=int), np.zeros((1, 2), dtype=int))
    with pytest.raises(ValueError, match="n_decoder_layers=0"):
        Transformer(5, 6, 4, 2, 1, 0, max_len=4, dtype=np.float64)
