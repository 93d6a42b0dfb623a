"""Periodic (exp-sine-squared) kernel: functions that repeat with period :math:`p`.

.. math::

    k(x, y) = \\sigma^2 \\exp\\!\\Big(-\\frac{2}{\\ell^2} \\sum_{d} \\sin^2 a_d\\Big),
    \\qquad a_d = \\frac{\\pi (x_d - y_d)}{p}.

MacKay's construction (*Introduction to Gaussian processes*, 1998): an RBF kernel on the
warped input :math:`u(x) = (\\cos(2\\pi x / p), \\sin(2\\pi x / p))`, since
:math:`\\lVert u(x) - u(y) \\rVert^2 = 4 \\sum_d \\sin^2 a_d`; that is how the Gram matrix
is computed here, and why it is positive semi-definite for any number of features. (For
one feature this is scikit-learn's ``ExpSineSquared``; for several, scikit-learn puts the
Euclidean distance inside one sine, which is not PSD in general.) Log-space gradients:

.. math::

    \\frac{\\partial K}{\\partial \\log \\ell} = K \\frac{4}{\\ell^2} \\sum_d \\sin^2 a_d,
    \\qquad
    \\frac{\\partial K}{\\partial \\log p} = K \\frac{4}{\\ell^2} \\sum_d a_d \\sin a_d \\cos a_d,
    \\qquad
    \\frac{\\partial K}{\\partial \\log \\sigma^2} = K.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_scalar
from npml.kernels.base import Kernel
from npml.kernels.distances import _sq_dist


class Periodic(Kernel):
    """Exp-sine-squared kernel, scikit-learn's ``ConstantKernel(variance) *
    ExpSineSquared(length_scale, periodicity)`` on one feature.

    Parameters
    ----------
    length_scale : float, default 1.0
        :math:`\\ell > 0`, the smoothness within one period.
    period : float, default 1.0
        :math:`p > 0`.
    variance : float, default 1.0
        :math:`\\sigma^2 > 0`.
    """

    _hyperparameters = ("length_scale", "period", "variance")

    def __init__(self, length_scale: float = 1.0, period: float = 1.0, variance: float = 1.0):
        for name, value in (
            ("length_scale", length_scale),
            ("period", period),
            ("variance", variance),
        ):
            check_scalar(value, name, low=0.0, low_inclusive=False)
        self.length_scale = float(length_scale)
        self.period = float(period)
        self.variance = float(variance)

    def _warp(self, X):
        angle = (2.0 * np.pi / self.period) * X  # (N, D)
        return np.hstack([np.cos(angle), np.sin(angle)])  # u(X), (N, 2D)

    def _gram(self, X, Y):
        q = _sq_dist(self._warp(X), None if Y is None else self._warp(Y))  # 4 sum_d sin^2 a_d
        K = np.multiply(q, -0.5 / self.length_scale**2, out=q)
        np.exp(K, out=K)
        return K * self.variance if self.variance != 1.0 else K

    def _diag(self, X):
        return np.full(X.shape[0], self.variance)

    def _gradient(self, X):
        a = (np.pi / self.period) * (X[:, None, :] - X[None, :, :])  # (N, N, D)
        s, c = np.sin(a), np.cos(a)
        l2 = self.length_scale**2
        K = self._gram(X, None)  # (N, N)
        d_scale = K * (4.0 / l2) * np.sum(s * s, axis=2)
        d_period = K * (4.0 / l2) * np.sum(a * s * c, axis=2)
        return np.stack([d_scale, d_period, K], axis=2)
