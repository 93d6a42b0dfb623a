"""Stationary kernels: functions of the scaled squared distance between two points.

Each kernel here is :math:`k(x, y) = \\sigma^2 g(q)` with

.. math::

    q = \\sum_{d} \\frac{(x_d - y_d)^2}{\\ell_d^2}, \\qquad r = \\sqrt{q},

one length scale :math:`\\ell` for all features or one per feature (automatic relevance
determination), and the profiles (Rasmussen & Williams, 2006, sec. 4.2):

.. math::

    g_{\\mathrm{RBF}} = e^{-q/2}, \\quad
    g_{1/2} = e^{-r}, \\quad
    g_{3/2} = (1 + \\sqrt3\\, r)\\, e^{-\\sqrt3 r}, \\quad
    g_{5/2} = (1 + \\sqrt5\\, r + \\tfrac53 r^2)\\, e^{-\\sqrt5 r}, \\quad
    g_{\\mathrm{RQ}} = \\Big(1 + \\frac{q}{2\\alpha}\\Big)^{-\\alpha}.

Gradients in log space share one form: with :math:`G = -2\\sigma^2 g'(q)`,

.. math::

    \\frac{\\partial K_{ij}}{\\partial \\log \\ell_d} = G_{ij}\\,
        \\frac{(x_{id} - x_{jd})^2}{\\ell_d^2}, \\qquad
    \\frac{\\partial K}{\\partial \\log \\sigma^2} = K,

so the contraction :math:`\\sum_{ij} W_{ij} \\partial K_{ij} / \\partial \\log \\ell_d` is
:func:`~npml.kernels.distances.weighted_sq_diff_sums` of :math:`W \\circ G`: one pass over
an :math:`N \\times N` matrix instead of an :math:`N \\times N \\times D` tensor.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from npml._checks import check_array, check_choice, check_scalar
from npml.kernels.base import Kernel
from npml.kernels.distances import _sq_dist, weighted_sq_diff_sums
from npml.kernels.rbf_gram import rbf_gram


class _Stationary(Kernel):
    """Shared machinery; subclasses define ``_profile(q, need_G) -> (K, G or None)``,
    which may overwrite ``q`` and may return ``G`` as the same array as ``K``."""

    def _init_scale(self, length_scale: float | np.ndarray, variance: float) -> None:
        if np.ndim(length_scale) == 0:
            self.length_scale = float(
                check_scalar(length_scale, "length_scale", low=0.0, low_inclusive=False)
            )
        else:
            ls = check_array(
                length_scale, "length_scale", ndim=1, dtype=np.float64, min_size=1, copy=True
            )
            if np.any(ls <= 0):
                raise ValueError(f"length_scale={ls.tolist()} has entries <= 0; expected > 0")
            self.length_scale = ls
        self.variance = float(check_scalar(variance, "variance", low=0.0, low_inclusive=False))

    @property
    def _ard(self) -> bool:
        return np.ndim(self.length_scale) == 1

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if self._ard and self.length_scale.size != X.shape[1]:
            raise ValueError(
                f"length_scale has {self.length_scale.size} entries but X has {X.shape[1]} "
                "features; expected one length scale per feature"
            )
        return X / self.length_scale  # (N, D)

    @abstractmethod
    def _profile(self, q: np.ndarray, need_G: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The kernel as a function of the scaled squared distance q (and its derivative)."""

    # Extra hyperparameters between the length scale and the variance (RQ's alpha).
    def _extra_gradient(self, q: np.ndarray, K: np.ndarray) -> list[np.ndarray]:
        return []

    def _gram(self, X, Y):
        Xs = self._scaled(X)
        q = _sq_dist(Xs, None if Y is None else self._scaled(Y))  # (N, M)
        return self._profile(q, need_G=False)[0]

    def _diag(self, X):
        return np.full(X.shape[0], self.variance)

    def _gradient(self, X):
        Xs = self._scaled(X)
        q = _sq_dist(Xs)  # (N, N)
        K, G = self._profile(q.copy(), need_G=True)
        if self._ard:
            diff = Xs[:, None, :] - Xs[None, :, :]  # (N, N, D)
            d_scale = G[..., None] * diff**2  # (N, N, D)
        else:
            d_scale = (G * q)[..., None]  # (N, N, 1)
        extra = [e[..., None] for e in self._extra_gradient(q, K)]
        return np.concatenate([d_scale, *extra, K[..., None]], axis=2)

    def _gradient_dot(self, X, W, K=None):
        # A given K is not enough here: G and q are needed too, so all three are recomputed.
        Xs = self._scaled(X)
        q = _sq_dist(Xs)  # (N, N)
        K, G = self._profile(q.copy(), need_G=True)
        A = W * G  # (N, N); not in place, G may be K itself
        if self._ard:
            d_scale = weighted_sq_diff_sums(A, Xs)  # (D,)
        else:
            d_scale = np.array([np.vdot(A, q)])
        extra = [np.vdot(W, e) for e in self._extra_gradient(q, K)]
        return np.concatenate([d_scale, extra, [np.vdot(W, K)]])


class RBF(_Stationary):
    """Squared-exponential kernel :math:`\\sigma^2 \\exp(-q/2)` (infinitely smooth samples).

    Parameters
    ----------
    length_scale : float or array_like of shape (D,), default 1.0
        :math:`\\ell > 0`, one for all features or one per feature.
    variance : float, default 1.0
        Prior variance :math:`\\sigma^2 > 0` (scikit-learn: ``ConstantKernel(variance) *
        RBF(length_scale)``).
    """

    _hyperparameters = ("length_scale", "variance")
    _bounded = True  # exp(-q/2) lies in [0, 1] for every q >= 0, inf included

    def __init__(self, length_scale: float | np.ndarray = 1.0, variance: float = 1.0) -> None:
        self._init_scale(length_scale, variance)

    def _gram(self, X, Y):
        # One fused pass (npml.kernels.rbf_gram); _profile below serves the gradients.
        return rbf_gram(self._scaled(X), None if Y is None else self._scaled(Y), self.variance)

    def _gradient_dot(self, X, W, K=None):
        # G = K for the RBF: both contractions come from A = W o K.
        Xs = self._scaled(X)
        A = W * (rbf_gram(Xs, None, self.variance) if K is None else K)  # (N, N)
        s = weighted_sq_diff_sums(A, Xs)  # (D,)
        return np.concatenate([s if self._ard else [s.sum()], [A.sum()]])

    def _profile(self, q, need_G):
        K = np.multiply(q, -0.5, out=q)
        np.exp(K, out=K)
        if self.variance != 1.0:
            K *= self.variance
        return K, (K if need_G else None)  # G = K for the RBF (the same array)


class Matern(_Stationary):
    """Matérn kernel with smoothness :math:`\\nu \\in \\{1/2, 3/2, 5/2\\}`: samples are
    :math:`\\lceil \\nu \\rceil - 1` times differentiable (:math:`\\nu = 1/2` is the
    Ornstein-Uhlenbeck / exponential kernel; :math:`\\nu \\to \\infty` gives the RBF).

    Parameters
    ----------
    length_scale : float or array_like of shape (D,), default 1.0
    nu : {0.5, 1.5, 2.5}, default 1.5
        Fixed, not a hyperparameter.
    variance : float, default 1.0
    """

    _hyperparameters = ("length_scale", "variance")

    def __init__(
        self, length_scale: float | np.ndarray = 1.0, nu: float = 1.5, variance: float = 1.0
    ) -> None:
        self.nu = float(check_choice(nu, "nu", (0.5, 1.5, 2.5)))
        self._init_scale(length_scale, variance)

    def _profile(self, q, need_G):
        r = np.sqrt(q, out=q)  # (N, M)
        if self.nu == 0.5:
            E = np.exp(-r)
            K = self.variance * E
            if need_G:  # G = sigma^2 e^{-r} / r; its factor (x - y)^2 vanishes at r = 0
                G = np.divide(K, r, out=np.zeros_like(K), where=r > 0)
        elif self.nu == 1.5:
            E = np.exp(-np.sqrt(3.0) * r)
            K = self.variance * (1.0 + np.sqrt(3.0) * r) * E
            if need_G:
                G = 3.0 * self.variance * E
        else:
            E = np.exp(-np.sqrt(5.0) * r)
            K = self.variance * (1.0 + np.sqrt(5.0) * r + (5.0 / 3.0) * r * r) * E
            if need_G:
                G = (5.0 / 3.0) * self.variance * (1.0 + np.sqrt(5.0) * r) * E
        return K, (G if need_G else None)


class RationalQuadratic(_Stationary):
    """Rational quadratic kernel :math:`\\sigma^2 (1 + q / 2\\alpha)^{-\\alpha}`: a scale
    mixture of RBF kernels with different length scales (:math:`\\alpha \\to \\infty` gives
    the RBF).

    Parameters
    ----------
    length_scale : float or array_like of shape (D,), default 1.0
    alpha : float, default 1.0
        Mixture shape :math:`\\alpha > 0`; a hyperparameter with
        :math:`\\partial K / \\partial \\log \\alpha = K\\,(-\\alpha \\log b + q / 2b)`,
        :math:`b = 1 + q / 2\\alpha`.
    variance : float, default 1.0
    """

    _hyperparameters = ("length_scale", "alpha", "variance")
    _bounded = True  # (1 + q / 2 alpha)^-alpha lies in [0, 1] for every q >= 0

    def __init__(
        self, length_scale: float | np.ndarray = 1.0, alpha: float = 1.0, variance: float = 1.0
    ) -> None:
        self.alpha = float(check_scalar(alpha, "alpha", low=0.0, low_inclusive=False))
        self._init_scale(length_scale, variance)

    def _profile(self, q, need_G):
        b = 1.0 + q / (2.0 * self.alpha)  # (N, M)
        K = self.variance * b ** (-self.alpha)
        return K, (K / b if need_G else None)

    def _extra_gradient(self, q, K):
        b = 1.0 + q / (2.0 * self.alpha)
        return [K * (-self.alpha * np.log(b) + q / (2.0 * b))]
