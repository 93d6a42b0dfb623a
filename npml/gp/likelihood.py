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

from npml._checks import check_array, check_bool, check_same_length, check_scalar
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
    X : array_like, shape (N, D)
    y : array_like, shape (N,)
    noise : float
        :math:`\\sigma_\\epsilon^2 \\ge 0`. When positive, its log is the last entry of the
        gradient.
    jitter : float, default 0.0
        Added to the diagonal like ``noise`` but held fixed (the noise-free case); ``>= 0``.
    eval_gradient : bool, default False
        Also return the gradient with respect to ``kernel.theta`` (and ``log noise``).

    Returns
    -------
    float, or (float, ndarray of shape (n_theta,))

    Raises
    ------
    NotPositiveDefiniteError
        If :math:`K_y` cannot be factorised (increase ``noise``).
    ValueError
        For invalid arguments, and when the likelihood or its gradient overflows float64
        (targets ``y`` far too large for the kernel's variance: rescale them).
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel={kernel!r} is not an npml.kernels.Kernel")
    X = check_array(X, "X", ndim=2, dtype=np.float64, min_size=1)
    y = check_array(y, "y", ndim=1, dtype=np.float64)
    check_same_length(X, "X", y, "y")
    noise = float(check_scalar(noise, "noise", low=0.0))
    jitter = float(check_scalar(jitter, "jitter", low=0.0))
    eval_gradient = check_bool(eval_gradient, "eval_gradient")
    lml, grad = _log_marginal_likelihood(kernel, X, y, noise, jitter, eval_gradient)
    check_likelihood_finite(lml, grad, y)
    return (lml, grad) if eval_gradient else lml


def check_likelihood_finite(lml: float, grad: np.ndarray | None, y: np.ndarray) -> None:
    """Raise a ``ValueError`` naming ``y`` if the likelihood (or gradient) overflowed."""
    if np.isfinite(lml) and (grad is None or np.isfinite(grad).all()):
        return
    what = "log marginal likelihood" if not np.isfinite(lml) else "its gradient"
    raise ValueError(
        f"the {what} is not finite in float64: y (max |y| = {np.max(np.abs(y)):.3g}) is too "
        "large for the kernel's prior variance; rescale y (GaussianProcessRegressor's "
        "normalize_y=True does) or raise the kernel's variance"
    )


def _log_marginal_likelihood(
    kernel: Kernel,
    X: np.ndarray,
    y: np.ndarray,
    noise: float,
    jitter: float,
    eval_gradient: bool,
) -> tuple[float, np.ndarray | None]:
    """:func:`log_marginal_likelihood` on validated input; the result may be non-finite
    (the caller decides whether that is an error or a corner for an optimiser to avoid)."""
    K = kernel(X)  # (N, N)
    K_y = K.copy() if eval_gradient else K  # the gradient reuses K; the factor overwrites K_y
    K_y[np.diag_indices_from(K_y)] += noise + jitter
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by the caller
        L, alpha, lml = posterior_factor(K_y, y)
        if not eval_gradient:
            return lml, None
        W = lml_weights(L, alpha)  # (N, N)
        if not np.isfinite(W).all():  # alpha alpha^T overflowed
            return lml, np.full(kernel.n_theta + (noise > 0), np.nan)
        grad = 0.5 * kernel._gradient_dot(X, W, K)  # Eq. 5.9 for the kernel's theta
        if noise > 0:
            grad = np.append(grad, 0.5 * noise * np.trace(W))
    return lml, grad
