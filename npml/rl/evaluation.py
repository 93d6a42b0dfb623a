"""Evaluating a fixed policy: one sampled episode (:func:`rollout`), many in Numba
(:func:`sample_returns`), or the exact expected return (:func:`policy_return`).

For a policy :math:`\\pi(a \\mid s)` on a deterministic finite MDP, the expected return
:math:`V(s) = \\mathbb{E}_\\pi[\\sum_t \\gamma^t r_t \\mid s_0 = s]` solves the Bellman
equations, one linear system:

.. math::

    V = r_\\pi + \\gamma P_\\pi V \\iff (I - \\gamma P_\\pi) V = r_\\pi, \\qquad
    r_\\pi(s) = \\sum_a \\pi(a \\mid s)\\, r(s, a), \\quad
    P_\\pi(s, s') = \\sum_a \\pi(a \\mid s)\\, [\\mathrm{next}(s, a) = s',\\ \\neg
    \\mathrm{done}(s, a)].

Terminal transitions lead nowhere (their row of :math:`P_\\pi` loses that mass), so with
``gamma = 1`` the system is solvable exactly when every state the policy reaches can still
reach a terminal transition. With a time limit ``T`` (DarkRoom), the return is the
finite-horizon sum :math:`\\sum_{t < T} \\gamma^t P_\\pi^t r_\\pi` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_choice, check_scalar
from npml.rl import _tabular_kernels as _k
from npml.rl.tabular import (
    MAX_STEPS,
    _run_episodes,
    check_env,
    episode_cap,
    epsilon_greedy_policy,
    epsilon_schedule,
)


class Rollout(NamedTuple):
    """One episode of a fixed policy."""

    states: np.ndarray  # (T,) int64, the state before each step
    actions: np.ndarray  # (T,) int64
    rewards: np.ndarray  # (T,) float64
    return_: float  # sum of rewards (undiscounted)
    terminated: bool  # ended by a terminal transition, not by max_steps or the time limit


def _as_policy(policy: Any, S: int, A: int) -> tuple[str, Any]:
    if callable(policy):
        return "callable", policy
    pi = check_array(policy, "policy", ndim=(1, 2), dtype=None)
    if pi.ndim == 1:
        pi = check_array(pi, "policy", dtype="int")
        if pi.shape != (S,) or pi.min() < 0 or pi.max() >= A:
            raise ValueError(f"policy of shape {pi.shape}: expected ({S},) actions in [0, {A})")
        return "actions", pi
    pi = check_array(pi, "policy", dtype=np.float64)
    if pi.shape != (S, A) or pi.min() < 0 or not np.allclose(pi.sum(1), 1.0):
        raise ValueError(
            f"policy of shape {pi.shape}: expected ({S}, {A}) probabilities with rows summing to 1"
        )
    return "probabilities", pi


def rollout(
    env: Any,
    policy: np.ndarray | Callable[[int], int],
    rng: None | int | np.random.Generator = None,
    max_steps: int = MAX_STEPS,
) -> Rollout:
    """Run one episode of ``policy`` through ``env.reset`` and ``env.step``.

    Parameters
    ----------
    env : TabularEnv
    policy : ndarray of shape (S,), ndarray of shape (S, A), or callable
        An action per state (as :func:`npml.rl.greedy_policy` returns), action
        probabilities per state (:func:`npml.rl.epsilon_greedy_policy`), or a function from
        state to action.
    rng : None, int or numpy.random.Generator
        Samples actions from a probability policy (one uniform per step, inverse CDF).
    max_steps : int, default 10_000
        Cap on the episode's length.

    Returns
    -------
    Rollout
    """
    check_env(env)
    cap = episode_cap(env, max_steps)
    kind, pi = _as_policy(policy, env.n_states, env.n_actions)
    rng = as_rng(rng)
    cdf = np.cumsum(pi, axis=1) if kind == "probabilities" else None
    states, actions, rewards = [], [], []
    s, done, terminated = env.reset(), False, False
    while not done and len(states) < cap:
        if kind == "callable":
            a = pi(s)
        elif kind == "actions":
            a = int(pi[s])
        else:
            a = min(int(np.searchsorted(cdf[s], rng.random(), side="right")), env.n_actions - 1)
        s2, r, done = env.step(a)
        terminated = bool(env.done[s, a])
        states.append(s)
        actions.append(a)
        rewards.append(r)
        s = s2
    return Rollout(np.array(states, dtype=np.int64), np.array(actions, dtype=np.int64),
                   np.array(rewards, dtype=np.float64), float(np.sum(rewards)),
                   terminated)  # fmt: skip


def sample_returns(
    env: Any,
    Q: Any,
    epsilon: float,
    n_episodes: int,
    rng: None | int | np.random.Generator = None,
    max_steps: int = MAX_STEPS,
    impl: str = "numba",
) -> np.ndarray:
    """Returns of ``n_episodes`` fresh episodes of the epsilon-greedy policy of a frozen ``Q``.

    The learners' episode loop with step size 0 (so ``Q`` never changes): the Monte Carlo
    counterpart of :func:`policy_return`, with the same greedy tie-breaking.

    Parameters
    ----------
    env : TabularEnv
    Q : array_like, shape (S, A)
    epsilon : float in [0, 1]
    n_episodes : int
    rng : None, int or numpy.random.Generator
    max_steps : int, default 10_000
    impl : {"numba", "python"}, default "numba"

    Returns
    -------
    ndarray, shape (n_episodes,)
        The undiscounted return of each episode.
    """
    check_env(env)
    Q = check_array(Q, "Q", ndim=2, dtype=np.float64, copy=True)
    if Q.shape != (env.n_states, env.n_actions):
        raise ValueError(f"Q has shape {Q.shape}; expected {(env.n_states, env.n_actions)}")
    check_scalar(n_episodes, "n_episodes", kind=int, low=1)
    check_choice(impl, "impl", ("numba", "python"))
    cap = episode_cap(env, max_steps)
    epsilons = epsilon_schedule(epsilon, int(n_episodes))
    Q = np.ascontiguousarray(Q)
    out = _run_episodes(env, _k.Q_LEARNING, 0.0, 1.0, epsilons, cap, Q, as_rng(rng), False, impl)
    return out.returns


def policy_return(env: Any, Q: Any, epsilon: float = 0.0, gamma: float = 1.0) -> float:
    """Exact expected return from ``env.start`` of the epsilon-greedy policy of ``Q``.

    Solves the module docstring's linear system over the states the policy can reach; ties
    in ``Q`` go to the lowest action, as in the learners.

    Parameters
    ----------
    env : TabularEnv
    Q : array_like, shape (S, A)
    epsilon : float in [0, 1], default 0.0
    gamma : float in [0, 1], default 1.0

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``gamma = 1``, there is no time limit and the policy can reach a state from which
        it never terminates (its expected return is not finite).
    """
    check_env(env)
    Q = check_array(Q, "Q", ndim=2)
    S, A = env.n_states, env.n_actions
    if Q.shape != (S, A):
        raise ValueError(f"Q has shape {Q.shape}; expected {(S, A)}")
    check_scalar(gamma, "gamma", low=0.0, high=1.0)
    pi = epsilon_greedy_policy(Q, epsilon)  # (S, A)
    live = (pi > 0) & ~env.done  # (S, A): transitions that continue the episode
    r_pi = (pi * env.reward).sum(axis=1)  # (S,)
    P = np.zeros((S, S))
    np.add.at(P, (np.repeat(np.arange(S), A), env.next_state.ravel()), (pi * live).ravel())
    limit = getattr(env, "time_limit", None)
    if limit is not None:  # finite horizon: V_T = sum_{t<T} gamma^t P^t r
        V = np.zeros(S)
        for _ in range(limit):
            V = r_pi + gamma * P @ V
        return float(V[env.start])
    reach = _reachable(P > 0, env.start)
    if gamma == 1.0:
        ends = (pi * env.done).sum(axis=1) > 0  # (S,): a terminal transition has mass
        stuck = reach & ~_reaches(P > 0, ends)
        if stuck.any():
            raise ValueError(
                f"the epsilon-greedy policy of Q (epsilon={epsilon}) never terminates from "
                f"state {int(np.flatnonzero(stuck)[0])}: its return with gamma=1 is not finite "
                "(use epsilon > 0 or gamma < 1)"
            )
    idx = np.flatnonzero(reach)
    M = np.eye(len(idx)) - gamma * P[np.ix_(idx, idx)]
    V = np.linalg.solve(M, r_pi[idx])
    return float(V[np.searchsorted(idx, env.start)])


def _reachable(edges: np.ndarray, start: int) -> np.ndarray:
    """States reachable from ``start`` along ``edges[s, s']`` (start included)."""
    seen = np.zeros(len(edges), dtype=bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = edges[frontier].any(axis=0) & ~seen
        seen |= frontier
    return seen


def _reaches(edges: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """States from which some state of ``targets`` is reachable (targets included)."""
    seen = targets.copy()
    frontier = seen.copy()
    while frontier.any():
        frontier = edges[:, frontier].any(axis=1) & ~seen
        seen |= frontier
    return seen
