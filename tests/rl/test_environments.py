"""Environment dynamics, cell by cell: CliffWalking (and against Gymnasium's CliffWalking-v1
when it is installed), GridWorld's walls and goals, DarkRoom, the Bernoulli bandit."""

import numpy as np
import pytest

from npml.rl import BernoulliBandit, CliffWalking, DarkRoom, GridWorld, TabularEnv

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3


def test_cliff_walking_numbering():
    env = CliffWalking()
    assert (env.n_states, env.n_actions) == (48, 4)
    assert env.start == 36 and env.reset() == 36
    assert env.goal.tolist() == [47]
    assert env.time_limit is None


@pytest.mark.parametrize(
    "s, a, s2, r, done",
    [
        (36, UP, 24, -1.0, False),
        (36, RIGHT, 36, -100.0, False),  # into the cliff: back to the start
        (36, LEFT, 36, -1.0, False),  # off the grid: stay
        (36, DOWN, 36, -1.0, False),
        (24, DOWN, 36, -1.0, False),
        (25, DOWN, 36, -100.0, False),  # from above the cliff, down into it
        (34, DOWN, 36, -100.0, False),
        (35, DOWN, 47, -1.0, True),  # into the goal from above
        (0, UP, 0, -1.0, False),
        (11, RIGHT, 11, -1.0, False),
        (13, RIGHT, 14, -1.0, False),
        (13, LEFT, 12, -1.0, False),
    ],
)
def test_cliff_walking_cells(s, a, s2, r, done):
    env = CliffWalking()
    assert (env.next_state[s, a], env.reward[s, a], env.done[s, a]) == (s2, r, done)


def test_cliff_walking_step_follows_the_tables():
    env = CliffWalking()
    assert env.reset() == 36
    assert env.step(UP) == (24, -1.0, False)
    assert env.step(RIGHT) == (25, -1.0, False)
    assert env.step(DOWN) == (36, -100.0, False)
    for a in [UP] + [RIGHT] * 11:
        s, r, done = env.step(a)
    assert (s, done) == (35, False)
    assert env.step(DOWN) == (47, -1.0, True)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(UP)
    assert env.reset() == 36 and env.t == 0


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        CliffWalking().step(0)


def test_cliff_walking_matches_gymnasium_cell_by_cell():
    gym = pytest.importorskip("gymnasium")
    genv = gym.make("CliffWalking-v1").unwrapped
    env = CliffWalking()
    cliff = set(range(37, 47))
    for s in range(48):
        if s in cliff or s == 47:  # never occupied (npml makes the goal absorbing)
            continue
        for a in range(4):
            ((prob, s2, r, terminated),) = genv.P[s][a]
            assert prob == 1.0
            assert env.next_state[s, a] == s2, (s, a)
            assert env.reward[s, a] == r, (s, a)
            assert env.done[s, a] == terminated, (s, a)
    # and the two stepped side by side along random actions
    gym_env = gym.make("CliffWalking-v1")
    rng = np.random.default_rng(0)
    s_gym, _ = gym_env.reset(seed=0)
    s = env.reset()
    assert s == s_gym
    for a in rng.integers(0, 4, 500):
        s_gym, r_gym, term, trunc, _ = gym_env.step(int(a))
        s, r, done = env.step(int(a))
        assert (s, r, done) == (s_gym, r_gym, term or trunc)
        if done:
            s, (s_gym, _) = env.reset(), gym_env.reset()


def test_gridworld_walls_goals_and_time_limit():
    env = GridWorld(["S.#", "..G"], step_reward=-2.0, time_limit=3)
    assert env.shape == (2, 3) and env.start == 0
    assert env.next_state[1, RIGHT] == 1  # the wall at (0, 2) blocks
    assert env.next_state[4, RIGHT] == 5 and env.done[4, RIGHT]
    assert env.reward[4, RIGHT] == -2.0
    assert env.cell(2) == "#" and env.cell(5) == "G"
    env.reset()
    assert env.step(LEFT) == (0, -2.0, False)
    assert env.step(LEFT) == (0, -2.0, False)
    assert env.step(LEFT) == (0, -2.0, True)  # truncated by the time limit, not terminal
    assert not env.done[0, LEFT]


def test_tabular_env_from_tables():
    env = TabularEnv([[1, 0], [1, 1]], [[0.0, 1.0], [2.0, 3.0]], [[False, False], [True, True]], 0)
    env.reset()
    assert env.step(1) == (0, 1.0, False)
    assert env.step(0) == (1, 0.0, False)
    assert env.step(0) == (1, 2.0, True)


@pytest.mark.parametrize("size, length", [(9, 20), (5, 10)])
def test_dark_room(size, length):
    goal = (size - 1, 0)
    env = DarkRoom(size=size, goal=goal, episode_length=length)
    c = size // 2
    assert (env.n_states, env.n_actions) == (size * size, 5)
    s = env.reset()
    assert env.position(s) == (c, c)
    total = 0.0
    moves = [RIGHT] * (size - 1 - c) + [UP] * c  # straight to the goal, then stay
    for t in range(length):
        s, r, done = env.step(moves[t] if t < len(moves) else 4)
        total += r
        assert done == (t == length - 1)
    assert env.position(s) == goal
    assert total == length - len(moves) + 1  # 1 per step that ends on the goal
    assert not env.done.any()  # only the time limit ends an episode


def test_dark_room_walls_and_noop():
    env = DarkRoom(size=5, goal=(0, 0))
    for a, (dx, dy) in enumerate([(0, -1), (1, 0), (0, 1), (-1, 0), (0, 0)]):
        assert env.position(env.next_state[12, a]) == (2 + dx, 2 + dy)
    assert env.next_state[0, UP] == 0 and env.next_state[0, LEFT] == 0
    assert env.reward[0, 4] == 1.0 and env.reward[1, LEFT] == 1.0
    # on the goal by the no-op or by bumping the two walls, or entering from (1, 0) or (0, 1)
    assert env.reward.sum() == 5


def test_dark_room_random_goal_is_reproducible():
    assert DarkRoom(rng=3).goal == DarkRoom(rng=3).goal
    goals = {DarkRoom(size=3, rng=i).goal for i in range(60)}
    assert len(goals) == 9


def test_bernoulli_bandit():
    b = BernoulliBandit(3, [0.0, 1.0, 0.5], rng=0)
    assert b.best_arm == 1 and (b.n_states, b.n_actions) == (1, 3)
    assert b.reset() == 0
    assert b.step(1) == (0, 1.0, False) and b.pull(0) == 0.0
    mean = np.mean([b.pull(2) for _ in range(4000)])
    assert abs(mean - 0.5) < 4 * np.sqrt(0.25 / 4000)
    np.testing.assert_allclose(b.regret([0, 1, 2]), [1.0, 1.0, 1.5])
    drawn = BernoulliBandit(4, rng=1)
    assert drawn.probs.shape == (4,) and np.all((drawn.probs >= 0) & (drawn.probs <= 1))
    np.testing.assert_array_equal(drawn.probs, BernoulliBandit(4, rng=1).probs)
