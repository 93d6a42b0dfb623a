"""Algorithm distillation: a transformer that learns new tasks in context, with frozen weights.

Laskin et al. (2022, "In-context Reinforcement Learning with Algorithm Distillation",
arXiv:2210.14215) record the *learning histories* of a source RL algorithm on many tasks,
steps :math:`(o_t, a_t, r_t)` across many episodes, while it improves, and fit a causal
transformer to predict the source's actions from the history so far:

.. math::

    \\mathcal{L}(\\theta) = -\\sum_{\\text{tasks}} \\sum_{t}
        \\log P_\\theta\\bigl(a_t \\mid h_{t-c:t-1}, o_t\\bigr), \\qquad
    h_{t} = (o_0, a_0, r_0, \\ldots, o_t, a_t, r_t),

with a context :math:`c` that spans several episodes. To predict the action of a source that
is still learning, the model has to infer how far the learning has come from the rewards in
its context, so on a held-out task, with its weights frozen, acting by its own predictions
makes its return rise from episode to episode: reinforcement learning in context. Histories
*subsampled* to every :math:`k`-th episode show a source that learns :math:`k` times faster,
and a model trained on them can improve in fewer episodes than the source. The baseline,
*expert distillation*, trains the same model on the source's final (expert) policy only; its
context then holds no trace of improvement, and it does not learn in context.

**Tokens.** Each step is serialised as an observation token, an action token and a reward
token (the observation is left out for a one-state bandit, whose "episodes" are single
pulls), after one ``BOS`` token at the start of a history. The loss is masked to the action
positions (:func:`npml.models.training.lm_loss` with ``mask``): the model is not asked to
predict the environment. Ids: ``BOS = 0``, observations ``1 .. S``, actions ``S+1 .. S+A``,
rewards after them (:class:`TokenLayout`).

**Sources here.** UCB1 on Bernoulli bandits (as in the paper) and Q-learning on DarkRoom (a
documented substitute for the paper's A3C: tabular, fast, and learning over tens of episodes
on a small room). In-context evaluation (:mod:`npml.rl._ad_rollout`) runs all held-out tasks
as one batch through the model's KV caches, sliding the context by whole episodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_scalar
from npml.models import CausalLM
from npml.models.training import fit, lm_loss, make_optimizer
from npml.rl._ad_rollout import evaluate_in_context
from npml.rl.bandits import ucb1
from npml.rl.bernoulli_bandit import BernoulliBandit
from npml.rl.tabular import greedy_policy, q_learning

__all__ = [
    "LearningHistory",
    "TokenLayout",
    "bandit_histories",
    "dark_room_histories",
    "evaluate_in_context",
    "expert_history",
    "subsample",
    "to_tokens",
    "train_ad",
]


class LearningHistory(NamedTuple):
    """What a source algorithm did on one task, step by step, across its episodes."""

    observations: np.ndarray  # (N,) int64, observation index before each step
    actions: np.ndarray  # (N,) int64
    rewards: np.ndarray  # (N,) int64, reward index (0 or 1 here)
    episode_length: int  # steps per episode (1 for a bandit pull); N is a multiple of it
    final_policy: np.ndarray  # (n_obs,) int64, the source's greedy action at the end


class TokenLayout(NamedTuple):
    """Token ids of a history (module docstring): BOS, observations, actions, rewards."""

    n_obs: int
    n_actions: int
    n_rewards: int = 2

    @property
    def obs_offset(self) -> int:
        return 1

    @property
    def act_offset(self) -> int:
        return 1 + self.n_obs

    @property
    def rew_offset(self) -> int:
        return 1 + self.n_obs + self.n_actions

    @property
    def vocab_size(self) -> int:
        return 1 + self.n_obs + self.n_actions + self.n_rewards

    @property
    def tokens_per_step(self) -> int:
        """3, or 2 without observation tokens (one observation: a bandit)."""
        return 2 if self.n_obs == 1 else 3


def to_tokens(history: LearningHistory, layout: TokenLayout) -> tuple[np.ndarray, np.ndarray]:
    """Serialise ``history`` as ``[BOS, o_0, a_0, r_0, o_1, ...]`` (module docstring).

    Returns
    -------
    tokens : ndarray of int64, shape (1 + N * tokens_per_step,)
    is_action : ndarray of bool, same shape
        True at the action tokens: the positions the loss is masked to.
    """
    a, r, o = history.actions, history.rewards, history.observations
    cols = [layout.act_offset + a, layout.rew_offset + r]  # each (N,)
    if layout.tokens_per_step == 3:
        cols.insert(0, layout.obs_offset + o)
    steps = np.stack(cols, axis=1)  # (N, tokens_per_step)
    tokens = np.concatenate([[0], steps.reshape(-1)]).astype(np.int64)
    is_action = np.zeros(tokens.shape, dtype=bool)
    is_action[1 + layout.tokens_per_step - 2 :: layout.tokens_per_step] = True
    return tokens, is_action


# -- learning histories of the sources ------------------------------------------------------


def bandit_histories(
    probs: np.ndarray, n_pulls: int, rng: None | int | np.random.Generator = None
) -> list[LearningHistory]:
    """UCB1's history on each bandit of ``probs`` (n_tasks, k): one pull per episode.

    The final policy is the arm UCB1 pulled most.
    """
    probs = check_array(probs, "probs", ndim=2)
    check_scalar(n_pulls, "n_pulls", kind=int, low=1)
    rng = as_rng(rng)
    out = []
    for p in probs:
        h = ucb1(BernoulliBandit(len(p), p), n_pulls, rng=rng)
        best = np.bincount(h.actions, minlength=len(p)).argmax()
        zeros = np.zeros(n_pulls, dtype=np.int64)
        out.append(LearningHistory(zeros, h.actions, h.rewards.astype(np.int64), 1, best[None]))
    return out


def dark_room_histories(
    envs: Sequence[Any],
    n_episodes: int,
    rng: None | int | np.random.Generator = None,
    *,
    alpha: float = 0.5,
    epsilon: float = 0.1,
    gamma: float = 0.9,
    initial_Q: float = 1.0,
) -> list[LearningHistory]:
    """Q-learning's history on each environment (e.g. :class:`~npml.rl.DarkRoom`).

    ``initial_Q`` is optimistic (above any one-step reward), so early episodes explore
    systematically rather than wait for epsilon; rewards must be 0 or 1. The final policy is
    the greedy policy of the final Q.
    """
    check_scalar(n_episodes, "n_episodes", kind=int, low=1)
    rng = as_rng(rng)
    out = []
    for env in envs:
        Q0 = np.full((env.n_states, env.n_actions), float(initial_Q))
        res = q_learning(env, n_episodes, alpha, epsilon, gamma, rng, initial_Q=Q0, record=True)
        lengths = np.unique(res.lengths)
        if lengths.size != 1:
            raise ValueError(f"episodes of lengths {lengths.tolist()}; expected one time limit")
        rewards = res.rewards.astype(np.int64)
        if not np.array_equal(rewards, res.rewards) or rewards.min() < 0 or rewards.max() > 1:
            raise ValueError("rewards outside {0, 1}; expected a DarkRoom-like environment")
        out.append(
            LearningHistory(res.states, res.actions, rewards, int(lengths[0]), greedy_policy(res.Q))
        )
    return out


def subsample(history: LearningHistory, every: int) -> LearningHistory:
    """Keep every ``every``-th episode of ``history`` (episodes 0, k, 2k, ...)."""
    check_scalar(every, "every", kind=int, low=1)
    L = history.episode_length
    n = history.actions.shape[0] // L
    keep = (np.arange(0, n, every)[:, None] * L + np.arange(L)).reshape(-1)  # step indices
    return history._replace(
        observations=history.observations[keep],
        actions=history.actions[keep],
        rewards=history.rewards[keep],
    )


def expert_history(
    history: LearningHistory,
    env: Any,
    n_episodes: int,
    rng: None | int | np.random.Generator = None,
) -> LearningHistory:
    """``n_episodes`` of the source's final policy on ``env``: expert distillation's data.

    A bandit pulls its final arm with rewards drawn from ``env.probs``; a tabular
    environment follows ``final_policy`` through its tables.
    """
    check_scalar(n_episodes, "n_episodes", kind=int, low=1)
    rng = as_rng(rng)
    L, pi = history.episode_length, history.final_policy
    if isinstance(env, BernoulliBandit):
        a = np.full(n_episodes, pi[0], dtype=np.int64)
        r = (rng.random(n_episodes) < env.probs[a]).astype(np.int64)
        return history._replace(observations=np.zeros_like(a), actions=a, rewards=r)
    obs, acts, rews = [], [], []
    for _ in range(n_episodes):
        s = env.start
        for _ in range(L):
            a = int(pi[s])
            obs.append(s)
            acts.append(a)
            rews.append(int(env.reward[s, a]))
            s = int(env.next_state[s, a])
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return history._replace(observations=as_int(obs), actions=as_int(acts), rewards=as_int(rews))


# -- training ---------------------------------------------------------------------------------


def train_ad(
    histories: Sequence[LearningHistory],
    layout: TokenLayout,
    context: int,
    *,
    d_model: int = 32,
    n_heads: int = 2,
    n_layers: int = 2,
    steps: int = 500,
    batch_size: int = 16,
    lr: float = 3e-3,
    rng: None | int | np.random.Generator = None,
    log: Callable[[str], None] | None = None,
) -> tuple[CausalLM, list[float]]:
    """Fit a :class:`~npml.models.CausalLM` to predict the histories' actions.

    Parameters
    ----------
    histories : sequence of LearningHistory
    layout : TokenLayout
    context : int
        Window length in tokens (the model's ``max_len``). Windows start at the history's
        start (its BOS) or at an episode start, so the model always sees whole episodes.
    d_model, n_heads, n_layers : int
    steps, batch_size : int
    lr : float
        AdamW's learning rate.
    rng : None, int or Generator
        Initialisation and batches.
    log : callable, optional

    Returns
    -------
    model : CausalLM
        In eval mode.
    losses : list of float
        The masked training loss of every step.
    """
    check_scalar(context, "context", kind=int, low=2)
    rng = as_rng(rng)
    data = [to_tokens(h, layout) for h in histories]
    per_ep = layout.tokens_per_step * histories[0].episode_length
    starts = []  # (history, start) of every allowed window
    for i, (tokens, _) in enumerate(data):
        s = np.concatenate([[0], 1 + per_ep * np.arange(len(tokens) // per_ep)])
        s = s[s + context + 1 <= len(tokens)]
        if s.size == 0:
            raise ValueError(
                f"history {i} has {len(tokens)} tokens; expected more than context={context}"
            )
        starts += [(i, int(v)) for v in s]
    model = CausalLM(layout.vocab_size, d_model, n_heads, n_layers, context, rng=rng)
    offsets = np.arange(context + 1)

    def loss_and_backward(g: np.random.Generator) -> float:
        picks = g.integers(0, len(starts), size=batch_size)
        windows = [data[starts[p][0]] for p in picks]
        idx = [starts[p][1] + offsets for p in picks]
        tok = np.stack([w[0][ix] for w, ix in zip(windows, idx, strict=True)])  # (B, T+1)
        act = np.stack([w[1][ix] for w, ix in zip(windows, idx, strict=True)])  # (B, T+1)
        return lm_loss(model, tok[:, :-1], tok[:, 1:], mask=act[:, 1:])

    hist = fit(model, loss_and_backward, make_optimizer(model, lr=lr), steps, rng=rng, log=log)
    return model, hist.train_loss
