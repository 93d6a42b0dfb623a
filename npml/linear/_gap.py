"""The duality gap of the elastic net: the stopping rule of coordinate descent.

Coordinate descent works on the problem scaled by :math:`n` (so that the penalties are
``l1 = n alpha l1_ratio`` and ``l2 = n alpha (1 - l1_ratio)``),

.. math::

    P(w) = \\tfrac12 \\|y - Xw\\|^2 + l_1 \\|w\\|_1 + \\tfrac{l_2}{2} \\|w\\|^2 .

With the residual :math:`R = y - Xw` and :math:`A = X^\\top R - l_2 w`, two dual problems
give a certificate :math:`G(w) \\ge P(w) - P(w^*) \\ge 0` that vanishes at the optimum:

* **formulation A** (:math:`l_1 > 0`; Fercoq, Gramfort & Salmon 2015, with the augmented
  design :math:`[X; \\sqrt{l_2} I]`): scale the residual into the dual feasible set
  :math:`\\|X^\\top v\\|_\\infty \\le l_1` by :math:`s = \\min(1, l_1 / \\|A\\|_\\infty)`,

  .. math::

      G = \\tfrac12 (1 + s^2)(\\|R\\|^2 + l_2 \\|w\\|^2) + l_1 \\|w\\|_1 - s\\, R^\\top y ;

* **formulation B** (:math:`l_1 = 0 < l_2`, ridge; Dünner et al. 2016, Sec. 5.2.3): the
  dual is unconstrained, so no scaling is needed,

  .. math::

      G = \\|R\\|^2 + \\tfrac{l_2}{2}\\|w\\|^2 - R^\\top y + \\tfrac{1}{2 l_2} \\|X^\\top R\\|^2 ;

  formulation A would be useless here (with :math:`l_1 = 0` the scale :math:`s` is 0 and
  the "gap" is the primal value itself, which never reaches the tolerance);
* **no penalty** (:math:`l_1 = l_2 = 0`, least squares): no dual gap exists, and
  :math:`\\|X^\\top R\\|^2` (the squared gradient) stands in for it.

These are the definitions scikit-learn's ``enet_coordinate_descent`` uses, so a fit
stops at the same point and reports the same ``dual_gap_`` (divided by :math:`n`).
Both functions return ``(gap, dual_norm)`` and leave :math:`A` in ``XtA`` for the
gap-safe screening rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _gap_reference(
    w: np.ndarray, XtR: np.ndarray, R_sq: float, Ry: float, l1: float, l2: float
) -> tuple[float, float, np.ndarray]:
    """Duality gap from ``XtR = X^T R``, ``R_sq = R^T R`` and ``Ry = R^T y`` (NumPy).

    Returns ``(gap, dual_norm, XtA)``.
    """
    w_sq = float(w @ w)
    if l1 == 0.0:
        grad_sq = float(XtR @ XtR)
        if l2 == 0.0:  # least squares: the squared gradient
            return grad_sq, grad_sq, XtR.copy()
        gap = R_sq + 0.5 * l2 * w_sq - Ry + grad_sq / (2.0 * l2)  # formulation B
        return gap, grad_sq, XtR.copy()
    XtA = XtR - l2 * w  # (p,)
    dual_norm = float(np.max(np.abs(XtA)))
    s = l1 / dual_norm if dual_norm > l1 else 1.0  # formulation A
    primal = 0.5 * (R_sq + l2 * w_sq) + l1 * float(np.sum(np.abs(w)))
    dual = -0.5 * s * s * (R_sq + l2 * w_sq) + s * Ry
    return primal - dual, dual_norm, XtA


@njit(cache=True, error_model="numpy")
def _gap_kernel(
    w: np.ndarray,
    XtA: np.ndarray,
    R_sq: float,
    Ry: float,
    l1: float,
    l2: float,
) -> tuple[float, float]:
    """Compiled twin of :func:`_gap_reference`; ``XtA`` holds ``X^T R`` on entry, A on exit."""
    p = w.shape[0]
    w_sq = 0.0
    w_l1 = 0.0
    for j in range(p):
        w_sq += w[j] * w[j]
        w_l1 += abs(w[j])
    if l1 == 0.0:
        grad_sq = 0.0
        for j in range(p):
            grad_sq += XtA[j] * XtA[j]
        if l2 == 0.0:
            return grad_sq, grad_sq
        return R_sq + 0.5 * l2 * w_sq - Ry + grad_sq / (2.0 * l2), grad_sq
    dual_norm = 0.0
    for j in range(p):
        XtA[j] -= l2 * w[j]
        dual_norm = max(dual_norm, abs(XtA[j]))
    s = l1 / dual_norm if dual_norm > l1 else 1.0
    primal = 0.5 * (R_sq + l2 * w_sq) + l1 * w_l1
    dual = -0.5 * s * s * (R_sq + l2 * w_sq) + s * Ry
    return primal - dual, dual_norm
