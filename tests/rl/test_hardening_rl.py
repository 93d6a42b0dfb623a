"""Bad input to npml.rl is refused by name: actions outside [0, n_actions), step after the
episode ended, alpha outside (0, 1], negative (or > 1) epsilon, probabilities outside [0, 1],
wrong shapes and types.

``COVERS`` is the set of ``npml.rl.__all__`` names these rows exercise; ``EXEMPT`` the ones
with no input to refuse (result NamedTuples), each with the reason.
"""

import numpy as np
import pytest

import npml.rl
from npml.rl import (
    BernoulliBandit,
    CliffWalking,
    DarkRoom,
    GridWorld,
    TabularEnv,
    epsilon_greedy,
    epsilon_greedy_policy,
    epsilon_schedule,
    expected_sarsa,
    greedy_policy,
    policy_return,
    q_learning,
    rollout,
    sample_returns,
    sarsa,
    thompson_sampling,
    ucb1,
)

EXEMPT = {
    "BanditHistory": "a NamedTuple of results, built by the bandit algorithms",
    "Rollout": "a NamedTuple of results, built by rollout",
    "TabularResult": "a NamedTuple of results, built by the learners",
}


def _stepped_to_the_end():
    env = GridWorld(["SG"])
    env.reset()
    env.step(1)  # into the goal
    return env


class _ListEnv:
    """Has the attributes of an env, but its tables are lists."""

    next_state, reward, done, start, n_states, n_actions = [[0]], [[0.0]], [[True]], 0, 1, 1


def _bandit():
    return BernoulliBandit(3, [0.2, 0.5, 0.9])


_Q = np.zeros((48, 4))
LEARNERS = {"sarsa": sarsa, "expected_sarsa": expected_sarsa, "q_learning": q_learning}

CASES = [
    # -- environments
    ("step action=4", lambda: _step(CliffWalking(), 4), ValueError, r"action=4 is out of range"),
    ("step action=-1", lambda: _step(CliffWalking(), -1), ValueError, r"action=-1"),
    ("step action=1.5", lambda: _step(CliffWalking(), 1.5), TypeError, r"action=1\.5"),
    ("step action=True", lambda: _step(CliffWalking(), True), TypeError, r"action=True"),
    (
        "step after done",
        lambda: _stepped_to_the_end().step(0),
        RuntimeError,
        r"after the episode ended",
    ),
    ("step before reset", lambda: CliffWalking().step(0), RuntimeError, r"reset\(\)"),
    ("CliffWalking time_limit=0", lambda: CliffWalking(time_limit=0), ValueError, r"time_limit=0"),
    ("reset rng='a'", lambda: CliffWalking().reset(rng="a"), TypeError, r"rng="),
    ("GridWorld layout str", lambda: GridWorld("S.G"), TypeError, r"layout"),
    ("GridWorld ragged", lambda: GridWorld(["S.", "..G"]), ValueError, r"equal length"),
    ("GridWorld cell", lambda: GridWorld(["S?G"]), ValueError, r"unknown cells \['\?'\]"),
    ("GridWorld no start", lambda: GridWorld(["..G"]), ValueError, r"exactly one start"),
    ("GridWorld two starts", lambda: GridWorld(["SSG"]), ValueError, r"exactly one start"),
    (
        "GridWorld step_reward nan",
        lambda: GridWorld(["SG"], step_reward=np.nan),
        ValueError,
        r"step_reward=nan",
    ),
    ("GridWorld cell state=9", lambda: GridWorld(["SG"]).cell(9), ValueError, r"state=9"),
    (
        "TabularEnv next_state out",
        lambda: TabularEnv([[2]], [[0.0]], [[True]], 0),
        ValueError,
        r"next_state holds states outside \[0, 1\)",
    ),
    (
        "TabularEnv reward shape",
        lambda: TabularEnv([[0]], [[0.0, 1.0]], [[True]], 0),
        ValueError,
        r"reward has shape \(1, 2\); expected \(1, 1\)",
    ),
    (
        "TabularEnv done 2",
        lambda: TabularEnv([[0]], [[0.0]], [[2]], 0),
        TypeError,
        r"done has dtype",
    ),
    ("TabularEnv start=1", lambda: TabularEnv([[0]], [[0.0]], [[True]], 1), ValueError, r"start=1"),
    ("DarkRoom size=1", lambda: DarkRoom(size=1), ValueError, r"size=1"),
    (
        "DarkRoom episode_length=0",
        lambda: DarkRoom(episode_length=0),
        ValueError,
        r"episode_length=0",
    ),
    ("DarkRoom goal outside", lambda: DarkRoom(size=5, goal=(5, 0)), ValueError, r"goal x=5"),
    ("DarkRoom goal scalar", lambda: DarkRoom(goal=3), TypeError, r"goal=3"),
    ("DarkRoom position", lambda: DarkRoom(size=3).position(9), ValueError, r"state=9"),
    (
        "BernoulliBandit probs>1",
        lambda: BernoulliBandit(2, [0.5, 1.5]),
        ValueError,
        r"probs=\[0\.5, 1\.5\] has values outside \[0, 1\]",
    ),
    (
        "BernoulliBandit probs<0",
        lambda: BernoulliBandit(2, [-0.1, 0.5]),
        ValueError,
        r"outside \[0, 1\]",
    ),
    (
        "BernoulliBandit probs nan",
        lambda: BernoulliBandit(2, [np.nan, 0.5]),
        ValueError,
        r"probs contains 1 non-finite",
    ),
    (
        "BernoulliBandit probs shape",
        lambda: BernoulliBandit(3, [0.5, 0.5]),
        ValueError,
        r"probs has shape \(2,\); expected \(3,\)",
    ),
    ("BernoulliBandit k=0", lambda: BernoulliBandit(0), ValueError, r"k=0"),
    ("BernoulliBandit pull 3", lambda: _bandit().pull(3), ValueError, r"action=3"),
    ("BernoulliBandit step -1", lambda: _bandit().step(-1), ValueError, r"action=-1"),
    (
        "BernoulliBandit regret arm",
        lambda: _bandit().regret([0, 3]),
        ValueError,
        r"actions holds arms outside",
    ),
    # -- bandit algorithms
    (
        "epsilon_greedy epsilon=-0.1",
        lambda: epsilon_greedy(_bandit(), 10, epsilon=-0.1),
        ValueError,
        r"epsilon=-0\.1 is out of range",
    ),
    (
        "epsilon_greedy epsilon=2",
        lambda: epsilon_greedy(_bandit(), 10, epsilon=2.0),
        ValueError,
        r"epsilon=2\.0",
    ),
    ("epsilon_greedy n_steps=0", lambda: epsilon_greedy(_bandit(), 0), ValueError, r"n_steps=0"),
    ("ucb1 bandit", lambda: ucb1(CliffWalking(), 10), TypeError, r"expected a BernoulliBandit"),
    ("ucb1 n_steps=2.5", lambda: ucb1(_bandit(), 2.5), TypeError, r"n_steps=2\.5"),
    (
        "thompson prior",
        lambda: thompson_sampling(_bandit(), 10, prior=(0.0, 1.0)),
        ValueError,
        r"prior alpha_0=0\.0",
    ),
    (
        "thompson prior shape",
        lambda: thompson_sampling(_bandit(), 10, prior=1.0),
        TypeError,
        r"prior=1\.0",
    ),
    ("thompson rng", lambda: thompson_sampling(_bandit(), 10, rng=-1), ValueError, r"rng=-1"),
    # -- policies and evaluation
    ("greedy_policy Q 1-D", lambda: greedy_policy(np.zeros(4)), ValueError, r"Q has ndim=1"),
    (
        "epsilon_greedy_policy epsilon",
        lambda: epsilon_greedy_policy(_Q, -0.5),
        ValueError,
        r"epsilon=-0\.5",
    ),
    (
        "epsilon_schedule callable",
        lambda: epsilon_schedule(lambda i: 1.5, 3),
        ValueError,
        r"epsilon=1\.5 \(episode 0\) is out of range",
    ),
    (
        "epsilon_schedule shape",
        lambda: epsilon_schedule([0.1, 0.2], 3),
        ValueError,
        r"epsilon has shape \(2,\); expected \(3,\)",
    ),
    (
        "policy_return Q shape",
        lambda: policy_return(CliffWalking(), np.zeros((4, 4))),
        ValueError,
        r"Q has shape \(4, 4\); expected \(48, 4\)",
    ),
    (
        "policy_return epsilon",
        lambda: policy_return(CliffWalking(), _Q, -0.1),
        ValueError,
        r"epsilon=-0\.1",
    ),
    (
        "policy_return gamma",
        lambda: policy_return(CliffWalking(), _Q, 0.1, gamma=1.5),
        ValueError,
        r"gamma=1\.5",
    ),
    (
        "policy_return loops",
        lambda: policy_return(CliffWalking(), _Q, 0.0),
        ValueError,
        r"never terminates from state",
    ),
    ("policy_return env", lambda: policy_return(object(), _Q), TypeError, r"env of type"),
    (
        "rollout policy actions",
        lambda: rollout(CliffWalking(), np.full(48, 4)),
        ValueError,
        r"policy of shape \(48,\): expected \(48,\) actions in \[0, 4\)",
    ),
    (
        "rollout policy probs",
        lambda: rollout(CliffWalking(), np.ones((48, 4))),
        ValueError,
        r"rows summing to 1",
    ),
    ("rollout bad action", lambda: rollout(CliffWalking(), lambda s: 7), ValueError, r"action=7"),
    (
        "rollout max_steps=0",
        lambda: rollout(CliffWalking(), np.zeros(48, int), max_steps=0),
        ValueError,
        r"max_steps=0",
    ),
    (
        "sample_returns n_episodes",
        lambda: sample_returns(CliffWalking(), _Q, 0.1, 0),
        ValueError,
        r"n_episodes=0",
    ),
    (
        "sample_returns impl",
        lambda: sample_returns(CliffWalking(), _Q, 0.1, 5, impl="c"),
        ValueError,
        r"impl='c'",
    ),
    (
        "sample_returns Q nan",
        lambda: sample_returns(CliffWalking(), _Q * np.nan, 0.1, 5),
        ValueError,
        r"Q contains",
    ),
]
for _name, _f in LEARNERS.items():
    CASES += [
        (f"{_name} alpha=0", lambda f=_f: f(CliffWalking(), 5, alpha=0.0), ValueError,
         r"alpha=0\.0 is out of range; expected alpha > 0\.0 and alpha <= 1\.0"),
        (f"{_name} alpha=1.5", lambda f=_f: f(CliffWalking(), 5, alpha=1.5), ValueError,
         r"alpha=1\.5"),
        (f"{_name} epsilon=-0.1", lambda f=_f: f(CliffWalking(), 5, epsilon=-0.1), ValueError,
         r"epsilon=-0\.1 \(episode 0\) is out of range"),
        (f"{_name} epsilon array", lambda f=_f: f(CliffWalking(), 2, epsilon=[0.1, -1.0]),
         ValueError, r"epsilon=-1\.0"),
        (f"{_name} gamma=-1", lambda f=_f: f(CliffWalking(), 5, gamma=-1.0), ValueError,
         r"gamma=-1\.0"),
        (f"{_name} n_episodes=0", lambda f=_f: f(CliffWalking(), 0), ValueError,
         r"n_episodes=0"),
        (f"{_name} max_steps=0", lambda f=_f: f(CliffWalking(), 5, max_steps=0), ValueError,
         r"max_steps=0"),
        (f"{_name} env", lambda f=_f: f("cliff", 5), TypeError, r"env of type str"),
        (f"{_name} initial_Q shape", lambda f=_f: f(CliffWalking(), 5, initial_Q=np.zeros(
            (3, 4))), ValueError, r"initial_Q has shape \(3, 4\)"),
        (f"{_name} impl", lambda f=_f: f(CliffWalking(), 5, impl="torch"), ValueError,
         r"impl='torch'"),
        (f"{_name} record", lambda f=_f: f(CliffWalking(), 5, record="yes"), TypeError,
         r"record='yes'"),
        (f"{_name} env tables", lambda f=_f: f(_ListEnv(), 5), TypeError,
         r"env\.next_state is \[\[0\]\]; expected a C-contiguous int64 array of shape"),
    ]  # fmt: skip

COVERS = frozenset(
    {
        "BernoulliBandit", "CliffWalking", "DarkRoom", "GridWorld", "TabularEnv",
        "epsilon_greedy", "epsilon_greedy_policy", "epsilon_schedule", "expected_sarsa",
        "greedy_policy", "policy_return", "q_learning", "rollout", "sample_returns", "sarsa",
        "thompson_sampling", "ucb1",
    }
)  # fmt: skip


def _step(env, action):
    env.reset()
    return env.step(action)


@pytest.mark.parametrize("name, call, error, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_by_name(name, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_every_public_name_is_covered_or_exempt():
    assert COVERS | set(EXEMPT) == set(npml.rl.__all__)
    assert not COVERS & set(EXEMPT)
