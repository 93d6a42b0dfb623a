"""Bandit algorithms: histories, reproducibility, and the regret claims of npml.rl.bandits
(UCB1 sub-linear, Thompson sampling below epsilon-greedy)."""

import numpy as np
import pytest

from npml.rl import BernoulliBandit, epsilon_greedy, thompson_sampling, ucb1

ALGORITHMS = [epsilon_greedy, ucb1, thompson_sampling]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda f: f.__name__)
def test_history_shapes_and_reproducibility(algorithm):
    bandit = BernoulliBandit(5, rng=0)
    h = algorithm(bandit, 50, rng=1)
    assert h.actions.shape == h.rewards.shape == h.regret.shape == (50,)
    assert h.actions.dtype == np.int64 and set(np.unique(h.rewards)) <= {0.0, 1.0}
    assert np.all(np.diff(h.regret) >= 0)
    np.testing.assert_allclose(h.regret, bandit.regret(h.actions))
    again = algorithm(bandit, 50, rng=1)
    np.testing.assert_array_equal(h.actions, again.actions)
    np.testing.assert_array_equal(h.rewards, again.rewards)


@pytest.mark.parametrize("algorithm", [epsilon_greedy, ucb1], ids=lambda f: f.__name__)
def test_every_arm_first(algorithm):
    assert algorithm(BernoulliBandit(4, rng=0), 4, rng=0).actions.tolist() == [0, 1, 2, 3]


def test_common_random_numbers():
    # the reward of step t is [u_t < p_a] with u from the same stream for every algorithm
    bandit = BernoulliBandit(3, [1.0, 1.0, 1.0])
    for f in ALGORITHMS:
        assert f(bandit, 20, rng=0).rewards.sum() == 20
    bandit = BernoulliBandit(2, [0.3, 0.3])
    a, b = ucb1(bandit, 200, rng=5), epsilon_greedy(bandit, 200, rng=5)
    u = np.random.default_rng(5).random(200)
    np.testing.assert_array_equal(a.rewards, u < 0.3)
    np.testing.assert_array_equal(b.rewards, u < 0.3)


def test_ucb1_exploits_a_clear_best_arm():
    h = ucb1(BernoulliBandit(3, [0.1, 0.9, 0.2]), 2000, rng=0)
    assert np.mean(h.actions[-500:] == 1) > 0.9


def _mean_regret(algorithm, n_steps, seeds, **kw):
    return np.mean(
        [algorithm(BernoulliBandit(10, rng=s), n_steps, rng=100 + s, **kw).regret for s in seeds],
        axis=0,
    )


def test_ucb1_regret_is_sublinear():
    T = 3000
    R = _mean_regret(ucb1, T, range(12))
    t = np.unique(np.geomspace(200, T, 12).astype(int))

    def exponent(regret):  # least-squares slope of log R(t) on log t
        return np.polyfit(np.log(t), np.log(regret[t - 1]), 1)[0]

    ucb = exponent(R)
    assert ucb < 0.8, ucb  # log T regret: about 0.55 over this range; linear would be 1
    assert exponent(_mean_regret(epsilon_greedy, T, range(12))) > ucb + 0.15  # about 0.8


def test_thompson_regret_below_epsilon_greedy():
    T = 1500
    seeds = range(8)
    ts = _mean_regret(thompson_sampling, T, seeds)
    eg = _mean_regret(epsilon_greedy, T, seeds)
    assert ts[-1] < 0.75 * eg[-1], (ts[-1], eg[-1])  # measured 34 against 79
