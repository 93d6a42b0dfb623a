"""A k-armed Bernoulli bandit: arm ``a`` pays 1 with probability ``p_a``, else 0.

.. math::

    r_t \\sim \\mathrm{Bernoulli}(p_{a_t}), \\qquad
    \\mathrm{regret}(T) = \\sum_{t=1}^{T} (p^* - p_{a_t}), \\quad p^* = \\max_a p_a.

The bandit is a one-state environment that never ends: :meth:`BernoulliBandit.step` returns
``(0, reward, False)``, so a learner decides how many pulls to make. Its tables
(``next_state`` zeros, ``reward`` the expected payoffs ``p``, ``done`` false) have one row.
The bandit algorithms of :mod:`npml.rl.bandits` draw rewards from ``probs`` with their own
``rng`` (so one seed fixes a whole run); :meth:`pull` draws them from the bandit's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import as_rng, check_array, check_scalar
from npml.rl.env import check_action


class BernoulliBandit:
    """A k-armed Bernoulli bandit (module docstring).

    Parameters
    ----------
    k : int
        Number of arms.
    probs : array_like, shape (k,), optional
        Success probability of each arm, in [0, 1]; ``None`` draws them uniformly with
        ``rng``.
    rng : None, int or numpy.random.Generator
        Draws ``probs`` when not given, then the rewards of :meth:`pull` / :meth:`step`.

    Attributes
    ----------
    probs : ndarray, shape (k,)
    best_arm : int
        ``argmax(probs)`` (lowest index on ties).
    n_states, n_actions : int
        ``1`` and ``k``.
    """

    def __init__(
        self,
        k: int,
        probs: Any = None,
        rng: None | int | np.random.Generator = None,
    ) -> None:
        check_scalar(k, "k", kind=int, low=1)
        self._rng = as_rng(rng)
        if probs is None:
            probs = self._rng.random(int(k))
        probs = check_array(probs, "probs", ndim=1, dtype=np.float64)
        if probs.shape != (k,):
            raise ValueError(f"probs has shape {probs.shape}; expected ({k},), one per arm")
        if np.any((probs < 0) | (probs > 1)):
            raise ValueError(f"probs={probs.tolist()} has values outside [0, 1]")
        self.k = int(k)
        self.probs = np.ascontiguousarray(probs)
        self.best_arm = int(np.argmax(probs))
        self.n_states, self.n_actions = 1, self.k
        self.next_state = np.zeros((1, self.k), dtype=np.int64)
        self.reward = self.probs[None, :].copy()  # (1, k): expected rewards
        self.done = np.zeros((1, self.k), dtype=bool)
        self.start = 0
        self.time_limit = None

    def reset(self, rng: None | int | np.random.Generator = None) -> int:
        """Return the only state, 0; a given ``rng`` replaces the reward generator."""
        if rng is not None:
            self._rng = as_rng(rng)
        return 0

    def pull(self, action: int) -> float:
        """Pull arm ``action``; return its reward, 1.0 or 0.0."""
        a = check_action(action, self.k)
        return float(self._rng.random() < self.probs[a])

    def step(self, action: int) -> tuple[int, float, bool]:
        """Pull arm ``action``; return ``(0, reward, False)`` (a bandit never ends)."""
        return 0, self.pull(action), False

    def regret(self, actions: Any) -> np.ndarray:
        """Cumulative expected regret of a sequence of arms, shape ``(len(actions),)``."""
        actions = check_array(actions, "actions", ndim=1, dtype="int")
        if actions.size and (actions.min() < 0 or actions.max() >= self.k):
            raise ValueError(f"actions holds arms outside [0, {self.k})")
        return np.cumsum(self.probs.max() - self.probs[actions])

    def __repr__(self) -> str:
        return f"BernoulliBandit(k={self.k}, probs={np.round(self.probs, 3).tolist()})"
