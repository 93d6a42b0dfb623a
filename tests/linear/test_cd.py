"""The compiled coordinate-descent kernels agree with the NumPy reference, sweep for sweep,
and the duality gap is a certificate: it bounds the distance to the optimal objective."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npml.linear._cd import _enet_cd_gram_kernel, _enet_cd_kernel, _enet_cd_reference
from npml.linear._gap import _gap_kernel, _gap_reference

ROOT = Path(__file__).resolve().parents[2]


def _problem(rng, n, p, zero_col=False):
    X = rng.standard_normal((n, p))
    X[:, : p // 2] += 0.7 * X[:, [p - 1]]  # correlated columns make CD take many sweeps
    if zero_col:
        X[:, 1] = 0.0
    w_true = np.zeros(p)
    w_true[: max(1, p // 3)] = rng.standard_normal(max(1, p // 3)) * 2
    y = X @ w_true + 0.3 * rng.standard_normal(n)
    return X, y


def _run_all(X, y, l1, l2, w0, max_iter, tol, screening):
    wr, wk, wg = w0.copy(), w0.copy(), w0.copy()
    ref = _enet_cd_reference(wr, X, y, l1, l2, max_iter, tol, screening)
    ker = _enet_cd_kernel(wk, np.ascontiguousarray(X.T), y, l1, l2, max_iter, tol, screening)
    gram = _enet_cd_gram_kernel(
        wg,
        np.ascontiguousarray(X.T @ X),
        X.T @ y,
        float(y @ y),
        l1,
        l2,
        max_iter,
        tol,
        screening,
    )
    return (wr, *ref), (wk, *ker), (wg, *gram)


@pytest.mark.parametrize("n, p", [(40, 7), (15, 31), (1, 3), (9, 1)])
@pytest.mark.parametrize("l1_frac", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("screening", [True, False])
def test_kernels_match_reference(rng, n, p, l1_frac, screening):
    X, y = _problem(rng, n, p, zero_col=p > 2)
    scale = float(np.max(np.abs(X.T @ y)))
    l1, l2 = 0.1 * scale * l1_frac, 0.1 * scale * (1 - l1_frac)
    w0 = np.zeros(p)
    (wr, gr, nr), (wk, gk, nk), (wg, gg, ng) = _run_all(X, y, l1, l2, w0, 500, 1e-8, screening)
    assert nr == nk == ng  # same sweeps: the same iteration, not just the same optimum
    np.testing.assert_allclose(wk, wr, rtol=1e-10, atol=1e-12)
    # the Gram form forms R^T R as y^T y - 2 q^T w + w^T Q w, so round-off differs a bit
    np.testing.assert_allclose(wg, wr, rtol=1e-8, atol=1e-10)
    ysq = float(y @ y)
    np.testing.assert_allclose([gk, gg], [gr, gr], atol=1e-9 * ysq)


def test_kernels_match_reference_from_warm_start(rng):
    X, y = _problem(rng, 30, 12, zero_col=True)
    w0 = rng.standard_normal(12)  # includes a nonzero weight on the zero column
    scale = float(np.max(np.abs(X.T @ y)))
    out = _run_all(X, y, 0.05 * scale, 0.02 * scale, w0, 300, 1e-9, True)
    (wr, gr, nr), (wk, gk, nk), (wg, gg, ng) = out
    assert nr == nk == ng
    assert wr[1] == wk[1] == wg[1] == 0.0  # a zero column's weight is reset to zero
    np.testing.assert_allclose(wk, wr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wg, wr, rtol=1e-8, atol=1e-10)


def test_stops_at_sweep_zero_when_start_is_optimal(rng):
    X, y = _problem(rng, 25, 6)
    scale = float(np.max(np.abs(X.T @ y)))
    w = np.zeros(6)
    _enet_cd_reference(w, X, y, 0.1 * scale, 0.1 * scale, 1000, 1e-12)
    for fn, A, b in [
        (_enet_cd_kernel, np.ascontiguousarray(X.T), y),
        (_enet_cd_gram_kernel, X.T @ X, X.T @ y),
    ]:
        w2 = w.copy()
        args = (float(y @ y),) if fn is _enet_cd_gram_kernel else ()
        gap, n_iter = fn(w2, A, b, *args, 0.1 * scale, 0.1 * scale, 1000, 1e-6, True)
        assert n_iter == 0
        np.testing.assert_array_equal(w2, w)


def _primal(X, y, w, l1, l2):
    r = y - X @ w
    return 0.5 * r @ r + l1 * np.abs(w).sum() + 0.5 * l2 * w @ w


@pytest.mark.parametrize("l1, l2", [(3.0, 2.0), (3.0, 0.0), (0.0, 2.0), (0.0, 0.0)])
def test_gap_bounds_suboptimality_and_kernel_matches(rng, l1, l2):
    X, y = _problem(rng, 30, 5)
    w_opt = np.zeros(5)
    _enet_cd_reference(w_opt, X, y, l1, l2, 20000, 1e-14, False)
    p_opt = _primal(X, y, w_opt, l1, l2)
    for _ in range(5):
        w = w_opt + 0.3 * rng.standard_normal(5)
        R = y - X @ w
        gap, dual_norm, XtA = _gap_reference(w, X.T @ R, R @ R, R @ y, l1, l2)
        XtA_k = X.T @ R
        gap_k, dual_norm_k = _gap_kernel(w, XtA_k, R @ R, R @ y, l1, l2)
        np.testing.assert_allclose([gap_k, dual_norm_k], [gap, dual_norm], rtol=1e-12)
        np.testing.assert_allclose(XtA_k, XtA, rtol=1e-12, atol=1e-12)
        if l1 > 0 or l2 > 0:  # weak duality (the l1 = l2 = 0 "gap" is a gradient norm)
            assert gap >= _primal(X, y, w, l1, l2) - p_opt - 1e-9
    R = y - X @ w_opt
    gap_opt = _gap_reference(w_opt, X.T @ R, R @ R, R @ y, l1, l2)[0]
    assert abs(gap_opt) < 1e-9 * (y @ y)


def test_kernels_run_without_jit():
    # NUMBA_DISABLE_JIT=1 runs the kernels as plain Python (how readers step through them)
    code = (
        "import numpy as np\n"
        "from npml.linear._cd import _enet_cd_kernel, _enet_cd_gram_kernel, _enet_cd_reference\n"
        "r = np.random.default_rng(3); X = r.standard_normal((20, 5)); y = r.standard_normal(20)\n"
        "w1, w2, w3 = np.zeros(5), np.zeros(5), np.zeros(5)\n"
        "_enet_cd_reference(w1, X, y, 1.0, 0.5, 200, 1e-10)\n"
        "_enet_cd_kernel(w2, np.ascontiguousarray(X.T), y, 1.0, 0.5, 200, 1e-10, True)\n"
        "_enet_cd_gram_kernel(w3, X.T @ X, X.T @ y, float(y @ y), 1.0, 0.5, 200, 1e-10, True)\n"
        "assert np.allclose(w1, w2) and np.allclose(w1, w3) and np.abs(w1).sum() > 0\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
