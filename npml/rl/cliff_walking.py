"""Sutton & Barto's cliff walk (Example 6.6), numbered as Gymnasium's ``CliffWalking-v1``.

A 4 x 12 grid: the start is (3, 0), the goal (3, 11), and the cells (3, 1) ... (3, 10)
between them are the cliff. Every step costs -1; stepping into the cliff costs -100 and puts
the agent back at the start. State ``row * 12 + col`` (start 36, goal 47), actions
``0 = up, 1 = right, 2 = down, 3 = left``.

The optimal path runs along the cliff edge, 13 steps (return -13). An epsilon-greedy agent
that walks it falls in now and then; SARSA, which learns the values of the policy it follows,
learns a safer path further up, and Q-learning, which learns the greedy policy's values, the
edge path and the lower online return (the figure of Example 6.6).
"""

from __future__ import annotations

from npml.rl.gridworld import GridWorld

#: The 4 x 12 layout (module docstring): S start, C cliff, G goal.
CLIFF_LAYOUT = (
    "............",
    "............",
    "............",
    "SCCCCCCCCCCG",
)


class CliffWalking(GridWorld):
    """The 4 x 12 cliff walk of Sutton & Barto's Example 6.6 (48 states, 4 actions).

    Parameters
    ----------
    time_limit : int or None, default None
        Truncate episodes after this many steps (the book has none).
    """

    def __init__(self, time_limit: int | None = None) -> None:
        super().__init__(CLIFF_LAYOUT, step_reward=-1.0, cliff_reward=-100.0,
                         time_limit=time_limit)  # fmt: skip

    def __repr__(self) -> str:
        return "CliffWalking()"
