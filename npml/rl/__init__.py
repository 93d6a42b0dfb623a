"""Reinforcement learning: environments, tabular TD control, bandits.

Environments are finite and deterministic (:class:`TabularEnv`: ``reset``, ``step`` and the
transition tables ``next_state``, ``reward``, ``done``), or a Bernoulli bandit. SARSA,
Expected SARSA and Q-learning run whole episodes in Numba on those tables; bandit algorithms
return their pull-by-pull histories. Names are imported on first use, so ``import npml.rl``
compiles no kernel.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "TabularEnv": "env",
    "GridWorld": "gridworld",
    "CliffWalking": "cliff_walking",
    "DarkRoom": "dark_room",
    "BernoulliBandit": "bernoulli_bandit",
    "BanditHistory": "bandits",
    "epsilon_greedy": "bandits",
    "ucb1": "bandits",
    "thompson_sampling": "bandits",
    "TabularResult": "tabular",
    "sarsa": "tabular",
    "expected_sarsa": "tabular",
    "q_learning": "tabular",
    "greedy_policy": "tabular",
    "epsilon_greedy_policy": "tabular",
    "epsilon_schedule": "tabular",
    "Rollout": "evaluation",
    "rollout": "evaluation",
    "policy_return": "evaluation",
    "sample_returns": "evaluation",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    # PEP 562, as npml/__init__.py: import the defining module on first access.
    if name in _WHERE:
        value = getattr(importlib.import_module(f"npml.rl.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'npml.rl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
