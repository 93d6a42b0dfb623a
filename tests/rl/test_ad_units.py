"""Algorithm distillation's plumbing: tokens, masks, subsampling, experts, in-context rollouts."""

import numpy as np
import pytest

from npml.models import CausalLM
from npml.models._sampling import _sample
from npml.rl import BernoulliBandit, DarkRoom
from npml.rl.algorithm_distillation import (
    LearningHistory,
    TokenLayout,
    bandit_histories,
    dark_room_histories,
    evaluate_in_context,
    expert_history,
    subsample,
    to_tokens,
    train_ad,
)


def test_tokens_of_a_dark_room_history():
    lay = TokenLayout(4, 3)
    h = LearningHistory(np.array([0, 3]), np.array([2, 1]), np.array([0, 1]), 1, np.zeros(4, int))
    tokens, is_action = to_tokens(h, lay)
    # BOS, then (obs, action, reward) per step: obs 1..4, actions 5..7, rewards 8..9
    assert tokens.tolist() == [0, 1, 7, 8, 4, 6, 9]
    assert is_action.tolist() == [False, False, True, False, False, True, False]
    assert lay.vocab_size == 10 and lay.tokens_per_step == 3


def test_tokens_of_a_bandit_history_skip_the_observation():
    lay = TokenLayout(1, 5)
    (h,) = bandit_histories(np.array([[0.1, 0.9, 0.2, 0.3, 0.4]]), 6, rng=0)
    tokens, is_action = to_tokens(h, lay)
    assert tokens.shape == (1 + 2 * 6,) and lay.tokens_per_step == 2
    np.testing.assert_array_equal(tokens[is_action], lay.act_offset + h.actions)
    np.testing.assert_array_equal(tokens[2::2], lay.rew_offset + h.rewards)
    assert h.actions[:5].tolist() == [0, 1, 2, 3, 4]  # UCB1 pulls each arm first


def test_dark_room_history_and_subsampling():
    env = DarkRoom(5, (4, 0), 10)
    (h,) = dark_room_histories([env], 12, rng=0)
    assert h.actions.shape == (120,) and h.episode_length == 10
    assert np.all(h.observations[::10] == env.start)  # every episode starts at the centre
    s = subsample(h, 4)  # episodes 0, 4, 8
    assert s.actions.shape == (30,)
    np.testing.assert_array_equal(s.actions[10:20], h.actions[40:50])
    np.testing.assert_array_equal(s.rewards[20:], h.rewards[80:90])
    np.testing.assert_array_equal(subsample(h, 1).actions, h.actions)


def test_expert_history_follows_the_final_policy():
    env = DarkRoom(5, (3, 1), 10)
    (h,) = dark_room_histories([env], 80, rng=0)
    e = expert_history(h, env, 3, rng=0)
    assert e.actions.shape == (30,)
    np.testing.assert_array_equal(e.actions.reshape(3, 10), e.actions[:10][None].repeat(3, 0))
    # Q-learning found the goal (2 steps away): reward 1 from the step that enters it on
    assert e.rewards[:10].sum() == 10 - 2 + 1
    bandit = BernoulliBandit(3, [0.2, 0.7, 0.1])
    (hb,) = bandit_histories(bandit.probs[None], 200, rng=0)
    eb = expert_history(hb, bandit, 50, rng=1)
    assert set(eb.actions.tolist()) == {1}


def _reference_rollout(model, layout, tasks, n_episodes, rng):
    """evaluate_in_context without the KV cache: every step recomputes its whole context."""
    L = 1 if layout.tokens_per_step == 2 else tasks[0].time_limit
    per_ep = layout.tokens_per_step * L
    n = len(tasks)
    out = np.zeros((n, n_episodes))
    buf = np.zeros((n, 1), dtype=np.int64)
    for ep in range(n_episodes):
        if buf.shape[1] + per_ep > model.max_len:
            buf = buf[:, buf.shape[1] - (model.max_len // per_ep - 1) * per_ep :]
        s = np.array([t.start for t in tasks])
        for _ in range(L):
            if layout.tokens_per_step == 3:
                buf = np.concatenate([buf, layout.obs_offset + s[:, None]], axis=1)
            z = model.forward(buf)[:, -1, layout.act_offset : layout.rew_offset]
            a = _sample(z.astype(np.float64), 1.0, None, rng)
            p = np.array([t.reward[si, ai] for t, si, ai in zip(tasks, s, a, strict=True)])
            r = (rng.random(n) < p).astype(int) if L == 1 else p.astype(int)
            out[:, ep] += p
            s = np.array([t.next_state[si, ai] for t, si, ai in zip(tasks, s, a, strict=True)])
            step = np.stack([layout.act_offset + a, layout.rew_offset + r], axis=1)
            buf = np.concatenate([buf, step], axis=1)
    return out


@pytest.mark.parametrize("family", ["bandit", "dark_room"])
def test_cached_rollout_matches_full_recompute(family):
    # an untrained model with a short context, so the window slides several times
    if family == "bandit":
        lay, tasks, n_ep = TokenLayout(1, 3), [BernoulliBandit(3, rng=i) for i in range(3)], 12
        max_len = 7  # BOS + 3 pulls, then windows of 2 pulls growing to 3
    else:
        lay, tasks, n_ep = TokenLayout(9, 5), [DarkRoom(3, (i, 0), 2) for i in range(3)], 5
        max_len = 13  # two episodes of 6 tokens (+ BOS)
    model = CausalLM(lay.vocab_size, 8, 2, 2, max_len, rng=0, init_std=0.5, dtype=np.float64)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    got = evaluate_in_context(model, lay, tasks, n_ep, rng=5)
    for k, v in model.state_dict().items():  # frozen weights
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    want = _reference_rollout(model, lay, tasks, n_ep, np.random.default_rng(5))
    np.testing.assert_allclose(got, want)
    assert got.shape == (3, n_ep)


def test_train_ad_returns_an_eval_model_and_its_losses():
    lay = TokenLayout(1, 3)
    H = bandit_histories(np.random.default_rng(0).random((4, 3)), 10, rng=0)
    model, losses = train_ad(H, lay, 12, d_model=8, n_heads=2, n_layers=1, steps=3, rng=0)
    assert len(losses) == 3 and model.max_len == 12 and not model.training
    with pytest.raises(ValueError, match="context"):
        train_ad(H, lay, 40, steps=1, rng=0)  # longer than any history


def test_bad_input():
    with pytest.raises(ValueError, match="every"):
        subsample(bandit_histories(np.full((1, 2), 0.5), 3, rng=0)[0], 0)
    model = CausalLM(10, 8, 2, 1, 4, rng=0)
    with pytest.raises(ValueError, match="max_len"):
        evaluate_in_context(model, TokenLayout(4, 3), [DarkRoom(2, (0, 0), 3)], 2)
