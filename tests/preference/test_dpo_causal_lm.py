"""End to end: DPO trains a CausalLM through sequence_logps and the model's backward pass."""

import numpy as np
import pytest

from npml import models, optim
from npml.preference import dpo_loss, sequence_logps_backward, sequence_logps_forward
from npml.testing import check_gradient

V, PROMPT, RESPONSE = 8, 2, 3


def toy_preferences(rng, B):
    """Prompts of two tokens; the chosen response counts up from the prompt's last token,
    the rejected one counts down (a rule the model can pick up from a few examples)."""
    prompts = rng.integers(0, V, size=(B, PROMPT))
    steps = np.arange(1, RESPONSE + 1)
    chosen = (prompts[:, -1:] + steps) % V
    rejected = (prompts[:, -1:] - steps) % V
    ids = np.concatenate(
        [np.concatenate([prompts, chosen], 1), np.concatenate([prompts, rejected], 1)]
    )  # (2B, T): chosen rows first
    # Logits at t score the token at t + 1 (module docstring of sequence.py): shift by one
    # and count only the response tokens.
    mask = np.zeros_like(ids[:, 1:], dtype=float)
    mask[:, PROMPT - 1 :] = 1.0
    return ids, mask


def logps_and_cache(model, ids, mask):
    logits = model.forward(ids)  # (2B, T, V)
    return sequence_logps_forward(logits[:, :-1], ids[:, 1:], mask)  # (2B,)


def dpo_step(model, ids, mask, ref_logps, beta):
    """Forward, DPO loss, backward into the model's parameter gradients; returns loss, h_w."""
    B = ids.shape[0] // 2
    logps, cache = logps_and_cache(model, ids, mask)
    loss, (d_c, d_r) = dpo_loss(logps[:B], logps[B:], ref_logps[:B], ref_logps[B:], beta)
    d_shifted = sequence_logps_backward(np.concatenate([d_c, d_r]), cache)  # (2B, T-1, V)
    dlogits = np.concatenate([d_shifted, np.zeros_like(d_shifted[:, :1])], axis=1)
    model.backward(dlogits)
    return loss, logps[:B] - ref_logps[:B]


def make_model():
    return models.CausalLM(V, d_model=16, n_heads=2, n_layers=1, max_len=8, rng=0, dtype=np.float64)


def test_dpo_gradient_reaches_the_parameters(rng):
    model, ref = make_model(), make_model()
    ids, mask = toy_preferences(rng, 3)
    for p in model.parameters():  # move the policy off the reference
        p.data += 0.05 * rng.normal(size=p.shape)
    ref_logps = logps_and_cache(ref, ids, mask)[0]
    model.zero_grad()
    dpo_step(model, ids, mask, ref_logps, beta=0.5)
    p = dict(model.named_parameters())["norm_f.gamma"]

    def loss_at(value):
        old = p.data.copy()
        p.data[...] = value
        logps = logps_and_cache(model, ids, mask)[0]
        p.data[...] = old
        return dpo_loss(logps[:3], logps[3:], ref_logps[:3], ref_logps[3:], 0.5)[0]

    assert check_gradient(loss_at, p.data.copy(), p.grad) < 1e-6


def test_dpo_training_raises_the_chosen_log_ratio(rng):
    model, ref = make_model(), make_model()
    ids, mask = toy_preferences(rng, 8)
    ref_logps = logps_and_cache(ref, ids, mask)[0]
    opt = optim.AdamW(model.named_parameters(), lr=1e-2, weight_decay=0.0)
    losses, chosen_ratio = [], []
    for _ in range(12):
        opt.zero_grad()
        loss, h_w = dpo_step(model, ids, mask, ref_logps, beta=0.5)
        opt.step()
        losses.append(loss)
        chosen_ratio.append(h_w.mean())
    assert losses[0] == pytest.approx(np.log(2), abs=1e-12)  # policy = reference: h = 0
    assert np.all(np.diff(losses) < 0)
    assert losses[-1] < 0.5 * losses[0]
    assert chosen_ratio[0] == pytest.approx(0.0, abs=1e-12)
    assert chosen_ratio[-1] > 0.5  # log pi(y_w) / pi_ref(y_w) went up, not only pi(y_l) down
