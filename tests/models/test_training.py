"""The training loop: batches, deterministic evaluation, and a causal LM that learns."""

import numpy as np
import pytest

from npml.models import CausalLM, CharTokenizer, tiny_corpus, train_causal_lm, unigram_entropy
from npml.models.training import evaluate_lm, fit, lm_loss, make_optimizer, sample_lm_batch


def test_lm_batches_are_shifted_windows(rng):
    tokens = np.arange(100) * 3
    x, y = sample_lm_batch(tokens, 5, 7, rng)
    assert x.shape == y.shape == (5, 7)
    np.testing.assert_array_equal(y, x + 3)  # the next token of each position
    np.testing.assert_array_equal(np.diff(x, axis=1), 3)  # consecutive tokens
    assert y.max() <= 99 * 3
    with pytest.raises(ValueError, match="block_size=100"):
        sample_lm_batch(tokens, 2, 100, rng)


def test_evaluate_lm_covers_all_windows_and_is_deterministic(rng):
    model = CausalLM(5, 8, 2, 1, 4, rng=0)
    tokens = rng.integers(0, 5, size=23)  # (23 - 1) // 4 = 5 windows
    a = evaluate_lm(model, tokens, 4, batch_size=2)
    assert a == evaluate_lm(model, tokens, 4, batch_size=2)
    idx = np.arange(5)[:, None] * 4 + np.arange(4)
    assert a == pytest.approx(lm_loss(model, tokens[idx], tokens[idx + 1], backward=False))


def test_fit_takes_steps_and_evaluates(one_thread, rng):
    model = CausalLM(5, 8, 2, 1, 4, rng=0)
    tokens = np.tile(np.arange(5), 20)  # a perfectly predictable cycle
    before = evaluate_lm(model, tokens, 4)
    history = fit(
        model,
        lambda r: lm_loss(model, *sample_lm_batch(tokens, 8, 4, r)),
        make_optimizer(model, lr=1e-2),
        steps=30,
        eval_fn=lambda: evaluate_lm(model, tokens, 4),
        eval_every=10,
        rng=0,
    )
    assert len(history.train_loss) == 30
    assert history.val_step == [10, 20, 30]
    assert history.val_loss[-1] < before
    assert not model.training  # left in eval mode


@pytest.mark.slow
@pytest.mark.parametrize("positional", ["rope", "learned"])
def test_causal_lm_learns_the_tiny_corpus(one_thread, positional):
    text = tiny_corpus()
    tok = CharTokenizer(text)
    ids = tok.encode(text)
    n_train = int(0.9 * ids.size)
    train, val = ids[:n_train], ids[n_train:]
    H = unigram_entropy(train, tok.vocab_size)  # ~2.9 nats for English characters
    model = CausalLM(tok.vocab_size, 32, 4, 2, 32, positional=positional, rng=0, dtype=np.float32)
    history = train_causal_lm(
        model, train, val, steps=300, batch_size=16, lr=1e-2, eval_every=100, rng=1
    )
    # below the best context-free model by a clear margin: it has learned some context
    assert history.val_loss[-1] < H - 0.3
    sample = tok.decode(model.generate(tok.encode("The "), 40, rng=0))
    assert sample.startswith("The ") and len(sample) == 44
