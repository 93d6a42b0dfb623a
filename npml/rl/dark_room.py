"""DarkRoom, the grid of the algorithm-distillation paper (Laskin et al., 2022).

A ``size x size`` room (9 x 9 in the paper) with a hidden goal cell. Each episode starts at
the centre and lasts ``episode_length`` steps (20); the agent observes only its own position
``(x, y)`` (never the goal) and gets reward 1 for every step that ends on the goal:

.. math::

    r_t = [\\,s_{t+1} = g\\,], \\qquad G = \\sum_{t=0}^{T-1} r_t \\le T - d(c, g) + 1,

with ``d`` the Manhattan distance from the centre ``c`` (met by walking straight to the goal
and staying; the bound is ``T`` when the goal is the centre). Reaching the goal does not end
the episode: the agent should stay there (action 4, the no-op). An agent that does not know
``g`` must find it by exploring, and remember it across episodes: that is the in-context
task.

State ``s = y * size + x`` with ``x`` the column and ``y`` the row (row 0 at the top); it is a
one-to-one function of the observation ``(x, y)``, which :meth:`DarkRoom.position` returns.
Actions ``0 = up (y - 1), 1 = right, 2 = down, 3 = left`` (as in :class:`GridWorld`) and
``4 = stay``; moves into a wall leave the agent in place.

Tabular Q-learning (the documented stand-in for the paper's A3C as the source algorithm)
needs optimistic start values here: from zeros, epsilon-greedy with ties to action 0 walks
into the top wall and rarely finds a far goal (9 x 9, 300 episodes, epsilon 0.1, gamma 0.9:
greedy return 5.1 on average over the 81 goals, the optimum 16.5); with ``initial_Q=1.0`` it
reaches the optimum on every goal (tests/rl/test_tabular.py checks the 5 x 5 room).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import as_rng, check_scalar
from npml.rl.env import TabularEnv

#: (dx, dy) of actions 0 = up, 1 = right, 2 = down, 3 = left, 4 = stay.
DARK_ROOM_MOVES = np.array([[0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]])


class DarkRoom(TabularEnv):
    """The algorithm-distillation paper's dark room (module docstring).

    Parameters
    ----------
    size : int, default 9
        The room is ``size x size``; the start is the centre ``(size // 2, size // 2)``.
    goal : tuple of int (x, y), or None
        The hidden goal; ``None`` draws one uniformly from every cell with ``rng``.
    episode_length : int, default 20
        Steps per episode (the time limit; no transition is terminal).
    rng : None, int or numpy.random.Generator
        Draws the goal when ``goal`` is None.

    Attributes
    ----------
    goal : tuple of int
        ``(x, y)`` of the goal.
    goal_state : int
        Its state index.
    """

    def __init__(
        self,
        size: int = 9,
        goal: tuple[int, int] | None = None,
        episode_length: int = 20,
        rng: None | int | np.random.Generator = None,
    ) -> None:
        check_scalar(size, "size", kind=int, low=2)
        check_scalar(episode_length, "episode_length", kind=int, low=1)
        size = int(size)
        if goal is None:
            gx, gy = (int(v) for v in as_rng(rng).integers(0, size, 2))
        else:
            if not isinstance(goal, (tuple, list, np.ndarray)) or len(goal) != 2:
                raise TypeError(f"goal={goal!r}; expected a pair (x, y) or None")
            gx = check_scalar(goal[0], "goal x", kind=int, low=0, high=size - 1)
            gy = check_scalar(goal[1], "goal y", kind=int, low=0, high=size - 1)
        S = size * size
        xy = np.stack(np.divmod(np.arange(S), size)[::-1], axis=1)  # (S, 2) as (x, y)
        moved = np.clip(xy[:, None, :] + DARK_ROOM_MOVES[None], 0, size - 1)  # (S, 5, 2)
        next_state = moved[..., 1] * size + moved[..., 0]  # (S, 5)
        goal_state = int(gy) * size + int(gx)
        reward = (next_state == goal_state).astype(np.float64)  # (S, 5)
        done = np.zeros((S, 5), dtype=bool)
        centre = (size // 2) * size + size // 2
        super().__init__(next_state, reward, done, centre, time_limit=episode_length)
        self.size = size
        self.episode_length = int(episode_length)
        self.goal = (int(gx), int(gy))
        self.goal_state = goal_state
        self.positions = xy  # (S, 2): (x, y) of every state

    def position(self, state: Any) -> tuple[int, int]:
        """The observation ``(x, y)`` of ``state``."""
        check_scalar(state, "state", kind=int, low=0, high=self.n_states - 1)
        x, y = self.positions[int(state)]
        return int(x), int(y)

    def __repr__(self) -> str:
        return f"DarkRoom(size={self.size}, goal={self.goal}, episode_length={self.episode_length})"
