"""Tabular TD control: SARSA, Expected SARSA and Q-learning (Sutton & Barto, Chapter 6).

After each step ``(s, a, r, s')`` of an epsilon-greedy behaviour policy, each method moves
``Q(s, a)`` toward a target by the step size ``alpha``:

.. math::

    Q(s, a) \\leftarrow Q(s, a) + \\alpha \\, [\\, y - Q(s, a) \\,], \\qquad
    y = \\begin{cases}
      r + \\gamma \\, Q(s', a') & \\text{SARSA, } a' \\sim \\pi_\\epsilon(\\cdot \\mid s')\\\\
      r + \\gamma \\sum_b \\pi_\\epsilon(b \\mid s') \\, Q(s', b) & \\text{Expected SARSA}\\\\
      r + \\gamma \\max_b Q(s', b) & \\text{Q-learning}
    \\end{cases}

with ``y = r`` on a terminal transition and the epsilon-greedy policy

.. math::

    \\pi_\\epsilon(a \\mid s) = \\frac{\\epsilon}{A} + (1 - \\epsilon)\\,
    [\\, a = \\arg\\max_b Q(s, b) \\,].

SARSA and Expected SARSA are *on-policy*: they learn the values of the policy they follow,
exploration included. Q-learning is *off-policy*: whatever it follows, it learns the values
of the greedy policy. When epsilon goes to 0 the three targets coincide, which never
happens while the agent still explores (tests/rl/test_cliff_walking.py shows both sides).

Every ``argmax`` here breaks ties to the **lowest action index** (as ``numpy.argmax``): in
the learners, in :func:`greedy_policy`, :func:`epsilon_greedy_policy` and
:func:`npml.rl.policy_return`, so an agent and its oracle agree on what "greedy" means.

The episode loops run in Numba (:mod:`npml.rl._tabular_kernels`); ``impl="python"`` runs
their plain-Python twin, which gives the same result from the same ``rng``. All the
randomness is uniforms drawn from ``rng`` in order, one per action choice.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npml._checks import _short, as_rng, check_array, check_bool, check_choice, check_scalar
from npml.rl import _tabular_kernels as _k

#: Default cap on the steps of one episode (early random episodes can wander for thousands).
MAX_STEPS = 10_000


class TabularResult(NamedTuple):
    """What a tabular learner returns."""

    Q: np.ndarray  # (S, A) final action values
    returns: np.ndarray  # (n_episodes,) undiscounted return of each episode, as lived online
    lengths: np.ndarray  # (n_episodes,) int64 steps of each episode
    states: np.ndarray | None  # (sum(lengths),) int64 state of every step, if record=True
    actions: np.ndarray | None  # (sum(lengths),) int64 action taken at every step
    rewards: np.ndarray | None  # (sum(lengths),) float64 reward of every step


def check_env(env: Any) -> None:
    """Raise ``TypeError`` unless ``env`` carries the tables npml.rl's kernels read.

    :class:`npml.rl.TabularEnv` builds them so; another object passes if it has the same
    attributes as C-contiguous arrays of the same dtypes and shapes.
    """
    for attr in ("next_state", "reward", "done", "start", "n_states", "n_actions"):
        if not hasattr(env, attr):
            raise TypeError(
                f"env of type {type(env).__name__} has no {attr!r}; expected a "
                "npml.rl.TabularEnv (or an object with its transition tables)"
            )
    shape = (env.n_states, env.n_actions)
    for attr, dtype in (("next_state", np.int64), ("reward", np.float64), ("done", np.bool_)):
        table = getattr(env, attr)
        if (
            not isinstance(table, np.ndarray)
            or table.dtype != dtype
            or table.shape != shape
            or not table.flags.c_contiguous
        ):
            raise TypeError(
                f"env.{attr} is {_short(table)}; expected a C-contiguous {np.dtype(dtype)} "
                f"array of shape {shape} (build the env with npml.rl.TabularEnv)"
            )


def episode_cap(env: Any, max_steps: Any) -> int:
    """Steps one episode may take: ``max_steps``, or the env's time limit if shorter."""
    check_scalar(max_steps, "max_steps", kind=int, low=1)
    limit = getattr(env, "time_limit", None)
    return int(max_steps) if limit is None else min(int(max_steps), int(limit))


def epsilon_schedule(epsilon: Any, n_episodes: int) -> np.ndarray:
    """The exploration rate of every episode, shape ``(n_episodes,)``, each in [0, 1].

    Parameters
    ----------
    epsilon : float, callable or array_like
        A constant; a function of the episode index ``0 .. n_episodes - 1``; or one value per
        episode.
    n_episodes : int
    """
    if callable(epsilon):
        values = np.array([float(check_scalar(epsilon(i), "epsilon(episode)"))
                           for i in range(n_episodes)])  # fmt: skip
    elif np.ndim(epsilon) == 0:
        values = np.full(n_episodes, float(check_scalar(epsilon, "epsilon")))
    else:
        values = check_array(epsilon, "epsilon", ndim=1, dtype=np.float64)
        if values.shape != (n_episodes,):
            raise ValueError(
                f"epsilon has shape {values.shape}; expected ({n_episodes},), one per episode"
            )
    if values.min() < 0 or values.max() > 1:
        i = int(np.flatnonzero((values < 0) | (values > 1))[0])
        raise ValueError(
            f"epsilon={float(values[i])!r} (episode {i}) is out of range; "
            "expected 0 <= epsilon <= 1"
        )
    return np.ascontiguousarray(values)


def _td_control(env, method, n_episodes, alpha, epsilon, gamma, rng, max_steps, initial_Q,
                record, impl) -> TabularResult:  # fmt: skip
    check_env(env)
    check_scalar(n_episodes, "n_episodes", kind=int, low=1)
    check_scalar(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False)
    check_scalar(gamma, "gamma", low=0.0, high=1.0)
    check_choice(impl, "impl", ("numba", "python"))
    record = check_bool(record, "record")
    cap = episode_cap(env, max_steps)
    epsilons = epsilon_schedule(epsilon, int(n_episodes))
    S, A = env.n_states, env.n_actions
    Q = np.zeros((S, A))
    if initial_Q is not None:
        Q0 = check_array(initial_Q, "initial_Q", ndim=(0, 2), dtype=np.float64)
        if Q0.ndim == 2 and Q0.shape != (S, A):
            raise ValueError(f"initial_Q has shape {Q0.shape}; expected {(S, A)}")
        Q[...] = Q0
    return _run_episodes(env, method, float(alpha), float(gamma), epsilons, cap, Q,
                         as_rng(rng), record, impl)  # fmt: skip


def _run_episodes(
    env: Any,
    method: int,
    alpha: float,
    gamma: float,
    epsilons: np.ndarray,
    cap: int,
    Q: np.ndarray,
    rng: np.random.Generator,
    record: bool,
    impl: str,
) -> TabularResult:
    """Drive the episode kernel (validated arguments; ``Q`` is updated in place).

    Refills the uniforms ``u`` whenever fewer than ``cap + 1`` are left, keeping the unused
    tail, so the run sees one stream whatever the chunk size. ``alpha = 0`` evaluates the
    epsilon-greedy policy of ``Q`` without learning (:func:`npml.rl.sample_returns`).
    """
    run = _k._td_episodes_kernel if impl == "numba" else _k._td_episodes_reference
    n_episodes = len(epsilons)
    returns = np.zeros(n_episodes)
    lengths = np.zeros(n_episodes, dtype=np.int64)
    tables = (env.next_state, env.reward, env.done, int(env.start))
    chunk = max(cap + 1, 8192)  # fresh uniforms per refill; an episode needs at most cap + 1
    u, pos, ep, hist = np.empty(0), 0, 0, []
    while ep < n_episodes:
        u = np.concatenate([u[pos:], rng.random(chunk)])  # keep the unused tail: one stream
        pos = 0
        h = (np.empty(len(u), np.int64), np.empty(len(u), np.int64), np.empty(len(u)))
        ep, pos, n = run(*tables, method, alpha, gamma, epsilons, cap,
                         u, pos, ep, Q, returns, lengths, *h)  # fmt: skip
        if record:
            hist.append(tuple(x[:n] for x in h))
    states = actions = rewards = None
    if record:
        states, actions, rewards = (np.concatenate([c[i] for c in hist]) for i in range(3))
    return TabularResult(Q, returns, lengths, states, actions, rewards)


_PARAMS = """
    Parameters
    ----------
    env : TabularEnv
        Any environment with transition tables (CliffWalking, GridWorld, DarkRoom).
    n_episodes : int
    alpha : float in (0, 1], default 0.5
        Step size.
    epsilon : float, callable or array_like, default 0.1
        Exploration rate: a constant, a function of the episode index, or one value per
        episode (:func:`epsilon_schedule`), each in [0, 1].
    gamma : float in [0, 1], default 1.0
        Discount. With ``gamma = 1`` on an environment without terminal states (DarkRoom),
        the values grow without bound; use ``gamma < 1`` there.
    rng : None, int or numpy.random.Generator
    max_steps : int, default 10_000
        Cap on one episode's steps (the env's time limit applies if shorter); an episode cut
        there is truncated, not terminal, so its last update still bootstraps.
    initial_Q : float or ndarray of shape (S, A), optional
        Starting values (zeros by default).
    record : bool, default False
        Also return every step's state, action and reward (learning histories).
    impl : {"numba", "python"}, default "numba"
        The episode loop: the Numba kernel or its plain-Python twin (same result).

    Returns
    -------
    TabularResult
        ``Q`` (S, A), per-episode ``returns`` and ``lengths``, and the steps if ``record``.
"""


def sarsa(env: Any, n_episodes: int, alpha: float = 0.5, epsilon: Any = 0.1,
          gamma: float = 1.0, rng: None | int | np.random.Generator = None, *,
          max_steps: int = MAX_STEPS, initial_Q: Any = None, record: bool = False,
          impl: str = "numba") -> TabularResult:  # fmt: skip
    """SARSA, on-policy TD control (module docstring, first target)."""
    return _td_control(env, _k.SARSA, n_episodes, alpha, epsilon, gamma, rng, max_steps,
                       initial_Q, record, impl)  # fmt: skip


def expected_sarsa(env: Any, n_episodes: int, alpha: float = 0.5, epsilon: Any = 0.1,
                   gamma: float = 1.0, rng: None | int | np.random.Generator = None, *,
                   max_steps: int = MAX_STEPS, initial_Q: Any = None, record: bool = False,
                   impl: str = "numba") -> TabularResult:  # fmt: skip
    """Expected SARSA: SARSA's target averaged over the policy (module docstring)."""
    return _td_control(env, _k.EXPECTED_SARSA, n_episodes, alpha, epsilon, gamma, rng,
                       max_steps, initial_Q, record, impl)  # fmt: skip


def q_learning(env: Any, n_episodes: int, alpha: float = 0.5, epsilon: Any = 0.1,
               gamma: float = 1.0, rng: None | int | np.random.Generator = None, *,
               max_steps: int = MAX_STEPS, initial_Q: Any = None, record: bool = False,
               impl: str = "numba") -> TabularResult:  # fmt: skip
    """Q-learning, off-policy TD control (module docstring, third target)."""
    return _td_control(env, _k.Q_LEARNING, n_episodes, alpha, epsilon, gamma, rng,
                       max_steps, initial_Q, record, impl)  # fmt: skip


for _f in (sarsa, expected_sarsa, q_learning):
    _f.__doc__ += _PARAMS


def greedy_policy(Q: Any) -> np.ndarray:
    """The greedy action of every state, ``argmax_a Q[s, a]`` (lowest index on ties).

    Parameters
    ----------
    Q : array_like, shape (S, A)

    Returns
    -------
    ndarray of int64, shape (S,)
    """
    Q = check_array(Q, "Q", ndim=2, min_size=1)
    return np.argmax(Q, axis=1).astype(np.int64)


def epsilon_greedy_policy(Q: Any, epsilon: float) -> np.ndarray:
    """The action probabilities ``pi_epsilon(a | s)`` of the module docstring.

    Parameters
    ----------
    Q : array_like, shape (S, A)
    epsilon : float in [0, 1]

    Returns
    -------
    ndarray, shape (S, A)
        Rows sum to 1; the greedy action is :func:`greedy_policy`'s.
    """
    Q = check_array(Q, "Q", ndim=2, min_size=1)
    check_scalar(epsilon, "epsilon", low=0.0, high=1.0)
    S, A = Q.shape
    pi = np.full((S, A), epsilon / A)
    pi[np.arange(S), greedy_policy(Q)] += 1.0 - epsilon
    return pi
