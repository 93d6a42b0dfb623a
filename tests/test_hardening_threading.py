"""Parallel npml kernels called from several Python threads (npml._threading).

Each run is a fresh subprocess, since Numba picks its threading layer once per process:
with Numba's default (OpenMP here, or TBB) and with ``workqueue`` forced, which aborts the
process on concurrent use unless npml serialises the calls.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import threading

    import numba
    import numpy as np

    from npml import _threading
    from npml.kernels import RBF, sq_dist
    from npml.kernels.distances import PARALLEL_MIN_WORK, weighted_sq_diff_sums

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8))  # 600 * 8 * 600 terms: the parallel kernels
    assert X.size * X.shape[0] >= PARALLEL_MIN_WORK
    A = rng.standard_normal((600, 600))
    assert _threading.threading_layer() is None  # nothing parallel has run yet
    kernel = RBF(0.7)
    # The issue's case: fused attention on (1, 4, 512, 32), and an AdamW step (both parallel).
    from npml.nn import Parameter, fused_attention
    from npml.optim import AdamW

    q, k, v = (rng.standard_normal((1, 4, 512, 32)).astype(np.float32) for _ in range(3))
    results, errors, steps = {}, [], {}

    def work(i):
        try:
            p = Parameter(np.ones(1 << 18, dtype=np.float32))
            opt = AdamW([p], lr=1e-3)
            for _ in range(8):
                p.grad = np.full_like(p.data, 0.5)
                opt.step()
                results[i] = (
                    sq_dist(X), kernel(X), weighted_sq_diff_sums(A, X), fused_attention(q, k, v)
                )
            steps[i] = p.data.copy()
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    D, K, s, _ = results[0]
    for i in range(1, 4):  # the kernels are deterministic whatever the threads
        assert all(np.array_equal(a, b) for a, b in zip(results[i], results[0]))
        assert np.array_equal(steps[i], steps[0])
    diff = X[:, None, :] - X[None, :, :]
    np.testing.assert_allclose(D, np.einsum("ijd,ijd->ij", diff, diff), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K, np.exp(-0.5 * D / 0.49), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(s, np.einsum("ij,ijd->d", A, diff**2), rtol=1e-10)
    print(numba.threading_layer(), _threading.needs_lock())
    """
)


@pytest.mark.parametrize(("layer", "locked"), [(None, "False"), ("workqueue", "True")])
def test_parallel_kernels_from_four_python_threads(layer, locked):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    used, needs_lock = proc.stdout.split()
    if layer is not None:
        assert used == layer
    else:
        assert used in ("tbb", "omp")  # Numba's default prefers the thread-safe layers
    assert needs_lock == locked


def test_parallel_region_is_reentrant_and_serialised_keeps_the_function():
    from npml._threading import parallel_region, serialised

    @serialised
    def outer(x):
        """Doc."""
        with parallel_region():  # nested: the lock is re-entrant
            return x + 1

    assert outer(1) == 2 and outer.__doc__ == "Doc." and outer.__name__ == "outer"
