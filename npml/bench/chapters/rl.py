"""Reinforcement learning: tabular Q-learning episodes per second, Numba against Python.

Q-learning (alpha 0.5, epsilon 0.1) on Sutton & Barto's cliff walk, 500 episodes (about
10,000-15,000 steps, the early episodes long). Rows:

* npml's Numba episode loop against its plain-Python twin, both fed the same uniforms (so
  the same run; the row checks the Q tables are equal). Target: at least 50x faster.
* the same algorithm written the way a user would over Gymnasium's ``CliffWalking-v1``
  (``env.step`` per step, a NumPy Q table), where Gymnasium is installed. It draws the same
  uniforms one by one from a generator seeded alike, so it too learns the identical table.
  Target: at least 50x faster.
* algorithm-distillation training tokens per second against an equivalent torch model (the
  tests' bandit distillation, loss masked to the actions; :mod:`._rl_ad` says what matches).

Times include npml's validation and the drawing of its uniforms.
"""

from __future__ import annotations

import numpy as np

from npml.bench import Report, compare
from npml.bench import peer as _peer

NAME = "rl"
TITLE = "Reinforcement learning: Q-learning (Numba vs Python), algorithm distillation (vs torch)"
ORDER = 85

ALPHA, EPSILON, GAMMA = 0.5, 0.1, 1.0


def q_learning_gymnasium(env, n_episodes: int, rng: np.random.Generator,
                         max_steps: int = 10_000) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Q-learning over a Gymnasium toy-text env, one ``env.step`` at a time.

    The action choice is npml's (one uniform per choice, inverse CDF of the epsilon-greedy
    policy, ties to the lowest action), so with ``rng`` seeded as npml's it learns the same
    table. Returns ``(Q, returns)``.
    """
    S, A = env.observation_space.n, env.action_space.n
    Q = np.zeros((S, A))
    returns = np.zeros(n_episodes)
    for ep in range(n_episodes):
        s, _ = env.reset()
        G = 0.0
        for _ in range(max_steps):
            u = rng.random()
            a = min(int(u * A / EPSILON), A - 1) if u < EPSILON else int(np.argmax(Q[s]))
            s2, r, terminated, truncated, _ = env.step(a)
            target = r if terminated else r + GAMMA * Q[s2, int(np.argmax(Q[s2]))]
            Q[s, a] += ALPHA * (target - Q[s, a])
            G += r
            s = s2
            if terminated or truncated:
                break
        returns[ep] = G
    return Q, returns


def _algorithm_distillation_rows(report: Report) -> None:
    """Training tokens per second of the distilled CausalLM against torch (``_rl_ad``)."""
    from npml.bench.chapters._rl_ad import ad_row

    ad_row(report, _peer("torch"))


def run(report: Report) -> None:
    from npml.rl import CliffWalking, q_learning  # imported here: npml.bench loads no Numba

    n_episodes = report.pick(50, 500, 500)
    env = CliffWalking()
    seed = 0
    out = {}

    def numba():
        out["numba"] = q_learning(env, n_episodes, ALPHA, EPSILON, GAMMA, rng=seed)

    def python():
        out["python"] = q_learning(env, n_episodes, ALPHA, EPSILON, GAMMA, rng=seed,
                                   impl="python")  # fmt: skip

    fns = {"numba": numba, "python twin": python}
    gym = _peer("gymnasium")
    if gym is not None:
        genv = gym.make("CliffWalking-v1")

        def gymnasium():
            out["gym"] = q_learning_gymnasium(genv, n_episodes, np.random.default_rng(seed))

        fns["gymnasium"] = gymnasium
    repeats = report.pick(1, 3, 5)
    t = {k: v.median for k, v in compare(fns, repeats=repeats, pause=report.pause).items()}
    steps = int(out["numba"].lengths.sum())
    case = f"Q-learning, CliffWalking, {n_episodes} episodes ({steps} steps)"
    judged = report.mode != "tiny"
    same = bool(np.array_equal(out["numba"].Q, out["python"].Q))
    eps_s = {k: n_episodes / v for k, v in t.items()}
    report.row(
        case, t["numba"], peer="Python twin", peer_value=t["python twin"],
        target=1 / 50 if judged else None,
        note=f"{t['python twin'] / t['numba']:.0f}x faster: {eps_s['numba']:.0f} vs "
        f"{eps_s['python twin']:.0f} episodes/s; same Q: {same}",
        episodes_per_s=eps_s["numba"], peer_episodes_per_s=eps_s["python twin"],
        steps=steps, same_Q=same,
    )  # fmt: skip
    if gym is None:
        report.row(case, t["numba"], peer="gymnasium CliffWalking-v1", peer_value=None)
    else:
        same_gym = bool(np.array_equal(out["numba"].Q, out["gym"][0]))
        report.row(
            case, t["numba"], peer="Python Q-learning over gymnasium CliffWalking-v1",
            peer_value=t["gymnasium"], target=1 / 50 if judged else None,
            note=f"{t['gymnasium'] / t['numba']:.0f}x faster: {eps_s['gymnasium']:.0f} "
            f"episodes/s over env.step; same Q: {same_gym}",
            episodes_per_s=eps_s["numba"], peer_episodes_per_s=eps_s["gymnasium"],
            steps=steps, same_Q=same_gym,
        )  # fmt: skip
    # ---- algorithm distillation (rlAD adds its tokens/s row here) ----
    _algorithm_distillation_rows(report)
