"""The elastic-net penalty as a regularizer for any model's weights.

Zou & Hastie (2005). For weights :math:`w` of any shape (summed over all entries),

.. math::

    \\Omega(w) = \\alpha \\rho \\|w\\|_1 + \\frac{\\alpha (1 - \\rho)}{2} \\|w\\|_2^2 ,
    \\qquad
    \\partial \\Omega(w) \\ni \\alpha \\rho\\, \\operatorname{sign}(w) + \\alpha (1 - \\rho)\\, w ,

the same penalty :class:`~npml.linear.ElasticNet` uses (:math:`\\rho` = ``l1_ratio``).
:math:`|w|` has no derivative at 0; its subdifferential there is :math:`[-1, 1]` and
:func:`elastic_net_penalty` returns the element 0 (``np.sign(0) = 0``), the subgradient of
smallest norm: a weight that is exactly zero feels no pull from the penalty, so only the
data gradient can move it.

Plain (sub)gradient descent on :math:`\\Omega` shrinks weights but makes them hover around
zero instead of reaching it. The **proximal step** (Parikh & Boyd 2014, "Proximal
Algorithms", Sec. 6.5.3) does reach it: after a gradient step on the loss alone,

.. math::

    \\operatorname{prox}_{\\eta \\Omega}(v)
    = \\frac{S(v, \\eta \\alpha \\rho)}{1 + \\eta \\alpha (1 - \\rho)},
    \\qquad S(v, t) = \\operatorname{sign}(v) \\max(|v| - t, 0) ,

which is exactly zero for :math:`|v| \\le \\eta \\alpha \\rho`; it is the one-coordinate
update of coordinate descent in another guise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import check_array, check_scalar


def _check(alpha: Any, l1_ratio: Any) -> tuple[float, float]:
    check_scalar(alpha, "alpha", low=0.0)
    check_scalar(l1_ratio, "l1_ratio", low=0.0, high=1.0)
    return float(alpha), float(l1_ratio)


def elastic_net_penalty(
    w: Any, alpha: float = 1.0, l1_ratio: float = 0.5
) -> tuple[float, np.ndarray]:
    """Value and subgradient of the elastic-net penalty, ``alpha (rho |w|_1 + (1-rho)/2 |w|^2)``.

    Parameters
    ----------
    w : array_like, any shape
        Weights (a vector, a weight matrix, ...); the penalty sums over all entries.
    alpha : float, default 1.0
        Strength :math:`\\alpha \\ge 0`.
    l1_ratio : float, default 0.5
        L1 share :math:`\\rho \\in [0, 1]`.

    Returns
    -------
    value : float
        :math:`\\Omega(w)`.
    grad : ndarray, same shape as ``w``
        A subgradient, with 0 chosen for the L1 part where ``w == 0`` (why is in
        :mod:`npml.linear.penalty`); add it to the loss gradient of ``w`` to regularize a
        model.

    Examples
    --------
    >>> value, grad = elastic_net_penalty(np.array([2.0, 0.0, -1.0]), alpha=1.0, l1_ratio=0.5)
    >>> value                                # 0.5 * (2 + 1) + 0.5 * 0.5 * (4 + 1)
    2.75
    >>> grad
    array([ 1.5,  0. , -1. ])
    """
    alpha, l1_ratio = _check(alpha, l1_ratio)
    w = check_array(w, "w", dtype="float")
    a1 = alpha * l1_ratio  # L1 strength
    a2 = alpha * (1.0 - l1_ratio)  # L2 strength
    value = a1 * float(np.abs(w).sum()) + 0.5 * a2 * float((w * w).sum())
    grad = a1 * np.sign(w) + a2 * w
    return value, grad


def elastic_net_prox(v: Any, step: float, alpha: float = 1.0, l1_ratio: float = 0.5) -> np.ndarray:
    """Proximal operator of ``step * elastic_net_penalty``: shrink, then zero small entries.

    Parameters
    ----------
    v : array_like, any shape
        Weights after a gradient step on the unpenalised loss.
    step : float
        The step size :math:`\\eta \\ge 0` of that gradient step.
    alpha, l1_ratio : float
        As in :func:`elastic_net_penalty`.

    Returns
    -------
    ndarray, same shape as ``v``
        :math:`\\arg\\min_w \\tfrac{1}{2}\\|w - v\\|^2 + \\eta\\,\\Omega(w)`.
    """
    alpha, l1_ratio = _check(alpha, l1_ratio)
    check_scalar(step, "step", low=0.0)
    v = check_array(v, "v", dtype="float")
    t = step * alpha * l1_ratio  # soft threshold
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0) / (1.0 + step * alpha * (1.0 - l1_ratio))
