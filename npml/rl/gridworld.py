"""Grid worlds drawn as text: walls, a start, terminal goals and cliffs.

A layout is a list of equal-length strings, one per row (row 0 at the top), with cells

* ``.`` free, ``S`` the start (exactly one), ``G`` a terminal goal,
* ``#`` a wall (moves into it, like moves off the grid, leave the agent where it is),
* ``C`` a cliff: entering it costs ``cliff_reward`` and sends the agent back to the start,
  without ending the episode (Sutton & Barto, Example 6.6).

State ``s = row * n_cols + col`` (walls and cliffs keep their indices but are never
occupied); actions ``0 = up, 1 = right, 2 = down, 3 = left``. Every move costs
``step_reward``, the one that enters a goal too; entering a goal ends the episode. These are
the conventions of Gymnasium's ``CliffWalking-v1``, so :class:`npml.rl.CliffWalking` matches
it transition for transition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npml._checks import check_scalar
from npml.rl.env import TabularEnv

#: (row, col) displacement of actions 0 = up, 1 = right, 2 = down, 3 = left.
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])


class GridWorld(TabularEnv):
    """A deterministic grid world from a text layout (the module docstring's cells).

    Parameters
    ----------
    layout : sequence of str
        Rows of equal length, with exactly one ``S`` and at least one ``G``.
    step_reward : float, default -1.0
        Reward of every move that does not enter a cliff.
    cliff_reward : float, default -100.0
        Reward of entering a cliff cell (then back to the start).
    time_limit : int or None, default None
        Truncate episodes after this many steps.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, n_cols)``.
    goal : ndarray of int
        The goal states.
    """

    def __init__(
        self,
        layout: Sequence[str],
        step_reward: float = -1.0,
        cliff_reward: float = -100.0,
        time_limit: int | None = None,
    ) -> None:
        if isinstance(layout, str) or not all(isinstance(row, str) for row in layout):
            raise TypeError("layout must be a sequence of strings, one per row")
        if len(layout) == 0 or len({len(row) for row in layout}) != 1 or not layout[0]:
            raise ValueError("layout must be non-empty rows of equal length")
        bad = set("".join(layout)) - set(".SG#C")
        if bad:
            raise ValueError(f"layout has unknown cells {sorted(bad)}; expected . S G # C")
        check_scalar(step_reward, "step_reward")
        check_scalar(cliff_reward, "cliff_reward")
        cells = np.array([list(row) for row in layout])  # (n_rows, n_cols)
        if (cells == "S").sum() != 1 or (cells == "G").sum() < 1:
            raise ValueError("layout needs exactly one start 'S' and at least one goal 'G'")
        n_rows, n_cols = cells.shape
        start = int(np.flatnonzero(cells.ravel() == "S")[0])
        S = n_rows * n_cols
        next_state = np.zeros((S, 4), dtype=np.int64)
        reward = np.full((S, 4), float(step_reward))
        done = np.zeros((S, 4), dtype=bool)
        for s in range(S):
            row, col = divmod(s, n_cols)
            for a, (dr, dc) in enumerate(MOVES):
                r2, c2 = row + dr, col + dc
                if not (0 <= r2 < n_rows and 0 <= c2 < n_cols) or cells[r2, c2] == "#":
                    r2, c2 = row, col  # bumped into the edge or a wall: stay
                if cells[r2, c2] == "C":
                    next_state[s, a], reward[s, a] = start, cliff_reward
                    continue
                next_state[s, a] = r2 * n_cols + c2
                done[s, a] = cells[r2, c2] == "G"
        for g in np.flatnonzero(cells.ravel() == "G"):  # terminal: absorbing, never stepped
            next_state[g], reward[g], done[g] = g, 0.0, True
        super().__init__(next_state, reward, done, start, time_limit)
        self.layout = tuple(layout)
        self.shape = (n_rows, n_cols)
        self.goal = np.flatnonzero(cells.ravel() == "G")
        self._cells = cells

    def cell(self, state: int) -> str:
        """The layout character of ``state``."""
        check_scalar(state, "state", kind=int, low=0, high=self.n_states - 1)
        return str(self._cells.ravel()[state])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"
