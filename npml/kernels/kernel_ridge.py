"""Kernel ridge regression: ridge regression in a kernel's feature space.

Ridge regression on features :math:`\\Phi` (rows :math:`\\phi(x_i)`) solves
:math:`w = (\\Phi^\\top \\Phi + \\alpha I)^{-1} \\Phi^\\top y`. The push-through identity
:math:`(\\Phi^\\top \\Phi + \\alpha I)^{-1} \\Phi^\\top
= \\Phi^\\top (\\Phi \\Phi^\\top + \\alpha I)^{-1}` rewrites the prediction with inner
products only,

.. math::

    f(x_*) = \\phi(x_*)^\\top w = k(x_*, X)\\, \\beta, \\qquad
    \\beta = (K + \\alpha I)^{-1} y, \\quad K_{ij} = k(x_i, x_j) = \\phi(x_i)^\\top \\phi(x_j),

so the features may be infinite-dimensional (the kernel trick; Saunders, Gammerman &
Vovk, *Ridge regression learning algorithm in dual variables*, ICML 1998). The
prediction equals a GP posterior mean with noise variance :math:`\\alpha`; the cost is
an :math:`N \\times N` Cholesky factorisation instead of a :math:`F \\times F` one.
"""

from __future__ import annotations

import numpy as np

from npml._checks import (
    check_is_fitted,
    check_same_length,
    check_scalar,
)
from npml._estimator import Regressor, check_X, check_y
from npml.kernels.base import Kernel
from npml.kernels.linalg import cholesky_lower, cholesky_solve


class KernelRidge(Regressor):
    """Kernel ridge regression (scikit-learn's ``KernelRidge`` with a kernel object).

    Parameters
    ----------
    kernel : Kernel
        Covariance / feature-space inner product; never modified (``fit`` works on a copy,
        ``kernel_``).
    alpha : float, default 1.0
        Ridge penalty :math:`\\alpha \\ge 0` added to the diagonal of :math:`K`.

    Attributes
    ----------
    kernel_ : Kernel
    X_fit_ : ndarray, shape (N, D)
    dual_coef_ : ndarray, shape (N,) or (N, K)
        :math:`\\beta = (K + \\alpha I)^{-1} y`.
    n_features_in_ : int
    """

    def __init__(self, kernel: Kernel, alpha: float = 1.0) -> None:
        self.kernel = kernel
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray) -> KernelRidge:
        """Solve :math:`(K + \\alpha I) \\beta = y` by Cholesky; ``y``: (N,) or (N, K)."""
        if not isinstance(self.kernel, Kernel):
            raise TypeError(f"kernel={self.kernel!r} is not an npml.kernels.Kernel")
        alpha = float(check_scalar(self.alpha, "alpha", low=0.0))
        X = check_X(X, self, fitting=True)
        y = check_y(y, self, multi_output=True)
        check_same_length(X, "X", y, "y")
        kernel = self.kernel.clone()
        K = kernel(X)  # (N, N)
        K[np.diag_indices_from(K)] += alpha
        L = cholesky_lower(
            K,
            name="K(X, X) + alpha * I",
            remedy=f"increase alpha (now {alpha:g}) so that the ridge makes it definite",
        )
        self.kernel_ = kernel
        self.X_fit_ = X.copy()
        self.dual_coef_ = cholesky_solve(L, y)
        self.n_features_in_ = X.shape[1]
        return self

    def _update_tags(self, tags) -> None:
        tags.target_tags.multi_output = True  # y of shape (N, K): K ridge problems, one K

    def predict(self, X: np.ndarray) -> np.ndarray:
        """:math:`f(x_*) = k(x_*, X)\\, \\beta`, shape (M,) or (M, K)."""
        check_is_fitted(self, "dual_coef_")
        X = check_X(X, self, fitting=False)
        return self.kernel_(X, self.X_fit_) @ self.dual_coef_
