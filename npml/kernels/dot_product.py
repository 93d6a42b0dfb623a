"""Dot-product kernels: inner products of (explicit or implicit) feature vectors.

.. math::

    k_{\\mathrm{lin}}(x, y) = \\sigma^2\\, x^\\top y, \\qquad
    k_{\\mathrm{dot}}(x, y) = \\sigma_0^2 + x^\\top y, \\qquad
    k_{\\mathrm{poly}}(x, y) = (x^\\top y + c)^{p}

A GP with the linear kernel is Bayesian linear regression with prior
:math:`w \\sim \\mathcal{N}(0, \\sigma^2 I)`: the parametric model hidden in a
non-parametric one. The polynomial kernel is the inner product of the explicit features
:func:`~npml.kernels.features.polynomial_features` (every monomial of degree up to
:math:`p`, suitably weighted), computed in :math:`O(D)` instead of
:math:`O(\\binom{D + p}{p})`: the kernel trick (Schölkopf & Smola, *Learning with
Kernels*, 2002, sec. 2.1). None of them is stationary.
"""

from __future__ import annotations

import numbers

import numpy as np

from npml._checks import check_scalar
from npml.kernels.base import Kernel


class Linear(Kernel):
    """:math:`k(x, y) = \\sigma^2 x^\\top y`.

    Parameters
    ----------
    variance : float, default 1.0
        Prior variance :math:`\\sigma^2 > 0` of each weight.
    """

    _hyperparameters = ("variance",)

    def __init__(self, variance: float = 1.0) -> None:
        self.variance = float(check_scalar(variance, "variance", low=0.0, low_inclusive=False))

    def _gram(self, X, Y):
        return self.variance * (X @ (X if Y is None else Y).T)

    def _diag(self, X):
        return self.variance * np.einsum("nd,nd->n", X, X)

    def _gradient(self, X):
        return self._gram(X, None)[..., None]  # dK/dlog variance = K


class DotProduct(Kernel):
    """:math:`k(x, y) = \\sigma_0^2 + x^\\top y` (scikit-learn's ``DotProduct``).

    Parameters
    ----------
    sigma_0 : float, default 1.0
        Offset :math:`\\sigma_0 \\ge 0` (0 holds it fixed); its hyperparameter is
        :math:`\\log \\sigma_0`, so :math:`\\partial K / \\partial \\log \\sigma_0 = 2\\sigma_0^2`.
    """

    _hyperparameters = ("sigma_0",)

    def __init__(self, sigma_0: float = 1.0) -> None:
        self.sigma_0 = float(check_scalar(sigma_0, "sigma_0", low=0.0))

    def _gram(self, X, Y):
        return X @ (X if Y is None else Y).T + self.sigma_0**2

    def _diag(self, X):
        return np.einsum("nd,nd->n", X, X) + self.sigma_0**2

    def _gradient(self, X):
        N = X.shape[0]
        return np.full((N, N, self.n_theta), 2.0 * self.sigma_0**2)


class Polynomial(Kernel):
    """:math:`k(x, y) = (x^\\top y + c)^p`.

    Parameters
    ----------
    degree : int, default 2
        :math:`p \\ge 1`, fixed (not a hyperparameter).
    c : float, default 1.0
        Offset :math:`c \\ge 0` weighting the lower-degree monomials (0 holds it fixed and
        leaves only degree-:math:`p` monomials);
        :math:`\\partial K / \\partial \\log c = p\\, c\\, (x^\\top y + c)^{p - 1}`.
    """

    _hyperparameters = ("c",)

    def __init__(self, degree: int = 2, c: float = 1.0) -> None:
        self.degree = int(check_scalar(degree, "degree", kind=numbers.Integral, low=1))
        self.c = float(check_scalar(c, "c", low=0.0))

    def _gram(self, X, Y):
        return (X @ (X if Y is None else Y).T + self.c) ** self.degree

    def _diag(self, X):
        return (np.einsum("nd,nd->n", X, X) + self.c) ** self.degree

    def _gradient(self, X):
        if self.n_theta == 0:
            return np.zeros((X.shape[0], X.shape[0], 0))
        base = X @ X.T + self.c  # (N, N)
        return (self.degree * self.c * base ** (self.degree - 1))[..., None]
