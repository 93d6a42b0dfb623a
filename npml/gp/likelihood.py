"""The GP log marginal likelihood and its gradient (Rasmussen & Williams, 2006, Alg. 2.1
and Eq. 5.9), with one Cholesky factorisation per evaluation.

With :math:`K_y = K_\\theta(X, X) + \\sigma_\\epsilon^2 I = L L^\\top` and
:math:`\\alpha = K_y^{-1} y`,

.. math::

    \\log p(y \\mid X, \\theta) = -\\tfrac12 y^\\top \\alpha - \\sum_i \\log L_{ii}
        - \\tfrac{N}{2} \\log 2\\pi,

    \\frac{\\partial \\log p}{\\partial \\theta_k}
        = \\tfrac12 \\operatorname{tr}\\!\\Big((\\alpha \\alpha^\\top - K_y^{-1})
          \\frac{\\partial K_y}{\\partial \\theta_k}\\Big)
        = \\tfrac12 \\sum_{ij} W_{ij} \\frac{\\partial (K_y)_{ij}}{\\partial \\theta_k}.

The trace is a sum of elementwise products, so :math:`W` only has to give the right
contraction against symmetric matrices: :func:`lml_weights` builds
:math:`\\alpha\\alpha^\\top - K_y^{-1}` with :math:`K_y^{-1}` folded onto its lower
triangle (strictly-lower entries doubled, upper zero), straight from LAPACK ``potri``'s
in-place output. For :math:`\\theta = \\log \\sigma_\\epsilon^2` the derivative of
:math:`K_y` is :math:`\\sigma_\\epsilon^2 I`, so the gradient is
:math:`\\tfrac12 \\sigma_\\epsilon^2 \\operatorname{tr} W`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.linalg import blas, lapack

from npml.kernels import Kernel, cholesky_lower, cholesky_solve

NOT_PD_REMEDY = (
    "increase noise (the observation-noise variance on the diagonal; even noise=1e-6 acts "
    "as a jitter) or add a White kernel"
)


class PosteriorFactor(NamedTuple):
    """Alg. 2.1 lines 2, 3 and 7."""

    L: np.ndarray  # (N, N) lower Cholesky factor of K_y, Fortran order
    alpha: np.ndarray  # (N,) K_y^{-1} y
    lml: float  # log p(y | X)


def posterior_factor(K_y: np.ndarray, y: np.ndarray) -> PosteriorFactor:
    """Factorise ``K_y`` (overwritten) and solve for :math:`\\alpha`; see the module
    docstring for the likelihood."""
    N = y.shape[0]
    L = cholesky_lower(K_y, name="K(X, X) + noise * I", remedy=NOT_PD_REMEDY)
    alpha = cholesky_solve(L, y)  # (N,)
    half_log_det = float(np.sum(np.log(np.diagonal(L))))
    lml = -0.5 * float(y @ alpha) - half_log_det - 0.5 * N * math.log(2.0 * math.pi)
    return PosteriorFactor(L, alpha, lml)


def lml_weights(L: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """:math:`W = \\alpha\\alpha^\\top - K_y^{-1}` with :math:`K_y^{-1}` folded onto its lower
    triangle; built in ``L``'s memory (``L`` is destroyed)."""
    P, info = lapack.dpotri(L, lower=1, overwrite_c=1)  # lower triangle of K_y^{-1}
    if info != 0:  # pragma: no cover - L came from a successful potrf
        raise RuntimeError(f"dpotri failed with info={info}")
    d = np.diagonal(P).copy()  # (N,)
    P *= -2.0  # -(2 x strictly-lower); the upper triangle stays 0
    P[np.diag_indices_from(P)] += d  # diagonal counted once
    return blas.dger(1.0, alpha, alpha, a=P, overwrite_a=1)  # + alpha alpha^T


def log_marginal_likelihood(
    kernel: Kernel,
    X: np.ndarray,
    y: np.ndarray,
    noise: float,
    jitter: float = 0.0,
    eval_gradient: bool = False,
) -> float | tuple[float, np.ndarray]:
    """:math:`\\log p(y \\mid X)` for a kernel and noise variance, and optionally its gradient.

    Parameters
    ----------
    kernel : Kernel
    X : ndarray, shape (N, D)
    y : ndarray, shape (N,)
    noise : float
        :math:`\\sigma_\\epsilon^2 \\ge 0`. When positive, its log is the last entry of the
        gradient.
    jitter : float, default 0.0
        Added to the diagonal like ``noise`` but held fixed (the noise-free case).
    eval_gradient : bool, default False
        Also return the gradient with respect to ``kernel.theta`` (and ``log noise``).

    Returns
    -------
    float, or (float, ndarray of shape (n_theta,))
    """
    K = kernel(X)  # (N, N)
    K_y = K.copy() if eval_gradient else K  # the gradient reuses K; the factor overwrites K_y
    K_y[np.diag_indices_from(K_y)] += noise + jitter
    L, alpha, lml = posterior_factor(K_y, y)
    if not eval_gradient:
        return lml
    W = lml_weights(L, alpha)  # (N, N)
    grad = 0.5 * kernel.gradient_dot(X, W, K)  # Eq. 5.9 for the kernel's theta
    if noise > 0:
        grad = np.append(grad, 0.5 * noise * np.trace(W))
    return lml, grad
