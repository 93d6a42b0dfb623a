"""Tabular Q-learning on CliffWalking under pytest-benchmark (the cases of chapters/rl.py):
npml's Numba episode loop, its Python twin, and Q-learning over Gymnasium's env.

python -m pytest benchmarks/test_bench_rl.py --benchmark-only
"""

import numpy as np
import pytest

from npml.bench.chapters.rl import ALPHA, EPSILON, q_learning_gymnasium
from npml.rl import CliffWalking, q_learning

N_EPISODES = 500
GROUP = "rl: Q-learning, CliffWalking, 500 episodes"


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("impl", ["numba", "python"])
def test_q_learning_npml(benchmark, impl):
    env = CliffWalking()
    q_learning(env, 5, rng=0, impl=impl)  # compile outside the timing
    result = benchmark.pedantic(lambda: q_learning(env, N_EPISODES, ALPHA, EPSILON, rng=0,
                                                   impl=impl), rounds=3, iterations=1)  # fmt: skip
    assert result.returns.shape == (N_EPISODES,)


@pytest.mark.benchmark(group=GROUP)
def test_q_learning_gymnasium(benchmark):
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CliffWalking-v1")
    Q, _ = benchmark.pedantic(
        lambda: q_learning_gymnasium(env, N_EPISODES, np.random.default_rng(0)),
        rounds=1,
        iterations=1,
    )
    np.testing.assert_array_equal(Q, q_learning(CliffWalking(), N_EPISODES, rng=0).Q)
