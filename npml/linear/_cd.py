"""Cyclic coordinate descent for the elastic net, with gap-safe screening.

Friedman, Hastie & Tibshirani (2010), "Regularization paths for generalized linear models
via coordinate descent". On the problem scaled by :math:`n`,

.. math::

    P(w) = \\tfrac12 \\|y - Xw\\|^2 + l_1 \\|w\\|_1 + \\tfrac{l_2}{2} \\|w\\|^2 ,

minimising over one coordinate :math:`w_j` with the others fixed has a closed form: with
the residual :math:`R = y - Xw` and :math:`z_j = X_j^\\top R + w_j \\|X_j\\|^2` (the fit
of column :math:`j` to the residual without its own contribution),

.. math::

    w_j \\leftarrow \\frac{S(z_j, l_1)}{\\|X_j\\|^2 + l_2},
    \\qquad S(z, t) = \\operatorname{sign}(z) \\max(|z| - t, 0) ,

after which :math:`R` is updated by :math:`-\\Delta w_j X_j`. A sweep updates every
coordinate once, in order. After a sweep whose largest step is small relative to the
largest weight (:math:`\\max|\\Delta w| \\le tol \\cdot \\max|w|`), the duality gap
(``_gap.py``) is computed; the fit stops when :math:`G \\le tol \\cdot \\|y\\|^2`.
The same gap drives the **gap-safe screening rule** (Ndiaye, Fercoq, Gramfort & Salmon
2017, Eq. 11): feature :math:`j` is certainly zero at the optimum when

.. math::

    \\frac{1 - |X_j^\\top \\theta|}{\\sqrt{\\|X_j\\|^2 + l_2}} > \\frac{\\sqrt{2 G}}{l_1},
    \\qquad \\theta = \\frac{A}{\\max(l_1, \\|A\\|_\\infty)} ,

so it is set to zero and skipped from then on. This is scikit-learn's algorithm, step for
step, so ``n_iter`` (sweeps) and the gap are comparable with its ``ElasticNet``.

Three implementations of the same iteration live here:

* ``_enet_cd_reference`` -- NumPy on ``X``, maintaining the residual: the readable one;
* ``_enet_cd_kernel`` -- the same, compiled, on ``Xt`` (p, n) C-contiguous so that a
  column of ``X`` is a contiguous row, centring column ``j`` on the fly as
  ``Xt[j] - X_mean[j]`` (no centred copy of the data is ever made);
* ``_enet_cd_gram_kernel`` -- on the Gram matrix :math:`Q = X^\\top X` and
  :math:`q = X^\\top y`, maintaining :math:`Qw` instead of :math:`R`
  (:math:`X_j^\\top R = q_j - (Qw)_j`): a sweep costs :math:`O(p^2)` instead of
  :math:`O(np)`, the fast choice when ``n >> p`` and many sweeps are needed.

Each updates ``w`` in place. The reference returns ``(gap, n_iter)``, the kernels
``(gap, n_iter, converged)``; ``n_iter`` counts sweeps (0 when the starting point already
meets the stopping rule).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from npml.linear._gap import _gap_kernel, _gap_reference


def _enet_cd_reference(
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    l1: float,
    l2: float,
    max_iter: int,
    tol: float,
    screening: bool = True,
) -> tuple[float, int]:
    """Coordinate descent on ``X`` (n, p) and ``y`` (n,), plain NumPy; updates ``w`` (p,)."""
    norm2 = np.einsum("ij,ij->j", X, X)  # ||X_j||^2, (p,)
    R = y - X @ w  # residual, (n,)
    tol_abs = tol * float(y @ y)
    active = norm2 > 0.0  # features still updated
    w[~active] = 0.0  # a zero column has weight 0 at the optimum (and no effect on R)
    screening = screening and l1 > 0.0

    def gap_and_screen() -> float:
        gap, dual_norm, XtA = _gap_reference(w, X.T @ R, float(R @ R), float(R @ y), l1, l2)
        if screening and gap > tol_abs:
            idx = np.flatnonzero(active)
            theta = XtA[idx] / max(l1, dual_norm)  # X_j^T theta at the scaled dual point
            d = (1.0 - np.abs(theta)) / np.sqrt(norm2[idx] + l2)
            for j in idx[d > np.sqrt(2.0 * abs(gap)) / l1]:
                R[:] += w[j] * X[:, j]  # take feature j out of the fit
                w[j] = 0.0
                active[j] = False
        return gap

    gap = gap_and_screen()
    if gap <= tol_abs:
        return gap, 0
    for sweep in range(max_iter):
        w_max = 0.0
        dw_max = 0.0
        for j in np.flatnonzero(active):
            w_j = w[j]
            z = X[:, j] @ R + w_j * norm2[j]
            w[j] = np.sign(z) * max(abs(z) - l1, 0.0) / (norm2[j] + l2)
            if w[j] != w_j:
                R -= (w[j] - w_j) * X[:, j]
            dw_max = max(dw_max, abs(w[j] - w_j))
            w_max = max(w_max, abs(w[j]))
        if w_max == 0.0 or dw_max <= tol * w_max or sweep == max_iter - 1:
            gap = gap_and_screen()
            if gap <= tol_abs:
                return gap, sweep + 1
    return gap, max_iter


# -- compiled kernels --------------------------------------------------------------------
# Both take ``active`` (p,) bool, in/out: the features not yet screened out (all True on a
# fresh start), and run sweeps ``start + 1 .. stop`` of a fit limited to ``max_iter``
# sweeps; ``start = 0`` first checks the starting point. A fit can thus run some sweeps in
# one kernel and continue in the other exactly where it stopped. They return
# ``(gap, n_iter, converged)``.


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _centred_dot(x: np.ndarray, mu: float, r: np.ndarray) -> float:
    """(x - mu) @ r; reassociation lets LLVM vectorize the sum (a benchmark shows 2x)."""
    s = 0.0
    for i in range(x.shape[0]):
        s += (x[i] - mu) * r[i]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _centred_sq(x: np.ndarray, mu: float) -> float:
    """||x - mu||^2."""
    s = 0.0
    for i in range(x.shape[0]):
        s += (x[i] - mu) * (x[i] - mu)
    return s


@njit(cache=True, error_model="numpy")
def _residual_gap(w, active, Xt, X_mean, y, R, norm2, XtA, l1, l2, tol_abs, screening):
    """Gap at ``w`` from the residual ``R``; screens features out of ``active`` (in place)."""
    p, n = Xt.shape
    for j in range(p):
        XtA[j] = _centred_dot(Xt[j], X_mean[j], R)
    gap, dual_norm = _gap_kernel(w, XtA, _centred_dot(R, 0.0, R), _centred_dot(R, 0.0, y), l1, l2)
    if screening and gap > tol_abs:
        radius = np.sqrt(2.0 * abs(gap)) / l1
        scale = max(l1, dual_norm)
        for j in range(p):
            if active[j] and (1.0 - abs(XtA[j] / scale)) / np.sqrt(norm2[j] + l2) > radius:
                if w[j] != 0.0:
                    x_j, mu_j, w_j = Xt[j], X_mean[j], w[j]
                    for i in range(n):
                        R[i] += w_j * (x_j[i] - mu_j)
                    w[j] = 0.0
                active[j] = False
    return gap


@njit(cache=True, error_model="numpy")
def _enet_cd_kernel(w, active, Xt, X_mean, y, l1, l2, start, stop, max_iter, tol, screening):
    """Residual coordinate descent on ``Xt`` (p, n), C-contiguous, and ``y`` (n,).

    Column j of the design is ``Xt[j] - X_mean[j]``: centring happens on the fly, so the
    caller's transposed copy of X need not be centred.
    """
    p, n = Xt.shape
    norm2 = np.empty(p)  # ||X_j - mean_j||^2
    for j in range(p):
        norm2[j] = _centred_sq(Xt[j], X_mean[j])
    R = y.copy()  # residual y - X w, (n,)
    for j in range(p):
        if w[j] != 0.0:
            x_j, mu_j, w_j = Xt[j], X_mean[j], w[j]
            for i in range(n):
                R[i] -= w_j * (x_j[i] - mu_j)
    tol_abs = tol * _centred_dot(y, 0.0, y)
    screening = screening and l1 > 0.0
    XtA = np.empty(p)
    gap = np.inf
    if start == 0:
        for j in range(p):
            if norm2[j] == 0.0:
                active[j] = False
                w[j] = 0.0  # a zero column has weight 0 at the optimum (and no effect on R)
        gap = _residual_gap(w, active, Xt, X_mean, y, R, norm2, XtA, l1, l2, tol_abs, screening)
        if gap <= tol_abs:
            return gap, 0, True
    for sweep in range(start + 1, stop + 1):
        w_max = 0.0
        dw_max = 0.0
        for j in range(p):
            if not active[j]:
                continue
            x_j, mu_j, w_j = Xt[j], X_mean[j], w[j]
            z = _centred_dot(x_j, mu_j, R) + w_j * norm2[j]
            w_new = max(abs(z) - l1, 0.0) / (norm2[j] + l2)
            w_new = w_new if z >= 0.0 else -w_new
            w[j] = w_new
            if w_new != w_j:
                step = w_new - w_j
                for i in range(n):
                    R[i] -= step * (x_j[i] - mu_j)
            dw_max = max(dw_max, abs(w_new - w_j))
            w_max = max(w_max, abs(w_new))
        if w_max == 0.0 or dw_max <= tol * w_max or sweep == max_iter:
            gap = _residual_gap(w, active, Xt, X_mean, y, R, norm2, XtA, l1, l2, tol_abs, screening)
            if gap <= tol_abs:
                return gap, sweep, True
    return gap, stop, False


@njit(cache=True, error_model="numpy")
def _gram_gap(w, active, Q, q, Qw, y_sq, XtA, l1, l2, tol_abs, screening):
    """Gap at ``w`` from ``Qw = Q w``; screens features out of ``active`` (in place)."""
    p = q.shape[0]
    qw = 0.0
    wQw = 0.0
    for j in range(p):
        qw += q[j] * w[j]
        wQw += w[j] * Qw[j]
        XtA[j] = q[j] - Qw[j]  # X_j^T R
    # R^T R = y^T y - 2 q^T w + w^T Q w and R^T y = y^T y - q^T w
    gap, dual_norm = _gap_kernel(w, XtA, y_sq - 2.0 * qw + wQw, y_sq - qw, l1, l2)
    if screening and gap > tol_abs:
        radius = np.sqrt(2.0 * abs(gap)) / l1
        scale = max(l1, dual_norm)
        for j in range(p):
            if active[j] and (1.0 - abs(XtA[j] / scale)) / np.sqrt(Q[j, j] + l2) > radius:
                if w[j] != 0.0:
                    for k in range(p):
                        Qw[k] -= w[j] * Q[j, k]
                    w[j] = 0.0
                active[j] = False
    return gap


@njit(cache=True, error_model="numpy")
def _enet_cd_gram_kernel(w, active, Q, q, y_sq, l1, l2, start, stop, max_iter, tol, screening):
    """Coordinate descent on ``Q = X^T X`` (p, p), ``q = X^T y`` (p,), ``y_sq = y^T y``.

    The residual is never formed: ``X_j^T R = q_j - (Qw)_j``.
    """
    p = q.shape[0]
    Qw = np.zeros(p)  # Q w, (p,)
    for j in range(p):
        if w[j] != 0.0:
            for k in range(p):
                Qw[k] += w[j] * Q[j, k]
    tol_abs = tol * y_sq
    screening = screening and l1 > 0.0
    XtA = np.empty(p)
    gap = np.inf
    if start == 0:
        for j in range(p):
            if Q[j, j] <= 0.0:
                active[j] = False
                if w[j] != 0.0:
                    for k in range(p):
                        Qw[k] -= w[j] * Q[j, k]
                    w[j] = 0.0
        gap = _gram_gap(w, active, Q, q, Qw, y_sq, XtA, l1, l2, tol_abs, screening)
        if 0.0 <= gap <= tol_abs:  # a singular Q can make the gap slightly negative
            return gap, 0, True
    for sweep in range(start + 1, stop + 1):
        w_max = 0.0
        dw_max = 0.0
        for j in range(p):
            if not active[j]:
                continue
            w_j = w[j]
            z = q[j] - Qw[j] + w_j * Q[j, j]
            w_new = max(abs(z) - l1, 0.0) / (Q[j, j] + l2)
            w_new = w_new if z >= 0.0 else -w_new
            w[j] = w_new
            if w_new != w_j:
                step = w_new - w_j
                Q_j = Q[j]
                for k in range(p):
                    Qw[k] += step * Q_j[k]
            dw_max = max(dw_max, abs(w_new - w_j))
            w_max = max(w_max, abs(w_new))
        if w_max == 0.0 or dw_max <= tol * w_max or sweep == max_iter:
            gap = _gram_gap(w, active, Q, q, Qw, y_sq, XtA, l1, l2, tol_abs, screening)
            if gap <= tol_abs:
                return gap, sweep, True
    return gap, stop, False
