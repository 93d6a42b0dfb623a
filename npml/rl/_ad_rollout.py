"""In-context evaluation of an algorithm-distillation model: many tasks, one batch, KV caches.

At every step the model, weights frozen, reads the tokens the step adds (the previous
step's action and reward, then the new observation) through its per-layer
:class:`~npml.nn.KVCache`, and the action is sampled from its logits restricted to the
action tokens. When the next episode would overflow the context (``max_len``), the context
is cut to its last whole episodes and the caches are refilled from them: the model then
sees what it saw in training, windows that start at an episode boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from npml._checks import as_rng, check_scalar
from npml.models._sampling import _sample


def _tables(tasks: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Stacked next-state and reward tables (n, S, A), start states, episode length, bandit."""
    first = tasks[0]
    bandit = getattr(first, "time_limit", None) is None and first.n_states == 1
    for t in tasks:
        if (t.n_states, t.n_actions) != (first.n_states, first.n_actions):
            raise ValueError("tasks differ in n_states or n_actions; expected one task family")
    L = 1 if bandit else int(first.time_limit)
    nxt = np.stack([t.next_state for t in tasks])  # (n, S, A)
    rew = np.stack([t.reward for t in tasks])  # (n, S, A): expected rewards for a bandit
    start = np.array([t.start for t in tasks])  # (n,)
    return nxt, rew, start, L, bandit


def evaluate_in_context(
    model: Any,
    layout: Any,
    tasks: Sequence[Any],
    n_episodes: int,
    rng: None | int | np.random.Generator = None,
    temperature: float = 1.0,
) -> np.ndarray:
    """Run ``model`` in context on every task for ``n_episodes`` episodes; return the returns.

    Parameters
    ----------
    model : CausalLM
        Trained by :func:`~npml.rl.algorithm_distillation.train_ad`; left unchanged.
    layout : TokenLayout
    tasks : sequence of BernoulliBandit or TabularEnv
        One family (same sizes); a bandit episode is one pull, a tabular episode lasts the
        environment's ``time_limit``.
    n_episodes : int
    rng : None, int or Generator
        Action sampling (and bandit rewards).
    temperature : float, default 1.0
        ``0`` acts greedily.

    Returns
    -------
    returns : ndarray, shape (len(tasks), n_episodes)
        The return of every episode; for bandits the *expected* reward of the arm pulled
        (its probability), which has the sampled reward's mean and less noise.
    """
    check_scalar(n_episodes, "n_episodes", kind=int, low=1)
    check_scalar(temperature, "temperature", low=0.0)
    rng = as_rng(rng)
    nxt, rew, start, L, bandit = _tables(tasks)
    n, tps, T_max = len(tasks), layout.tokens_per_step, model.max_len
    per_ep = tps * L
    if T_max < per_ep + 1:
        raise ValueError(f"model.max_len={T_max} holds no whole episode of {per_ep} tokens")
    rows = np.arange(n)
    a_lo = layout.act_offset
    returns = np.zeros((n, n_episodes))
    buf = np.zeros((n, 1), dtype=np.int64)  # BOS
    fed = 0
    was_training = model.training
    model.eval()
    try:
        caches = model.new_kv_caches()
        for ep in range(n_episodes):
            if buf.shape[1] + per_ep > T_max:  # slide: keep whole episodes, refill the caches
                keep = (T_max // per_ep - 1) * per_ep
                buf, fed, caches = buf[:, buf.shape[1] - keep :], 0, model.new_kv_caches()
            s = start.copy()  # (n,)
            for _ in range(L):
                if tps == 3:
                    buf = np.concatenate([buf, (layout.obs_offset + s)[:, None]], axis=1)
                logits = model.forward(buf[:, fed:], caches)[:, -1]  # (n, V)
                fed = buf.shape[1]
                z = logits[:, a_lo : a_lo + layout.n_actions].astype(np.float64)  # (n, A)
                a = _sample(z, temperature, None, rng)  # (n,)
                p = rew[rows, s, a]  # (n,)
                r = (rng.random(n) < p).astype(np.int64) if bandit else p.astype(np.int64)
                returns[:, ep] += p
                s = nxt[rows, s, a]
                step = np.stack([a_lo + a, layout.rew_offset + r], axis=1)  # (n, 2)
                buf = np.concatenate([buf, step], axis=1)
    finally:
        model.train(was_training)
    return returns
