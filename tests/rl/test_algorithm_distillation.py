"""Algorithm distillation for real, but small: in-context learning with frozen weights.

Bandits of 5 arms and 100 pulls (UCB1 the source), DarkRoom 5x5 with 10-step episodes
(Q-learning the source); d_model 32, 2 layers, a few hundred training steps per model. Each
claim asserts what reproduces at this scale; the numbers measured when the test was written
are in the comments (seeds fixed, one thread).
"""

import numba
import numpy as np
import pytest
import threadpoolctl

from npml.rl import BernoulliBandit, DarkRoom, ucb1
from npml.rl.algorithm_distillation import (
    TokenLayout,
    bandit_histories,
    dark_room_histories,
    evaluate_in_context,
    expert_history,
    subsample,
    train_ad,
)

K, PULLS = 5, 100


@pytest.fixture(scope="module")
def one_thread():
    # Tiny models: worker threads cost more than they compute, and one thread keeps the
    # floating-point order (so the numbers below) fixed.
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


def windows(curve, width):
    return np.array([curve[i : i + width].mean() for i in range(0, curve.size, width)])


@pytest.fixture(scope="module")
def bandits(one_thread):
    rng = np.random.default_rng(0)
    train_p, test_p = rng.random((200, K)), rng.random((50, K))
    layout = TokenLayout(1, K)
    source = bandit_histories(train_p, PULLS, rng=1)
    experts = [expert_history(h, BernoulliBandit(K, p), PULLS, rng=2)
               for h, p in zip(source, train_p, strict=True)]  # fmt: skip
    tasks = [BernoulliBandit(K, p) for p in test_p]
    ad, _ = train_ad(source, layout, 2 * PULLS, steps=250, batch_size=8, rng=3)
    ed, _ = train_ad(experts, layout, 2 * PULLS, steps=50, batch_size=8, rng=3)
    ucb = np.array([test_p[i, ucb1(t, PULLS, rng=i).actions] for i, t in enumerate(tasks)])
    return {
        "ad": evaluate_in_context(ad, layout, tasks, PULLS, rng=4).mean(0),  # (PULLS,)
        "ed": evaluate_in_context(ed, layout, tasks, PULLS, rng=4).mean(0),
        "ucb": ucb.mean(0),
        "random": test_p.mean(),
    }


def test_bandit_ad_learns_in_context(bandits):
    # measured: expected reward 0.48 over the first 20 pulls, 0.61 over the last 20 (UCB1
    # itself 0.58 and 0.71); a random arm 0.48
    ad = windows(bandits["ad"], 20)
    assert ad[-1] - ad[0] > 0.08
    assert ad[-1] > bandits["random"] + 0.08
    # AD is not quite as good as its source (as in the paper)
    assert ad[-1] < windows(bandits["ucb"], 20)[-1]


def test_bandit_expert_distillation_stays_flat(bandits):
    # measured: 0.482 in every window of 20 pulls: it repeats whatever arm it starts with
    ed, ad = windows(bandits["ed"], 20), windows(bandits["ad"], 20)
    assert abs(ed[-1] - ed[0]) < 0.03
    assert abs(ed[-1] - bandits["random"]) < 0.05
    assert (ad[-1] - ad[0]) > (ed[-1] - ed[0]) + 0.05


def random_return(env):
    """Exact expected return of the uniformly random policy over one episode."""
    V = np.zeros(env.n_states)
    for _ in range(env.time_limit):  # V_t(s) = mean_a [r(s, a) + V_{t+1}(s')]
        V = (env.reward + V[env.next_state]).mean(axis=1)
    return V[env.start]


@pytest.fixture(scope="module")
def dark_room(one_thread):
    cells = [(x, y) for y in range(5) for x in range(5)]
    perm = np.random.default_rng(0).permutation(25)
    train = [DarkRoom(5, cells[i], 10) for i in perm[5:] for _ in range(4)]  # 20 goals
    tests = [DarkRoom(5, cells[i], 10) for i in perm[:5] for _ in range(8)]  # 5 held out
    layout = TokenLayout(25, 5)
    source = dark_room_histories(train, 60, rng=1)
    experts = [expert_history(h, e, 20, rng=2) for h, e in zip(source, train, strict=True)]
    # subsampled: every 3rd of 60 episodes, so a history shows a learner 3x faster
    ad_sub, _ = train_ad([subsample(h, 3) for h in source], layout, 90, steps=200,
                         batch_size=8, rng=3)  # fmt: skip
    ed, _ = train_ad(experts, layout, 90, steps=50, batch_size=8, rng=3)
    held_out = dark_room_histories(tests, 20, rng=7)  # the source on the held-out goals
    return {
        "ad_sub": evaluate_in_context(ad_sub, layout, tests, 20, rng=4).mean(0),  # (20,)
        "ed": evaluate_in_context(ed, layout, tests, 20, rng=4).mean(0),
        "source": np.mean([h.rewards.reshape(20, 10).sum(1) for h in held_out], axis=0),
        "random": np.mean([random_return(e) for e in tests]),
    }


def test_dark_room_subsampled_ad(dark_room):
    # The paper's DarkRoom claims do NOT reproduce at this scale (200 steps, 80 histories):
    # measured, the subsampled-history model averages 0.38 per episode with no clear rise
    # (first 5 episodes 0.33, last 5 0.31), barely above a random policy's 0.34, while the
    # source, Q-learning, climbs from 0.8 to 4.5 in 20 episodes. What holds: it does better
    # than expert distillation (0.07, which walks to one fixed cell and stays).
    ad, ed = dark_room["ad_sub"], dark_room["ed"]
    print("\nDarkRoom in-context returns per episode (mean of 40 held-out runs):")
    for name in ("ad_sub", "ed", "source"):
        print(f"  {name:7s}", np.round(dark_room[name], 2).tolist())
    print(f"  random  {dark_room['random']:.2f}")
    assert ad.mean() > ed.mean() + 0.1
    assert dark_room["source"][-5:].mean() > 3 * dark_room["random"]  # the source does learn
