"""The minorise-maximise (MM) iteration for Bradley-Terry scores, with an optional L2 prior.

With :math:`\\gamma_i = e^{\\beta_i}`, :math:`n_{ij}` comparisons between items *i* and *j*
and :math:`W_i` wins of item *i*, the penalised log-likelihood is

.. math::

    \\ell(\\beta) = \\sum_i W_i \\beta_i - \\sum_{i<j} n_{ij} \\log(\\gamma_i + \\gamma_j)
                  - \\alpha \\lVert \\beta \\rVert^2 .

Hunter (2004) minorises :math:`-\\log(\\gamma_i + \\gamma_j)` by its tangent in
:math:`\\gamma_i + \\gamma_j` at the current iterate :math:`\\gamma^{(k)}` (the log is
concave), which separates the surrogate by item:

.. math::

    Q_i(b) = W_i b - D_i e^{b} - \\alpha b^2, \\qquad
    D_i = \\sum_{j} \\frac{n_{ij}}{\\gamma^{(k)}_i + \\gamma^{(k)}_j}.

Maximising :math:`Q_i` gives the next iterate. For :math:`\\alpha = 0` this is Hunter's
closed form :math:`\\gamma_i \\leftarrow W_i / D_i`; for :math:`\\alpha > 0` the
stationarity condition

.. math::

    \\varphi(b) = D_i e^{b} + 2 \\alpha b - W_i = 0                         \\tag{1}

has one root (:math:`\\varphi` is increasing and convex), found by Newton's method kept
inside a bracket; a Newton step below round-off ends the search even when it lands on the
bracket's edge (started on the root, the step is zero and the root is the edge). Each step
cannot lower :math:`\\ell` (the MM property).

The surrogate is much more curved than :math:`\\ell` along the shift direction
:math:`\\beta + c \\mathbf{1}` (the likelihood does not change at all along it), so MM alone
moves the mean of the scores very slowly when :math:`\\alpha > 0`. Along that direction the
exact maximiser is known: the likelihood is shift invariant and
:math:`\\lVert \\beta + c \\mathbf{1} \\rVert^2` is smallest at
:math:`c = -\\bar\\beta`, so every iteration ends by centring,

.. math::

    \\beta \\leftarrow \\beta - \\bar\\beta \\mathbf{1},                   \\tag{2}

a block-coordinate step that cannot lower :math:`\\ell` either. The iteration climbs to the
maximiser, the same point that Newton's method on :math:`\\ell` reaches.

To keep :math:`e^{\\beta}` finite the pair sums use :math:`e^{\\beta - m}` with
:math:`m = \\max_i \\beta_i`; :math:`D'_i = e^{m} D_i` is what the code holds.

``_bt_mm_kernel`` (Numba) and ``_bt_mm_reference`` (NumPy) are the same algorithm.

**Acceleration.** MM converges linearly, and slowly where the data say little about some
items (few comparisons each, a weak prior): thousands of iterations. ``_squarem`` wraps the
MM map :math:`F` in SQUAREM (Varadhan & Roland 2008, scheme S3): from two MM steps
:math:`r = F(\\beta) - \\beta` and :math:`v = F(F(\\beta)) - 2 F(\\beta) + \\beta` it
extrapolates

.. math::

    \\beta' = F\\bigl(\\beta - 2 s\\, r + s^2 v\\bigr), \\qquad
    s = -\\lVert r \\rVert / \\lVert v \\rVert \\le -1 ,                     \\tag{3}

(:math:`s = -1` gives three plain MM steps), and keeps :math:`\\beta'` only if the objective
did not get worse, else falls back to :math:`F(F(\\beta))`; so it stays monotone. A cycle
costs three MM steps and one objective evaluation (two on a fallback); the step length is
capped (first at 4, then fourfold each time the cap is reached and accepted, Du & Varadhan
2020).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _prior_root_scalar(W: float, Dp: float, m: float, alpha: float, b0: float) -> float:
    """Root of Eq. (1) with :math:`D = D' e^{-m}`, by bracketed Newton from ``b0``."""
    # The root lies between 0 and Hunter's alpha=0 update b_H = m + log(W / D'), and above
    # (W - D' e^{-m}) / (2 alpha) when it is negative (module docstring, Eq. 1).
    lo = min(0.0, (W - Dp * np.exp(-m)) / (2.0 * alpha))
    hi = max(0.0, W / (2.0 * alpha))
    if W > 0.0 and Dp > 0.0:
        b_h = m + np.log(W / Dp)
        if b_h > 0.0:
            hi = min(hi, b_h)
        else:
            lo = max(lo, b_h)
    b = min(max(b0, lo), hi)
    for _ in range(100):
        e = Dp * np.exp(b - m)
        f = e + 2.0 * alpha * b - W
        if f > 0.0:
            hi = b
        else:
            lo = b
        step = f / (e + 2.0 * alpha)
        b_new = b - step
        tiny = 1e-15 * (1.0 + abs(b))
        if abs(step) <= tiny:  # converged: keep the step even if round-off put it on an edge
            return b_new
        if not (lo < b_new < hi):  # Newton left the bracket: bisect instead
            b_new = 0.5 * (lo + hi)
        if abs(b_new - b) <= tiny:
            return b_new
        b = b_new
    return b


@njit(cache=True, error_model="numpy")
def _bt_mm_kernel(
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    n_ij: np.ndarray,
    wins: np.ndarray,
    alpha: float,
    beta0: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, float]:
    """MM iterations from ``beta0``; returns ``(beta, n_iter, last_change)``.

    ``pair_i``, ``pair_j``, ``n_ij`` (P,) list each compared pair once; ``wins`` (n,) is
    :math:`W`. Stops when the largest change of a score is at most ``tol``.
    """
    n = wins.shape[0]
    beta = beta0.copy()
    gamma = np.empty(n)
    D = np.empty(n)
    new = np.empty(n)
    change = np.inf
    it = 0
    while it < max_iter:
        it += 1
        m = beta.max()
        for k in range(n):
            gamma[k] = np.exp(beta[k] - m)
            D[k] = 0.0
        for p in range(pair_i.shape[0]):  # D'_i = sum_j n_ij / (gamma_i + gamma_j)
            i = pair_i[p]
            j = pair_j[p]
            v = n_ij[p] / (gamma[i] + gamma[j])
            D[i] += v
            D[j] += v
        mean = 0.0
        for k in range(n):
            if alpha == 0.0:  # Hunter: gamma_i = W_i / D_i
                new[k] = m + np.log(wins[k] / D[k])
            else:  # maximise Q_i: the root of Eq. (1)
                new[k] = _prior_root_scalar(wins[k], D[k], m, alpha, beta[k])
            mean += new[k]
        mean /= n
        change = 0.0
        for k in range(n):  # centre: the exact minimiser along beta + c 1 (Eq. 2)
            change = max(change, abs(new[k] - mean - beta[k]))
            beta[k] = new[k] - mean
        if change <= tol:
            break
    return beta, it, change


def _prior_root_reference(
    W: np.ndarray, Dp: np.ndarray, m: float, alpha: float, b0: np.ndarray
) -> np.ndarray:
    """Vectorised twin of ``_prior_root_scalar``: the root of Eq. (1) for every item."""
    lo = np.minimum(0.0, (W - Dp * np.exp(-m)) / (2.0 * alpha))
    hi = np.maximum(0.0, W / (2.0 * alpha))
    with np.errstate(divide="ignore"):
        b_h = np.where((W > 0) & (Dp > 0), m + np.log(np.where(W > 0, W, 1.0) / Dp), np.nan)
    has_h = ~np.isnan(b_h)
    hi = np.where(has_h & (b_h > 0), np.minimum(hi, b_h), hi)
    lo = np.where(has_h & (b_h <= 0), np.maximum(lo, b_h), lo)
    b = np.clip(b0, lo, hi)
    done = np.zeros(b.shape, dtype=np.bool_)  # items whose root is found stay as they are
    for _ in range(100):
        e = Dp * np.exp(b - m)
        f = e + 2.0 * alpha * b - W
        hi = np.where(f > 0, b, hi)
        lo = np.where(f > 0, lo, b)
        step = f / (e + 2.0 * alpha)
        b_new = b - step
        tiny = 1e-15 * (1.0 + np.abs(b))
        small = np.abs(step) <= tiny
        b_new = np.where(small | ((lo < b_new) & (b_new < hi)), b_new, 0.5 * (lo + hi))
        finished = small | (np.abs(b_new - b) <= tiny)
        b = np.where(done, b, b_new)
        done |= finished
        if done.all():
            break
    return b


def _bt_mm_reference(
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    n_ij: np.ndarray,
    wins: np.ndarray,
    alpha: float,
    beta0: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, float]:
    """Plain-NumPy twin of :func:`_bt_mm_kernel` (same arguments, same result)."""
    n = wins.shape[0]
    beta = beta0.copy()
    change = np.inf
    it = 0
    while it < max_iter:
        it += 1
        m = beta.max()
        gamma = np.exp(beta - m)  # (n,)
        v = n_ij / (gamma[pair_i] + gamma[pair_j])  # (P,)
        D = np.bincount(pair_i, v, minlength=n) + np.bincount(pair_j, v, minlength=n)
        if alpha == 0.0:
            new = m + np.log(wins / D)
        else:
            new = _prior_root_reference(wins, D, m, alpha, beta)
        new -= new.mean()  # Eq. (2)
        change = float(np.max(np.abs(new - beta)))
        beta = new
        if change <= tol:
            break
    return beta, it, change


def _squarem(
    mm_step: Callable[[np.ndarray], np.ndarray],
    objective: Callable[[np.ndarray], float],
    beta0: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, float]:
    """SQUAREM cycles (Eq. 3) of the monotone map ``mm_step`` from ``beta0`` (n,).

    ``objective`` is the value the map does not increase (Eq. 1 of ``bradley_terry``).
    Returns ``(beta, n_cycles, last_change)``; stops when a cycle changes no score by more
    than ``tol``.
    """
    beta = beta0.copy()
    f = objective(beta)
    step_max = 4.0
    change = np.inf
    it = 0
    while it < max_iter:
        it += 1
        b1 = mm_step(beta)
        b2 = mm_step(b1)
        r = b1 - beta  # (n,)
        v = b2 - b1 - r  # (n,)
        r_norm, v_norm = float(np.sqrt(np.sum(r * r))), float(np.sqrt(np.sum(v * v)))
        s = -r_norm / v_norm if v_norm > 0.0 else -1.0
        s = max(min(s, -1.0), -step_max)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # judged below
            new = mm_step(beta - 2.0 * s * r + s * s * v)
            f_new = objective(new)
        if f_new <= f:
            if s == -step_max:
                step_max *= 4.0
        else:  # extrapolated too far (or overflowed): two plain MM steps never do worse
            new, f_new = b2, objective(b2)
        change = float(np.max(np.abs(new - beta)))
        beta, f = new, f_new
        if change <= tol:
            break
    return beta, it, change
