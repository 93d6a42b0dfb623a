"""The two kernels that ignore where the points are: a constant and white noise.

.. math::

    k_{\\mathrm{const}}(x, y) = c, \\qquad
    k_{\\mathrm{white}}(x, y) = \\sigma^2\\, [x \\text{ and } y \\text{ are the same sample}]

``Constant(c) * k`` scales a kernel's prior variance (scikit-learn's ``ConstantKernel``);
``k + White(s)`` models observation noise as part of the kernel (scikit-learn's
``WhiteKernel``), the alternative to the GP's ``noise`` argument. As in scikit-learn, the
white kernel is :math:`\\sigma^2 I` on ``K(X)`` and zero between two *different* sets
``K(X, Y)``, even where rows coincide: noise belongs to each observation, not to a place.
(Rasmussen & Williams, 2006, sec. 4.2.)
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_scalar
from npml.kernels.base import Kernel


class Constant(Kernel):
    """:math:`k(x, y) = c`.

    Parameters
    ----------
    value : float, default 1.0
        :math:`c \\ge 0` (0 holds it fixed: it has no logarithm).
    """

    _hyperparameters = ("value",)
    _bounded = True

    def __init__(self, value: float = 1.0) -> None:
        self.value = float(check_scalar(value, "value", low=0.0))

    def _gram(self, X, Y):
        M = X.shape[0] if Y is None else Y.shape[0]
        return np.full((X.shape[0], M), self.value)

    def _diag(self, X):
        return np.full(X.shape[0], self.value)

    def _gradient(self, X):
        N = X.shape[0]
        # dK/dlog c = c: one slice, or none when c = 0 is fixed.
        return np.full((N, N, self.n_theta), self.value)

    def _gradient_dot(self, X, W, K=None):
        return np.full(self.n_theta, self.value * W.sum())


class White(Kernel):
    """:math:`K(X) = \\sigma^2 I`, :math:`K(X, Y) = 0`.

    Parameters
    ----------
    noise : float, default 1.0
        The noise variance :math:`\\sigma^2 \\ge 0` (0 holds it fixed).
    """

    _hyperparameters = ("noise",)
    _bounded = True

    def __init__(self, noise: float = 1.0) -> None:
        self.noise = float(check_scalar(noise, "noise", low=0.0))

    def _gram(self, X, Y):
        if Y is None:
            return self.noise * np.eye(X.shape[0])
        return np.zeros((X.shape[0], Y.shape[0]))

    def _diag(self, X):
        return np.full(X.shape[0], self.noise)

    def _gradient(self, X):
        N = X.shape[0]
        return np.repeat(self.noise * np.eye(N)[..., None], self.n_theta, axis=2)

    def _gradient_dot(self, X, W, K=None):
        return np.full(self.n_theta, self.noise * np.trace(W))
