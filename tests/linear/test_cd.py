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
from npml.linear._prep import _transpose_mean_kernel, _transpose_mean_reference

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


def _ref(w, X, y, l1, l2, max_iter, tol, screening=True):
    return _enet_cd_reference(w, X, y, l1, l2, max_iter, tol, screening)


def _res(w, X, y, l1, l2, max_iter, tol, screening=True, X_mean=None, start=0, stop=None):
    """The residual kernel on the *uncentred* transpose, centring on the fly with X_mean."""
    X_mean = np.zeros(X.shape[1]) if X_mean is None else X_mean
    Xt = np.ascontiguousarray((X + X_mean).T)  # (p, n); column j - X_mean[j] is X[:, j]
    active = np.ones(X.shape[1], dtype=bool)
    stop = max_iter if stop is None else stop
    out = _enet_cd_kernel(w, active, Xt, X_mean, y, l1, l2, start, stop, max_iter, tol, screening)
    return out, active


def _gram(w, X, y, l1, l2, max_iter, tol, screening=True, active=None, start=0):
    active = np.ones(X.shape[1], dtype=bool) if active is None else active
    Q = np.ascontiguousarray(X.T @ X)
    args = (Q, X.T @ y, float(y @ y), l1, l2, start, max_iter, max_iter, tol, screening)
    return _enet_cd_gram_kernel(w, active, *args)


def _run_all(X, y, l1, l2, w0, max_iter, tol, screening, rng=None):
    wr, wk, wg = w0.copy(), w0.copy(), w0.copy()
    gr, nr = _ref(wr, X, y, l1, l2, max_iter, tol, screening)
    X_mean = None if rng is None else 100.0 * rng.standard_normal(X.shape[1])
    (gk, nk, ck), _ = _res(wk, X, y, l1, l2, max_iter, tol, screening, X_mean=X_mean)
    gg, ng, cg = _gram(wg, X, y, l1, l2, max_iter, tol, screening)
    assert ck and cg
    return (wr, gr, nr), (wk, gk, nk), (wg, gg, ng)


@pytest.mark.parametrize("n, p", [(40, 7), (15, 31), (1, 3), (9, 1)])
@pytest.mark.parametrize("l1_frac", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("screening", [True, False])
def test_kernels_match_reference(rng, n, p, l1_frac, screening):
    X, y = _problem(rng, n, p, zero_col=p > 2)
    scale = float(np.max(np.abs(X.T @ y)))
    l1, l2 = 0.1 * scale * l1_frac, 0.1 * scale * (1 - l1_frac)
    w0 = np.zeros(p)
    out = _run_all(X, y, l1, l2, w0, 500, 1e-8, screening, rng=rng)
    (wr, gr, nr), (wk, gk, nk), (wg, gg, ng) = out
    assert nr == nk == ng  # same sweeps: the same iteration, not just the same optimum
    # the residual kernel centres the shifted columns on the fly: (x + m) - m rounds
    np.testing.assert_allclose(wk, wr, rtol=1e-9, atol=1e-11)
    # the Gram form forms R^T R as y^T y - 2 q^T w + w^T Q w, so round-off differs a bit
    np.testing.assert_allclose(wg, wr, rtol=1e-8, atol=1e-10)
    ysq = float(y @ y)
    np.testing.assert_allclose([gk, gg], [gr, gr], atol=1e-9 * ysq)


def test_kernels_match_reference_from_warm_start(rng):
    X, y = _problem(rng, 30, 12, zero_col=True)
    w0 = rng.standard_normal(12)  # includes a nonzero weight on the zero column
    scale = float(np.max(np.abs(X.T @ y)))
    out = _run_all(X, y, 0.05 * scale, 0.02 * scale, w0, 300, 1e-9, True)  # X_mean = 0
    (wr, gr, nr), (wk, gk, nk), (wg, gg, ng) = out
    assert nr == nk == ng
    assert wr[1] == wk[1] == wg[1] == 0.0  # a zero column's weight is reset to zero
    np.testing.assert_allclose(wk, wr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wg, wr, rtol=1e-8, atol=1e-10)


def test_stops_at_sweep_zero_when_start_is_optimal(rng):
    X, y = _problem(rng, 25, 6)
    scale = float(np.max(np.abs(X.T @ y)))
    l1 = l2 = 0.1 * scale
    w = np.zeros(6)
    _ref(w, X, y, l1, l2, 1000, 1e-12)
    w_res, w_gram = w.copy(), w.copy()
    (gap, n_iter, conv), _ = _res(w_res, X, y, l1, l2, 1000, 1e-6)
    assert n_iter == 0 and conv
    gap, n_iter, conv = _gram(w_gram, X, y, l1, l2, 1000, 1e-6)
    assert n_iter == 0 and conv
    np.testing.assert_array_equal(w_res, w)
    np.testing.assert_array_equal(w_gram, w)


@pytest.mark.parametrize("budget", [1, 4, 9])
def test_residual_then_gram_continues_the_same_iteration(rng, budget):
    # ElasticNet.fit sweeps on X for a while, then moves to the Gram matrix: the switch
    # must not change the iteration (same sweeps, same screened set, same result)
    X, y = _problem(rng, 50, 8)
    scale = float(np.max(np.abs(X.T @ y)))
    l1, l2 = 0.02 * scale, 0.01 * scale
    w_ref = np.zeros(8)
    _, n_ref = _ref(w_ref, X, y, l1, l2, 1000, 1e-9)
    assert n_ref > 9
    w = np.zeros(8)
    (_, n_iter, conv), active = _res(w, X, y, l1, l2, 1000, 1e-9, stop=budget)
    assert n_iter == budget and not conv
    gap, n_iter, conv = _gram(w, X, y, l1, l2, 1000, 1e-9, active=active, start=budget)
    assert conv and n_iter == n_ref
    np.testing.assert_allclose(w, w_ref, rtol=1e-8, atol=1e-10)


def test_transpose_mean_kernel_matches_reference(rng):
    for n, p in [(1, 4), (33, 5), (70, 1), (65, 40)]:
        X = rng.standard_normal((n, p)) + 1e3
        X[:, 0] = 7.1  # constant column: its mean must be exactly 7.1
        Xt, mean = _transpose_mean_kernel(X)
        Xt_ref, mean_ref = _transpose_mean_reference(X)
        np.testing.assert_array_equal(Xt, Xt_ref)
        assert Xt.flags.c_contiguous and Xt.shape == (p, n)
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-14)
        assert mean[0] == 7.1 and mean_ref[0] == 7.1


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
        "from npml.linear._prep import _transpose_mean_kernel\n"
        "r = np.random.default_rng(3)\n"
        "X = r.standard_normal((20, 5)) + 2; y = r.standard_normal(20)\n"
        "Xt, m = _transpose_mean_kernel(X); Xc = X - m; y = y - y.mean()\n"
        "w1, w2, w3 = np.zeros(5), np.zeros(5), np.zeros(5)\n"
        "_enet_cd_reference(w1, Xc, y, 1.0, 0.5, 200, 1e-10)\n"
        "a, b = np.ones(5, bool), np.ones(5, bool)\n"
        "_enet_cd_kernel(w2, a, Xt, m, y, 1.0, 0.5, 0, 200, 200, 1e-10, True)\n"
        "Q, q = Xc.T @ Xc, Xc.T @ y\n"
        "_enet_cd_gram_kernel(w3, b, Q, q, y @ y, 1.0, 0.5, 0, 200, 200, 1e-10, True)\n"
        "assert np.allclose(w1, w2) and np.allclose(w1, w3) and np.abs(w1).sum() > 0\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
