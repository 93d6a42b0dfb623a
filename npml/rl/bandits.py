"""Bandit algorithms: epsilon-greedy, UCB1 and Thompson sampling, with their regret.

After ``n_a`` pulls of arm ``a`` with mean reward :math:`\\hat\\mu_a`, each algorithm picks
the next arm by

.. math::

    \\text{epsilon-greedy:}\\quad a_t = \\begin{cases} \\text{uniform arm} & \\text{w.p. }
    \\epsilon \\\\ \\arg\\max_a \\hat\\mu_a & \\text{otherwise} \\end{cases}

    \\text{UCB1:}\\quad a_t = \\arg\\max_a \\hat\\mu_a + \\sqrt{\\frac{2 \\ln t}{n_a}}
    \\qquad \\text{(Auer, Cesa-Bianchi and Fischer, 2002)}

    \\text{Thompson:}\\quad \\theta_a \\sim \\mathrm{Beta}(\\alpha_0 + s_a, \\beta_0 + n_a - s_a),
    \\quad a_t = \\arg\\max_a \\theta_a \\qquad \\text{(Thompson, 1933)}

with ``s_a`` the successes of arm ``a``. Epsilon-greedy and UCB1 first pull every arm once
(``t = 1 .. k``); every ``argmax`` breaks ties to the lowest index. The expected regret
:math:`R(T) = \\sum_{t \\le T} (p^* - p_{a_t})` of epsilon-greedy grows linearly in ``T``
(it keeps exploring at rate epsilon), UCB1's as ``log T`` and Thompson sampling's too, with
a smaller constant in practice.

Rewards are simulated from ``bandit.probs``: ``r_t = [u_t < p_{a_t}]`` with the uniforms
``u`` drawn first from ``rng``, so two algorithms given the same seed face the same reward
stream (common random numbers: their regret curves differ by the algorithm only). Each
function returns the whole history, which algorithm distillation trains on.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_scalar
from npml.rl.bernoulli_bandit import BernoulliBandit


class BanditHistory(NamedTuple):
    """What a bandit algorithm did, pull by pull."""

    actions: np.ndarray  # (n_steps,) int64, the arm pulled at each step
    rewards: np.ndarray  # (n_steps,) float64, 0.0 or 1.0
    regret: np.ndarray  # (n_steps,) float64, cumulative expected regret R(t)


def _check(bandit: Any, n_steps: Any) -> tuple[np.ndarray, int]:
    if not isinstance(bandit, BernoulliBandit):
        raise TypeError(f"bandit of type {type(bandit).__name__}; expected a BernoulliBandit")
    check_scalar(n_steps, "n_steps", kind=int, low=1)
    return bandit.probs, int(n_steps)


def _history(probs: np.ndarray, actions: list[int], rewards: list[float]) -> BanditHistory:
    a = np.asarray(actions, dtype=np.int64)
    regret = np.cumsum(probs.max() - probs[a])
    return BanditHistory(a, np.asarray(rewards, dtype=np.float64), regret)


def _argmax(values: list[float]) -> int:
    """Index of the largest value, the lowest on ties (as numpy.argmax)."""
    best, best_v = 0, values[0]
    for i in range(1, len(values)):
        if values[i] > best_v:
            best, best_v = i, values[i]
    return best


def epsilon_greedy(
    bandit: BernoulliBandit,
    n_steps: int,
    epsilon: float = 0.1,
    rng: None | int | np.random.Generator = None,
) -> BanditHistory:
    """Epsilon-greedy on sample means (module docstring), after one pull of every arm.

    Parameters
    ----------
    bandit : BernoulliBandit
    n_steps : int
        Number of pulls ``T``.
    epsilon : float in [0, 1], default 0.1
        Probability of a uniformly random arm.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    BanditHistory
    """
    probs, T = _check(bandit, n_steps)
    check_scalar(epsilon, "epsilon", low=0.0, high=1.0)
    rng = as_rng(rng)
    u_reward = rng.random(T).tolist()  # drawn first: the stream every algorithm shares
    u_explore, u_arm = rng.random(T).tolist(), rng.random(T).tolist()
    k, p = len(probs), probs.tolist()
    n, mean = [0] * k, [0.0] * k
    actions, rewards = [], []
    for t in range(T):
        if t < k:
            a = t
        elif u_explore[t] < epsilon:
            a = min(int(u_arm[t] * k), k - 1)
        else:
            a = _argmax(mean)
        r = 1.0 if u_reward[t] < p[a] else 0.0
        n[a] += 1
        mean[a] += (r - mean[a]) / n[a]
        actions.append(a)
        rewards.append(r)
    return _history(probs, actions, rewards)


def ucb1(
    bandit: BernoulliBandit,
    n_steps: int,
    rng: None | int | np.random.Generator = None,
) -> BanditHistory:
    """UCB1 (module docstring): every arm once, then the largest upper confidence bound.

    Deterministic given the rewards; ``rng`` only draws them.

    Parameters
    ----------
    bandit : BernoulliBandit
    n_steps : int
    rng : None, int or numpy.random.Generator

    Returns
    -------
    BanditHistory
    """
    probs, T = _check(bandit, n_steps)
    u_reward = as_rng(rng).random(T).tolist()
    k, p = len(probs), probs.tolist()
    n, mean = [0] * k, [0.0] * k
    actions, rewards = [], []
    for t in range(T):
        if t < k:
            a = t
        else:
            log_t = math.log(t)  # t pulls so far; this is pull t + 1
            a = _argmax([mean[i] + math.sqrt(2.0 * log_t / n[i]) for i in range(k)])
        r = 1.0 if u_reward[t] < p[a] else 0.0
        n[a] += 1
        mean[a] += (r - mean[a]) / n[a]
        actions.append(a)
        rewards.append(r)
    return _history(probs, actions, rewards)


def thompson_sampling(
    bandit: BernoulliBandit,
    n_steps: int,
    rng: None | int | np.random.Generator = None,
    prior: tuple[float, float] = (1.0, 1.0),
) -> BanditHistory:
    """Beta-Bernoulli Thompson sampling (module docstring).

    Parameters
    ----------
    bandit : BernoulliBandit
    n_steps : int
    rng : None, int or numpy.random.Generator
        Draws the rewards first, then one Beta sample per arm and step.
    prior : (float, float), default (1.0, 1.0)
        ``(alpha_0, beta_0)`` of the Beta prior on every arm (uniform by default).

    Returns
    -------
    BanditHistory
    """
    probs, T = _check(bandit, n_steps)
    if not isinstance(prior, (tuple, list)) or len(prior) != 2:
        raise TypeError(f"prior={prior!r}; expected a pair (alpha_0, beta_0)")
    a0 = check_scalar(prior[0], "prior alpha_0", low=0.0, low_inclusive=False)
    b0 = check_scalar(prior[1], "prior beta_0", low=0.0, low_inclusive=False)
    rng = as_rng(rng)
    u_reward = rng.random(T)
    k = len(probs)
    alpha, beta = np.full(k, float(a0)), np.full(k, float(b0))  # (k,) posterior parameters
    actions = np.empty(T, dtype=np.int64)
    rewards = np.empty(T)
    for t in range(T):
        a = int(np.argmax(rng.beta(alpha, beta)))
        r = 1.0 if u_reward[t] < probs[a] else 0.0
        alpha[a] += r
        beta[a] += 1.0 - r
        actions[t], rewards[t] = a, r
    return BanditHistory(actions, rewards, np.cumsum(probs.max() - probs[actions]))
