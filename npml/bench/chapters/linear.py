"""Elastic net against scikit-learn: one fit, a whole path, and p > n.

Both sides minimise the same objective with the same algorithm (cyclic coordinate descent,
duality-gap stopping rule with scikit-learn's tol scaling, gap-safe screening), so each row
also prints the sweeps each side ran and the largest coefficient difference. The input is
a C-ordered float64 array, as users pass it: scikit-learn copies it into Fortran order and
centres the copy; npml makes one pass that transposes and takes the column means, then
centres on the fly inside the kernel (and moves to the Gram matrix if a fit needs many
sweeps). The path runs on the Gram matrix on both sides (scikit-learn's
``precompute="auto"`` when n > p).
"""

from __future__ import annotations

import warnings

import numpy as np

from npml.bench import Report, compare
from npml.bench import peer as _peer
from npml.linear import ElasticNet, enet_path
from npml.linear._cd import _enet_cd_reference

NAME = "linear"
TITLE = "Elastic net: coordinate descent vs scikit-learn"
ORDER = 60


def regression(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = X w + noise with 10% of the p weights nonzero; X C-ordered float64."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    k = max(1, p // 10)
    w[:k] = 3.0 * rng.standard_normal(k)
    y = X @ w + rng.standard_normal(n) + 1.0
    return X, y


def _fit_rows(report: Report, sk, n: int, p: int, alpha: float, target: float | None) -> None:
    X, y = regression(n, p)
    case = f"ElasticNet fit n={n} p={p} alpha={alpha:g} l1_ratio=0.5"
    kw = dict(alpha=alpha, l1_ratio=0.5)
    ours = ElasticNet(**kw).fit(X, y)
    if sk is None:
        t = compare({"npml": lambda: ElasticNet(**kw).fit(X, y)}, repeats=report.repeats)
        report.row(case, t["npml"].median, peer="sklearn", peer_value=None)
        return
    theirs = sk.ElasticNet(**kw).fit(X, y)
    t = compare(
        {
            "npml": lambda: ElasticNet(**kw).fit(X, y),
            "sklearn": lambda: sk.ElasticNet(**kw).fit(X, y),
        },
        repeats=report.repeats,
        pause=report.pause,
    )
    diff = float(np.max(np.abs(ours.coef_ - theirs.coef_)))
    report.row(
        case,
        t["npml"].median,
        peer="sklearn",
        peer_value=t["sklearn"].median,
        target=target,
        note=f"sweeps {ours.n_iter_} vs {theirs.n_iter_}, max |coef diff| {diff:.1e}",
        npml_best=t["npml"].best,
        sklearn_best=t["sklearn"].best,
    )


def _reference_row(report: Report, n: int, p: int) -> None:
    """The compiled kernel against its readable NumPy twin on the same centred problem."""
    X, y = regression(n, p)
    Xc, yc = X - X.mean(0), y - y.mean()
    l1 = l2 = n * 0.1 * 0.5

    def reference():
        _enet_cd_reference(np.zeros(p), Xc, yc, l1, l2, 1000, 1e-4)

    t = compare(
        {"npml": lambda: ElasticNet(alpha=0.1).fit(X, y), "reference": reference},
        repeats=min(report.repeats, 3),
        pause=report.pause,
    )
    report.row(
        f"ElasticNet fit n={n} p={p} (compiled) vs its NumPy reference twin",
        t["npml"].median,
        peer="numpy reference",
        peer_value=t["reference"].median,
        note="the reference loops over coordinates in Python",
    )


def _path_row(report: Report, sk, n: int, p: int, n_alphas: int) -> None:
    X, y = regression(n, p, seed=1)
    case = f"enet_path {n_alphas} alphas n={n} p={p} l1_ratio=0.5"
    ours = enet_path(X, y, 0.5, n_alphas=n_alphas)
    if sk is None:
        t = compare({"npml": lambda: enet_path(X, y, 0.5, n_alphas=n_alphas)}, repeats=3)
        report.row(case, t["npml"].median, peer="sklearn", peer_value=None)
        return

    def theirs():
        return sk.enet_path(X, y, l1_ratio=0.5, alphas=n_alphas)

    with warnings.catch_warnings():  # the path's smallest alphas may stop at max_iter
        warnings.simplefilter("ignore")
        _, coefs, _ = theirs()
        t = compare(
            {"npml": lambda: enet_path(X, y, 0.5, n_alphas=n_alphas), "sklearn": theirs},
            repeats=min(report.repeats, 5),
            pause=report.pause,
        )
    diff = float(np.max(np.abs(ours.coefs - coefs)))
    report.row(
        case,
        t["npml"].median,
        peer="sklearn",
        peer_value=t["sklearn"].median,
        target=1.0,
        note=f"sweeps {int(ours.n_iters.sum())} in all, max |coef diff| {diff:.1e}",
    )


def run(report: Report) -> None:
    sk = _peer("sklearn.linear_model")
    n, p = report.pick((500, 20), (5000, 200), (5000, 200))
    _fit_rows(report, sk, n, p, 0.1, target=0.7)
    _fit_rows(report, sk, *report.pick((50, 500), (200, 5000), (200, 5000)), 1.0, target=1.0)
    if report.mode == "full":
        _fit_rows(report, sk, 20000, 500, 0.01, target=0.7)
    _path_row(report, sk, n, p, report.pick(10, 100, 100))
    _reference_row(report, *report.pick((200, 10), (5000, 200), (5000, 200)))
