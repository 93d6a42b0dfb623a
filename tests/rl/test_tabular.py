"""Tabular TD control: the Numba episode loops equal their Python twins, runs depend on the
uniform stream only, schedules, histories, and policy_return against hand-solved cases."""

import numpy as np
import pytest

from npml.rl import (
    CliffWalking,
    DarkRoom,
    GridWorld,
    TabularEnv,
    epsilon_greedy_policy,
    epsilon_schedule,
    expected_sarsa,
    greedy_policy,
    policy_return,
    q_learning,
    rollout,
    sarsa,
)
from npml.rl import _tabular_kernels as K

LEARNERS = [sarsa, expected_sarsa, q_learning]
ENVS = {
    "cliff": lambda: CliffWalking(),
    "dark_room": lambda: DarkRoom(size=5, goal=(1, 3), episode_length=10),
    "walls": lambda: GridWorld(["S..#", ".#..", "...G"], time_limit=50),
}


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("env_name", ENVS)
def test_numba_equals_python_twin(learner, env_name):
    env = ENVS[env_name]()
    kw = dict(alpha=0.3, epsilon=lambda i: 0.3 / (1 + i), gamma=0.9, rng=7, record=True)
    fast = learner(env, 60, **kw)
    slow = learner(env, 60, impl="python", **kw)
    for name in fast._fields:
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)


def test_twins_agree_on_the_small_helpers():
    Q = np.array([[1.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-1.0, -2.0, -0.5, -0.5]])
    for s in range(3):
        assert K._greedy_kernel(Q, s) == K._greedy_reference(Q, s)
        for eps in (0.0, 0.1, 1.0):
            ref = K._expected_value_reference(Q, s, eps)
            assert K._expected_value_kernel(Q, s, eps) == ref
            assert ref == pytest.approx(epsilon_greedy_policy(Q, eps)[s] @ Q[s])
            for u in (0.0, 0.02, 0.05, 0.0999, 0.5, 0.999):
                assert K._choose_kernel(Q, s, eps, u) == K._choose_reference(Q, s, eps, u)


def test_run_depends_on_the_stream_not_the_chunks():
    # Each refill keeps the unused tail, so a short max_steps (many refills of 8192) and a
    # long one (a single chunk) see the same uniforms; their runs agree when no episode is cut.
    env = GridWorld(["S...", "....", "...G"])
    a = q_learning(env, 2000, rng=3, max_steps=200)
    b = q_learning(env, 2000, rng=3, max_steps=100_000)
    assert a.lengths.max() < 200
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.returns, b.returns)


def test_history_and_lengths():
    env = CliffWalking()
    r = sarsa(env, 30, rng=0, record=True)
    assert r.Q.shape == (48, 4) and r.returns.shape == r.lengths.shape == (30,)
    assert r.states.shape == r.actions.shape == r.rewards.shape == (r.lengths.sum(),)
    ends = np.cumsum(r.lengths)
    np.testing.assert_array_equal(np.add.reduceat(r.rewards, ends - r.lengths), r.returns)
    assert np.all(r.states[ends - r.lengths] == env.start)
    np.testing.assert_array_equal(env.next_state[r.states[:-1], r.actions[:-1]][ends[:-1] - 1],
                                  env.goal.repeat(29))  # fmt: skip
    assert sarsa(env, 3, rng=0).states is None


def test_max_steps_truncates():
    r = q_learning(CliffWalking(), 5, epsilon=1.0, rng=0, max_steps=7)
    assert r.lengths.max() <= 7
    room = DarkRoom(size=5, goal=(0, 0), episode_length=10)
    assert np.all(q_learning(room, 20, gamma=0.9, rng=0).lengths == 10)


def test_epsilon_schedules():
    np.testing.assert_array_equal(epsilon_schedule(0.2, 3), [0.2, 0.2, 0.2])
    np.testing.assert_array_equal(epsilon_schedule(lambda i: 1 / (i + 1), 3), [1, 0.5, 1 / 3])
    np.testing.assert_array_equal(epsilon_schedule([0.3, 0.0], 2), [0.3, 0.0])
    env = CliffWalking()
    a = sarsa(env, 40, epsilon=0.1, rng=2)
    b = sarsa(env, 40, epsilon=np.full(40, 0.1), rng=2)
    np.testing.assert_array_equal(a.Q, b.Q)


def test_greedy_ties_go_to_the_lowest_action():
    Q = np.array([[0.0, 0.0, 0.0, 0.0], [-1.0, 2.0, 2.0, 1.0]])
    assert greedy_policy(Q).tolist() == [0, 1]
    expected = [[0.85, 0.05, 0.05, 0.05], [0.05, 0.85, 0.05, 0.05]]
    np.testing.assert_allclose(epsilon_greedy_policy(Q, 0.2), expected)


def test_policy_return_by_hand():
    # a corridor 0 -> 1 -> 2 (terminal) with action 1 forward, action 0 stay; -1 per step
    env = TabularEnv([[0, 1], [1, 2], [2, 2]], -np.ones((3, 2)), [[0, 0], [0, 1], [1, 1]], 0)
    Q = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    assert policy_return(env, Q) == -2.0
    # epsilon: forward with probability q = 1 - eps / 2, so each cell takes 1 / q steps
    eps = 0.4
    assert policy_return(env, Q, eps) == pytest.approx(-2 / (1 - eps / 2))
    assert policy_return(env, Q, eps, gamma=0.5) == pytest.approx(
        -(1 + 0.5 * (1 - eps / 2) / (1 - 0.5 * eps / 2)) / (1 - 0.5 * eps / 2)
    )
    with pytest.raises(ValueError, match="never terminates"):
        policy_return(env, np.zeros((3, 2)))  # greedy "stay" forever


def test_policy_return_with_a_time_limit():
    room = DarkRoom(size=5, goal=(4, 2), episode_length=10)
    Q = np.zeros((25, 5))
    Q[:, 1] = 1.0  # always right: on the goal after two steps, then bumps the wall there
    assert policy_return(room, Q) == 9.0
    assert rollout(room, greedy_policy(Q)).return_ == 9.0


def test_rollout_policies():
    env = CliffWalking()
    path = [0] + [1] * 11 + [2]  # up, along row 2, down into the goal
    steps = iter(path)
    r = rollout(env, lambda s: next(steps))
    assert (r.return_, len(r.actions), r.terminated) == (-13.0, 13, True)
    np.testing.assert_array_equal(r.actions, path)
    pi = np.zeros((48, 4))
    pi[:, 1] = 1.0
    r = rollout(env, pi, rng=0, max_steps=5)  # into the cliff and back, 5 times
    assert (r.return_, r.terminated) == (-500.0, False)


def test_sample_returns_twins_and_frozen_q():
    from npml.rl import sample_returns

    env = CliffWalking()
    Q = sarsa(env, 50, rng=1).Q
    before = Q.copy()
    a = sample_returns(env, Q, 0.1, 200, rng=2)
    b = sample_returns(env, Q, 0.1, 200, rng=2, impl="python")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Q, before)  # the caller's table is untouched


def test_q_learning_solves_every_dark_room_goal_with_optimistic_values():
    # the source algorithm of algorithm distillation on DarkRoom: with initial_Q = 1
    # (optimistic: an untried action looks as good as a step on the goal) the agent explores
    # systematically and ends optimal: the goal in d steps, then stay: T - d + 1 (T if d = 0)
    size, T = 5, 10
    c = size // 2
    for gy in range(size):
        for gx in range(size):
            room = DarkRoom(size=size, goal=(gx, gy), episode_length=T)
            r = q_learning(room, 100, gamma=0.9, rng=gx + 5 * gy, initial_Q=1.0, record=True)
            d = abs(gx - c) + abs(gy - c)
            assert policy_return(room, r.Q) == (T if d == 0 else T - d + 1), (gx, gy)
            assert r.states.shape == (100 * T,)  # fixed-length episodes: (episode, step) rows
            assert r.returns[-10:].mean() > r.returns[:10].mean() or d == 0


@pytest.mark.parametrize("time_limit", [None, 12])
def test_policy_return_agrees_with_sampled_returns(time_limit):
    # the linear system, and the finite-horizon sum under a time limit; sample_returns sums
    # rewards undiscounted, so gamma = 1
    from npml.rl import sample_returns

    env = GridWorld(["S..#", ".#..", "...G"], time_limit=time_limit)
    Q = np.random.default_rng(0).standard_normal((env.n_states, env.n_actions))
    exact = policy_return(env, Q, 0.3)
    G = sample_returns(env, Q, 0.3, 20_000, rng=1)
    assert abs(G.mean() - exact) < 4 * G.std() / np.sqrt(len(G))
