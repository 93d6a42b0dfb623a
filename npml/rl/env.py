"""A finite, deterministic environment given by its transition tables.

A Markov decision process with states :math:`s \\in \\{0, \\dots, S-1\\}`, actions
:math:`a \\in \\{0, \\dots, A-1\\}` and deterministic dynamics is three tables:

.. math::

    s' = \\mathrm{next\\_state}[s, a], \\qquad r = \\mathrm{reward}[s, a], \\qquad
    \\mathrm{done}[s, a] \\in \\{0, 1\\},

where ``done`` marks the transitions that end an episode (entering a terminal state). The
tables are plain NumPy arrays, so a Numba kernel can run whole episodes on them
(:mod:`npml.rl._tabular_kernels`), and :meth:`TabularEnv.step` is the same lookup, one step at
a time, for a reader or a user who drives the environment by hand.

An episode may also end by a time limit (``time_limit`` steps, as DarkRoom's 20): that is a
*truncation*, not a terminal transition, so the tables keep ``done`` false there and
learning keeps bootstrapping through the last step: the time limit is not part of the
state, so the state after it still has a value (Pardo et al., "Time Limits in Reinforcement
Learning", 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import as_rng, check_array, check_scalar


class TabularEnv:
    """A deterministic finite MDP from its tables; the base of every environment in npml.rl.

    Parameters
    ----------
    next_state : array_like of int, shape (S, A)
        The state reached by taking action ``a`` in state ``s``.
    reward : array_like of float, shape (S, A)
        The reward of that transition.
    done : array_like of bool (or 0/1), shape (S, A)
        Whether that transition ends the episode (reaches a terminal state).
    start : int
        The state every episode starts in.
    time_limit : int or None, default None
        Episodes are truncated after this many steps (``None``: only ``done`` ends them).

    Attributes
    ----------
    n_states, n_actions : int
        ``S`` and ``A``.
    state : int or None
        The current state (``None`` before the first :meth:`reset`).
    t : int
        Steps taken in the current episode.
    """

    def __init__(
        self,
        next_state: Any,
        reward: Any,
        done: Any,
        start: int,
        time_limit: int | None = None,
    ) -> None:
        next_state = check_array(next_state, "next_state", ndim=2, dtype="int", min_size=1)
        S, A = next_state.shape
        reward = check_array(reward, "reward", ndim=2)
        done = check_array(done, "done", ndim=2, dtype=None)
        if done.dtype.kind in "iu" and np.isin(done, (0, 1)).all():
            done = done.astype(bool)  # 0/1 flags are accepted as booleans
        done = check_array(done, "done", dtype="bool")
        for name, table in (("reward", reward), ("done", done)):
            if table.shape != (S, A):
                raise ValueError(f"{name} has shape {table.shape}; expected {(S, A)}")
        if next_state.min() < 0 or next_state.max() >= S:
            raise ValueError(f"next_state holds states outside [0, {S}); expected state indices")
        check_scalar(start, "start", kind=int, low=0, high=S - 1)
        if time_limit is not None:
            check_scalar(time_limit, "time_limit", kind=int, low=1)
        self.next_state = np.ascontiguousarray(next_state, dtype=np.int64)  # (S, A)
        self.reward = np.ascontiguousarray(reward, dtype=np.float64)  # (S, A)
        self.done = np.ascontiguousarray(done, dtype=np.bool_)  # (S, A)
        self.start = int(start)
        self.time_limit = None if time_limit is None else int(time_limit)
        self.n_states, self.n_actions = int(S), int(A)
        self.state: int | None = None
        self.t = 0
        self._ended = True

    def reset(self, rng: None | int | np.random.Generator = None) -> int:
        """Start an episode; return the start state.

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Accepted for one interface with the stochastic environments
            (:class:`npml.rl.BernoulliBandit`); the deterministic ones start in ``start``.
        """
        if rng is not None:
            as_rng(rng)  # validated, though a fixed start draws nothing
        self.state, self.t, self._ended = self.start, 0, False
        return self.state

    def step(self, action: int) -> tuple[int, float, bool]:
        """Take ``action``; return ``(next state, reward, done)``.

        ``done`` is true when the transition is terminal or the time limit is reached.
        Stepping an episode that has ended (or was never reset) raises ``RuntimeError``.
        """
        action = check_action(action, self.n_actions)
        if self._ended:
            raise RuntimeError(
                f"step(action={action}) after the episode ended (or before reset()); "
                "call reset() to start a new episode"
            )
        s = self.state
        s_next = int(self.next_state[s, action])
        r = float(self.reward[s, action])
        self.t += 1
        done = bool(self.done[s, action]) or (
            self.time_limit is not None and self.t >= self.time_limit
        )
        self.state, self._ended = s_next, done
        return s_next, r, done

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_states={self.n_states}, n_actions={self.n_actions})"


def check_action(action: Any, n_actions: int) -> int:
    """Return ``action`` as an int after checking it is an integer in ``[0, n_actions)``."""
    check_scalar(action, "action", kind=int, low=0, high=n_actions - 1)
    return int(action)
