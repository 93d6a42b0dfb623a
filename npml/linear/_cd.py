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
* ``_enet_cd_kernel`` -- the same on ``Xt = X.T`` (C-contiguous, so a column of ``X`` is a
  contiguous row), for ``p > n`` where a Gram matrix would be too large;
* ``_enet_cd_gram_kernel`` -- on the Gram matrix :math:`Q = X^\\top X` and
  :math:`q = X^\\top y`, maintaining :math:`Qw` instead of :math:`R`
  (:math:`X_j^\\top R = q_j - (Qw)_j`): a sweep costs :math:`O(p^2)` instead of
  :math:`O(np)`, the fast choice when ``n >> p``.

Every function updates ``w`` in place and returns ``(gap, n_iter)``; ``n_iter`` is the
number of sweeps (0 when the starting point already satisfies the stopping rule).
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


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """a @ b for contiguous 1-D arrays; reassociation lets LLVM vectorize the sum."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True, error_model="numpy")
def _enet_cd_kernel(
    w: np.ndarray,
    Xt: np.ndarray,
    y: np.ndarray,
    l1: float,
    l2: float,
    max_iter: int,
    tol: float,
    screening: bool,
) -> tuple[float, int]:
    """Compiled residual coordinate descent on ``Xt`` (p, n), C-contiguous; updates ``w``."""
    p, n = Xt.shape
    norm2 = np.empty(p)
    for j in range(p):
        norm2[j] = _dot(Xt[j], Xt[j])
    R = y.copy()  # residual y - X w, (n,)
    for j in range(p):
        if w[j] != 0.0:
            for i in range(n):
                R[i] -= w[j] * Xt[j, i]
    tol_abs = tol * _dot(y, y)
    active = norm2 > 0.0
    for j in range(p):
        if not active[j]:
            w[j] = 0.0
    screening = screening and l1 > 0.0
    XtA = np.empty(p)
    gap = 0.0
    for sweep in range(max_iter + 1):  # pass 0 only checks the starting point
        if sweep > 0:
            w_max = 0.0
            dw_max = 0.0
            for j in range(p):
                if not active[j]:
                    continue
                x_j = Xt[j]
                w_j = w[j]
                z = _dot(x_j, R) + w_j * norm2[j]
                w_new = max(abs(z) - l1, 0.0) / (norm2[j] + l2)
                w_new = w_new if z >= 0.0 else -w_new
                w[j] = w_new
                if w_new != w_j:
                    step = w_new - w_j
                    for i in range(n):
                        R[i] -= step * x_j[i]
                dw_max = max(dw_max, abs(w_new - w_j))
                w_max = max(w_max, abs(w_new))
            if not (w_max == 0.0 or dw_max <= tol * w_max or sweep == max_iter):
                continue
        for j in range(p):
            XtA[j] = _dot(Xt[j], R)
        gap, dual_norm = _gap_kernel(w, XtA, _dot(R, R), _dot(R, y), l1, l2)
        if gap <= tol_abs:
            return gap, sweep
        if screening:
            radius = np.sqrt(2.0 * abs(gap)) / l1
            scale = max(l1, dual_norm)
            for j in range(p):
                if active[j]:
                    d_j = (1.0 - abs(XtA[j] / scale)) / np.sqrt(norm2[j] + l2)
                    if d_j > radius:
                        if w[j] != 0.0:
                            for i in range(n):
                                R[i] += w[j] * Xt[j, i]
                            w[j] = 0.0
                        active[j] = False
    return gap, max_iter


@njit(cache=True, error_model="numpy")
def _enet_cd_gram_kernel(
    w: np.ndarray,
    Q: np.ndarray,
    q: np.ndarray,
    y_sq: float,
    l1: float,
    l2: float,
    max_iter: int,
    tol: float,
    screening: bool,
) -> tuple[float, int]:
    """Compiled coordinate descent on ``Q = X^T X`` (p, p) and ``q = X^T y`` (p,).

    ``y_sq = y^T y``. The residual is never formed: ``X_j^T R = q_j - (Qw)_j``,
    ``R^T R = y^T y - 2 q^T w + w^T Q w`` and ``R^T y = y^T y - q^T w``.
    """
    p = q.shape[0]
    Qw = np.zeros(p)  # Q w, (p,)
    for j in range(p):
        if w[j] != 0.0:
            for k in range(p):
                Qw[k] += w[j] * Q[j, k]
    tol_abs = tol * y_sq
    active = np.empty(p, dtype=np.bool_)
    for j in range(p):
        active[j] = Q[j, j] > 0.0
        if not active[j] and w[j] != 0.0:
            for k in range(p):
                Qw[k] -= w[j] * Q[j, k]
            w[j] = 0.0
    screening = screening and l1 > 0.0
    XtA = np.empty(p)
    gap = 0.0
    for sweep in range(max_iter + 1):  # pass 0 only checks the starting point
        if sweep > 0:
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
            if not (w_max == 0.0 or dw_max <= tol * w_max or sweep == max_iter):
                continue
        qw = 0.0
        wQw = 0.0
        for j in range(p):
            qw += q[j] * w[j]
            wQw += w[j] * Qw[j]
            XtA[j] = q[j] - Qw[j]
        gap, dual_norm = _gap_kernel(w, XtA, y_sq - 2.0 * qw + wQw, y_sq - qw, l1, l2)
        # at sweep 0 a singular Q can give a slightly negative gap from round-off: go on
        if gap <= tol_abs and (sweep > 0 or gap >= 0.0):
            return gap, sweep
        if screening:
            radius = np.sqrt(2.0 * abs(gap)) / l1
            scale = max(l1, dual_norm)
            for j in range(p):
                if active[j]:
                    d_j = (1.0 - abs(XtA[j] / scale)) / np.sqrt(Q[j, j] + l2)
                    if d_j > radius:
                        if w[j] != 0.0:
                            for k in range(p):
                                Qw[k] -= w[j] * Q[j, k]
                            w[j] = 0.0
                        active[j] = False
    return gap, max_iter
