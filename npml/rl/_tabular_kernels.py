"""Episode loops of SARSA, Expected SARSA and Q-learning: the plain-Python definition and
its Numba twin, fed the same uniforms.

The update rules are in :mod:`npml.rl.tabular`. Both loops run episodes ``ep, ep + 1, ...``
on an environment's tables until ``n_episodes`` are done or fewer than ``max_steps + 1``
uniforms are left in ``u`` (the most one episode can use); they return the next episode's
index and the position reached in ``u``, and the caller refills ``u`` (keeping its unused
tail) and calls again. Uniforms are consumed in order and never skipped, so a run depends
on the stream only, not on how it was cut into chunks.

Each action choice uses one uniform ``u`` (an inverse-CDF draw from the epsilon-greedy
policy): ``a = floor(u A / epsilon)`` if ``u < epsilon`` (uniform over the ``A`` actions),
else the greedy action, the lowest index among the largest ``Q[s]``. SARSA draws ``a'``
in ``s'`` before updating ``Q[s, a]`` (the order of Sutton & Barto's Sarsa box, Section
6.4); Q-learning and Expected SARSA draw the action at the top of each step, from the
updated table.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SARSA, EXPECTED_SARSA, Q_LEARNING = 0, 1, 2


def _greedy_reference(Q: np.ndarray, s: int) -> int:
    """argmax_a Q[s, a], the lowest a on ties."""
    return int(np.argmax(Q[s]))


def _choose_reference(Q: np.ndarray, s: int, epsilon: float, u: float) -> int:
    """An epsilon-greedy action in state ``s`` from the uniform ``u`` (module docstring)."""
    A = Q.shape[1]
    if u < epsilon:
        return min(int(u * A / epsilon), A - 1)
    return _greedy_reference(Q, s)


def _expected_value_reference(Q: np.ndarray, s: int, epsilon: float) -> float:
    """sum_a pi(a | s) Q[s, a] under the epsilon-greedy policy of Q."""
    A = Q.shape[1]
    greedy = _greedy_reference(Q, s)
    v = 0.0
    for a in range(A):
        pi = epsilon / A + (1.0 - epsilon if a == greedy else 0.0)
        v += pi * Q[s, a]
    return v


def _td_episodes_reference(
    next_state, reward, done, start, method, alpha, gamma, epsilons, max_steps,
    u, pos, ep, Q, returns, lengths, hist_s, hist_a, hist_r,
):  # fmt: skip
    """Run TD-control episodes from episode ``ep`` and uniform ``u[pos]``; the definition.

    Updates ``Q`` (S, A) in place, writes ``returns[ep]`` and ``lengths[ep]`` of every
    episode it completes and the visited states, actions and rewards into ``hist_*`` (from
    index 0; their length is at least ``len(u) - pos``). Returns ``(ep, pos, n_hist)``.
    """
    n_episodes = len(returns)
    n_hist = 0
    while ep < n_episodes and len(u) - pos >= max_steps + 1:
        eps = epsilons[ep]
        s = start
        G = 0.0
        t = 0
        if method == SARSA:
            a = _choose_reference(Q, s, eps, u[pos])
            pos += 1
        while t < max_steps:
            if method != SARSA:
                a = _choose_reference(Q, s, eps, u[pos])
                pos += 1
            s2, r, terminal = next_state[s, a], reward[s, a], done[s, a]
            hist_s[n_hist], hist_a[n_hist], hist_r[n_hist] = s, a, r
            n_hist += 1
            G += r
            t += 1
            if terminal:
                target = r
            elif method == SARSA:
                a2 = _choose_reference(Q, s2, eps, u[pos])  # before the update (module doc)
                pos += 1
                target = r + gamma * Q[s2, a2]
            elif method == EXPECTED_SARSA:
                target = r + gamma * _expected_value_reference(Q, s2, eps)
            else:
                target = r + gamma * Q[s2, _greedy_reference(Q, s2)]
            Q[s, a] += alpha * (target - Q[s, a])
            if terminal:
                break
            s = s2
            if method == SARSA:
                a = a2
        returns[ep] = G
        lengths[ep] = t
        ep += 1
    return ep, pos, n_hist


@njit(cache=True)
def _greedy_kernel(Q: np.ndarray, s: int) -> int:
    best = 0
    for a in range(1, Q.shape[1]):
        if Q[s, a] > Q[s, best]:
            best = a
    return best


@njit(cache=True)
def _choose_kernel(Q: np.ndarray, s: int, epsilon: float, u: float) -> int:
    A = Q.shape[1]
    if u < epsilon:
        return min(int(u * A / epsilon), A - 1)
    return _greedy_kernel(Q, s)


@njit(cache=True)
def _expected_value_kernel(Q: np.ndarray, s: int, epsilon: float) -> float:
    A = Q.shape[1]
    greedy = _greedy_kernel(Q, s)
    v = 0.0
    for a in range(A):
        pi = epsilon / A + (1.0 - epsilon if a == greedy else 0.0)
        v += pi * Q[s, a]
    return v


@njit(cache=True)
def _td_episodes_kernel(
    next_state, reward, done, start, method, alpha, gamma, epsilons, max_steps,
    u, pos, ep, Q, returns, lengths, hist_s, hist_a, hist_r,
):  # fmt: skip
    """Numba twin of :func:`_td_episodes_reference` (same arguments, same result)."""
    n_episodes = len(returns)
    n_hist = 0
    a = 0
    a2 = 0
    while ep < n_episodes and len(u) - pos >= max_steps + 1:
        eps = epsilons[ep]
        s = start
        G = 0.0
        t = 0
        if method == SARSA:
            a = _choose_kernel(Q, s, eps, u[pos])
            pos += 1
        while t < max_steps:
            if method != SARSA:
                a = _choose_kernel(Q, s, eps, u[pos])
                pos += 1
            s2 = next_state[s, a]
            r = reward[s, a]
            terminal = done[s, a]
            hist_s[n_hist] = s
            hist_a[n_hist] = a
            hist_r[n_hist] = r
            n_hist += 1
            G += r
            t += 1
            if terminal:
                target = r
            elif method == SARSA:
                a2 = _choose_kernel(Q, s2, eps, u[pos])
                pos += 1
                target = r + gamma * Q[s2, a2]
            elif method == EXPECTED_SARSA:
                target = r + gamma * _expected_value_kernel(Q, s2, eps)
            else:
                target = r + gamma * Q[s2, _greedy_kernel(Q, s2)]
            Q[s, a] += alpha * (target - Q[s, a])
            if terminal:
                break
            s = s2
            if method == SARSA:
                a = a2
        returns[ep] = G
        lengths[ep] = t
        ep += 1
    return ep, pos, n_hist
