"""Issue 14 in npml.models: tokens checked before step 1, NaN losses stop training, and
sampling at any positive temperature tends to the arg max (never NaN)."""

import numpy as np
import pytest

from npml.models import CausalLM, fit, train_causal_lm
from npml.models.causal_lm import _sample
from npml.models.training import make_optimizer


def _model():
    return CausalLM(7, 8, 2, 1, 4, rng=0)


TOKENS = np.tile(np.arange(7), 6)  # 42 tokens


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(val_tokens=np.array([1, 2, 99, 3, 4, 5])), ValueError, r"^val_tokens contains 1"),
        (dict(val_tokens=np.array([1.0, 1e20, 0, 0, 0, 0])), ValueError, r"^val_tokens .*1e\+20"),
        (dict(val_tokens=np.arange(4)), ValueError, r"^val_tokens has length 4; .*block_size=4"),
        (dict(val_tokens=np.zeros((2, 6), int)), ValueError, r"^val_tokens has ndim=2"),
        (dict(val_tokens=["a"] * 6), TypeError, r"^val_tokens"),
        (dict(train_tokens=np.full(40, -1)), ValueError, r"^train_tokens contains 40"),
        (dict(train_tokens=np.arange(3)), ValueError, r"^train_tokens has length 3"),
        (dict(steps=0), ValueError, r"^steps=0"),
    ],
)
def test_train_causal_lm_checks_its_tokens_before_the_first_step(kwargs, error, pattern):
    model = _model()
    before = model.state_dict()
    kwargs = {"train_tokens": TOKENS, **kwargs}
    train_tokens = kwargs.pop("train_tokens")
    with pytest.raises(error, match=pattern):
        train_causal_lm(model, train_tokens, steps=kwargs.pop("steps", 3), **kwargs)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # no step was taken


@pytest.mark.parametrize("bad_step", [1, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_stops_at_a_non_finite_loss_naming_the_step(bad_step, bad):
    model = _model()
    seen = []

    def loss_and_backward(rng):
        seen.append(len(seen) + 1)
        for p in model.parameters():
            p.grad = np.zeros_like(p.data)
        return bad if len(seen) == bad_step else 1.0

    with pytest.raises(FloatingPointError, match=rf"^step {bad_step}: the training loss is"):
        fit(model, loss_and_backward, make_optimizer(model), steps=5, clip_norm=None)
    assert seen == list(range(1, bad_step + 1))  # nothing ran after the bad step


def test_fit_stops_at_a_non_finite_validation_loss():
    model = _model()
    with pytest.raises(FloatingPointError, match=r"^step 2: the validation loss is nan"):
        fit(
            model,
            lambda rng: 1.0,
            make_optimizer(model),
            steps=4,
            eval_fn=lambda: float("nan"),
            eval_every=2,
            clip_norm=None,
        )


LOGITS = np.array([[0.3, 2.0, -1.0, 1.9999], [5.0, -3.0, 4.0, 0.0], [-1.0, -1.0, -0.5, -2.0]])


@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-300, 1e-8])
@pytest.mark.parametrize("top_k", [None, 2])
def test_tiny_temperatures_sample_the_arg_max(temperature, top_k):
    rng = np.random.default_rng(0)
    for _ in range(50):
        np.testing.assert_array_equal(
            _sample(LOGITS, temperature, top_k, rng), np.argmax(LOGITS, axis=-1)
        )


def test_ties_at_a_tiny_temperature_are_shared():
    rng = np.random.default_rng(0)
    logits = np.array([[1.0, 3.0, 3.0, 0.0]])
    picks = {int(_sample(logits, 1e-320, None, rng)[0]) for _ in range(200)}
    assert picks == {1, 2}  # uniform over the maxima, as the limit of the softmax is


def test_generate_at_a_tiny_temperature_is_greedy_decoding():
    model = _model()
    prompt = np.array([[1, 2], [3, 0]])
    greedy = model.generate(prompt, 3, temperature=0.0)
    np.testing.assert_array_equal(model.generate(prompt, 3, temperature=1e-320, rng=1), greedy)


def test_generate_at_temperature_one_is_unchanged():
    # shifting before dividing changes nothing at ordinary temperatures (same seed, same draws)
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, 7))
    z = logits / 0.7
    p = np.exp(z - z.max(-1, keepdims=True))
    cdf = np.cumsum(p, -1)
    u = np.random.default_rng(9).random((4, 1)) * cdf[:, -1:]
    expected = np.minimum((cdf <= u).sum(-1), 6)
    np.testing.assert_array_equal(_sample(logits, 0.7, None, np.random.default_rng(9)), expected)
