"""Kernels as objects: a Gram matrix, its diagonal, hyperparameters in log space.

A kernel :math:`k(x, y)` is a function whose Gram matrix :math:`K_{ij} = k(x_i, x_j)` is
symmetric positive semi-definite for every set of points, so it can serve as the
covariance of a Gaussian process (Rasmussen & Williams, *Gaussian Processes for Machine
Learning*, 2006, ch. 4). Sums and elementwise (Schur) products of PSD matrices are PSD,
so kernels compose:

.. math::

    (k_1 + k_2)(x, y) = k_1(x, y) + k_2(x, y), \\qquad
    (k_1 k_2)(x, y) = k_1(x, y)\\, k_2(x, y),

which is what ``k1 + k2`` and ``k1 * k2`` build (a number becomes a :class:`Constant`).

Hyperparameters :math:`h > 0` are exposed in log space, :math:`\\theta = \\log h`, so an
optimiser may move :math:`\\theta` freely and :math:`h = e^\\theta` stays positive; the
gradients are :math:`\\partial K / \\partial \\theta = h\\, \\partial K / \\partial h`. For the
GP marginal likelihood only the contractions
:math:`\\sum_{ij} W_{ij}\\, \\partial K_{ij} / \\partial \\theta_k` are needed
(:meth:`Kernel.gradient_dot`), which many kernels compute without forming the
:math:`N \\times N \\times P` gradient tensor.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from npml._checks import check_array, check_last_dim
from npml._estimator import constructor_params, deep_params, split_nested

# Bounds of every hyperparameter (and of the GP noise) when they are optimised, as values
# (not logs); scikit-learn's defaults, so optimised fits are comparable.
HYPERPARAMETER_BOUNDS = (1e-5, 1e5)
# exp(theta) is a finite, non-zero float64 for |theta| up to log(float64 max) ~ 709.78.
_LOG_MAX = float(np.log(np.finfo(np.float64).max))


class Kernel(ABC):
    """Base class: subclasses implement ``_gram``, ``_diag`` and ``_gradient``.

    ``_hyperparameters`` names the constructor arguments that are hyperparameters, in
    ``theta`` order. A hyperparameter whose value is 0 (allowed for offsets such as
    ``Polynomial.c``) has no logarithm and is held fixed: it is left out of ``theta``.
    """

    _hyperparameters: tuple[str, ...] = ()
    # Whether the Gram matrix of finite input is always finite (bounded profiles such as the
    # RBF's); the others' Gram matrices are checked in __call__, so an overflow raises.
    _bounded: bool = False

    # -- to implement -----------------------------------------------------------------------
    @abstractmethod
    def _gram(self, X: np.ndarray, Y: np.ndarray | None) -> np.ndarray:
        """The Gram matrix ``k(X, Y)`` (``Y=None`` means ``X``), shape (N, M)."""

    @abstractmethod
    def _diag(self, X: np.ndarray) -> np.ndarray:
        """``k(x_i, x_i)`` for each row, shape (N,)."""

    def _gradient(self, X: np.ndarray) -> np.ndarray:
        """dK/dtheta, shape (N, N, P); every npml kernel overrides it."""
        raise TypeError(
            f"{type(self).__name__} does not provide the gradient of its Gram matrix; "
            "implement _gradient to fit its hyperparameters"
        )

    def _gradient_dot(self, X: np.ndarray, W: np.ndarray, K: np.ndarray | None = None):
        # Generic contraction through the full tensor; kernels override it when cheaper.
        return np.einsum("ij,ijk->k", W, self._gradient(X))

    # -- public API ---------------------------------------------------------------------------
    def __call__(self, X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
        """Gram matrix ``K[i, j] = k(X[i], Y[j])``, shape (N, M); ``Y=None`` means ``X``.

        Parameters
        ----------
        X : array_like, shape (N, D)
        Y : array_like, shape (M, D), optional
        """
        X = _check_X(X, "X")
        if Y is not None:
            Y = _check_X(Y, "Y")
            check_last_dim(Y, "Y", X.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            K = self._gram(X, Y)
        if not self._bounded and not np.isfinite(K).all():
            n_bad = int(K.size - np.count_nonzero(np.isfinite(K)))
            largest = max(float(np.max(np.abs(A), initial=0.0)) for A in (X, Y) if A is not None)
            raise ValueError(
                f"{self!r} gives {n_bad} non-finite Gram matrix entries: its values overflow "
                f"float64 for X (max |X| = {largest:.3g}) and these hyperparameters; rescale X"
            )
        return K

    def diag(self, X: np.ndarray) -> np.ndarray:
        """``k(X[i], X[i])`` for every row, shape (N,), without the full Gram matrix."""
        return self._diag(_check_X(X, "X"))

    def gradient(self, X: np.ndarray) -> np.ndarray:
        """``dK/dtheta``: shape (N, N, n_theta), ``[..., k]`` is the derivative of ``K(X)``
        with respect to ``theta[k]`` (a log-hyperparameter)."""
        return self._gradient(_check_X(X, "X"))

    def gradient_dot(self, X: np.ndarray, W: np.ndarray, K: np.ndarray | None = None) -> np.ndarray:
        """``sum_ij W[i, j] dK[i, j]/dtheta_k`` for every k, shape (n_theta,).

        This is the trace :math:`\\mathrm{tr}(W^\\top \\partial K / \\partial \\theta_k)` of
        the marginal likelihood's gradient; stationary kernels compute it without the
        gradient tensor.

        Parameters
        ----------
        X : array_like, shape (N, D)
        W : array_like, shape (N, N)
            Need not be symmetric.
        K : ndarray, shape (N, N), optional
            This kernel's ``K(X)`` if the caller already has it; kernels whose gradient is
            built from it (the RBF) then do not compute it again.
        """
        X = _check_X(X, "X")
        N = X.shape[0]
        W = check_array(W, "W", ndim=2, dtype=np.float64)
        if K is not None:
            K = check_array(K, "K", ndim=2, dtype=np.float64)
        for name, M in (("W", W), ("K", K)):
            if M is not None and M.shape != (N, N):
                raise ValueError(f"{name} has shape {M.shape}; expected ({N}, {N})")
        return self._gradient_dot(X, W, K)

    # -- hyperparameters ----------------------------------------------------------------------
    def _theta_parts(self) -> list[tuple[str, np.ndarray]]:
        """(name, log values) of the free hyperparameters, in theta order."""
        parts = []
        for name in self._hyperparameters:
            value = np.atleast_1d(np.asarray(getattr(self, name), dtype=np.float64))
            if np.all(value > 0):
                parts.append((name, np.log(value)))
        return parts

    @property
    def theta(self) -> np.ndarray:
        """Log of the free hyperparameters, shape (n_theta,) (a copy)."""
        parts = [values for _, values in self._theta_parts()]
        return np.concatenate(parts) if parts else np.zeros(0)

    @property
    def n_theta(self) -> int:
        return int(self.theta.size)

    @property
    def hyperparameter_names(self) -> list[str]:
        """One name per entry of ``theta`` (``length_scale[1]`` for a vector entry)."""
        names = []
        for name, values in self._theta_parts():
            names += [name] if values.size == 1 else [f"{name}[{i}]" for i in range(values.size)]
        return names

    @property
    def bounds(self) -> np.ndarray:
        """Log-space bounds for optimisation, shape (n_theta, 2)."""
        return np.tile(np.log(HYPERPARAMETER_BOUNDS), (self.n_theta, 1))

    def with_theta(self, theta: np.ndarray) -> Kernel:
        """A new kernel with the free hyperparameters set to ``exp(theta)``."""
        theta = self._check_theta(theta)
        params = copy.deepcopy(
            self.get_params(deep=False)
        )  # the new kernel shares no array with self
        start = 0
        for name, values in self._theta_parts():
            new = np.exp(theta[start : start + values.size])
            params[name] = float(new[0]) if np.ndim(params[name]) == 0 else new
            start += values.size
        return type(self)(**params)

    def _check_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = check_array(theta, "theta", ndim=1, dtype=np.float64)
        if theta.size != self.n_theta:
            raise ValueError(f"theta has {theta.size} entries; expected {self.n_theta}")
        too_big = np.flatnonzero(np.abs(theta) > _LOG_MAX)
        if too_big.size:
            k = int(too_big[0])
            raise ValueError(
                f"theta[{k}]={theta[k]:g} is out of range: exp(theta) is not a finite positive "
                f"float64; expected |theta| <= {_LOG_MAX:.1f}"
            )
        return theta

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as scikit-learn's ``get_params`` (not copies).

        With ``deep=True`` a composite kernel's children also contribute their own
        parameters, as ``k1__length_scale`` (so a GP's grid can name
        ``kernel__k1__length_scale``). :meth:`clone` makes the independent copy.
        """
        return deep_params(self, constructor_params(type(self)), deep)

    def set_params(self, **params: Any) -> Kernel:
        """Set constructor arguments in place (``k1__length_scale`` reaches a child); returns
        ``self``.

        The kernel is rebuilt through its constructor, so a new value is checked and
        converted as it would be there (``RBF().set_params(length_scale=-1)`` raises and
        leaves the kernel as it was). This is what a grid search over
        ``kernel__length_scale`` calls on its copy of a GP's kernel.
        """
        nested = split_nested(self, params, constructor_params(type(self)))
        children = {name: getattr(self, name).clone() for name in nested}
        for name, sub_params in nested.items():
            children[name].set_params(**sub_params)
        fresh = type(self)(**{**self.get_params(deep=False), **children, **params})
        self.__dict__.update(fresh.__dict__)
        return self

    def __sklearn_clone__(self) -> Kernel:
        """What ``sklearn.base.clone`` returns for a kernel (a GP's parameter): :meth:`clone`.

        The constructor converts its arguments (an array ``length_scale`` is copied, an int
        becomes a float), which scikit-learn's generic clone would take for a constructor
        that modifies its parameters.
        """
        return self.clone()

    def clone(self) -> Kernel:
        """An independent copy (fitted models work on one, never on the kernel passed in)."""
        return type(self)(**copy.deepcopy(self.get_params(deep=False)))

    # -- composition --------------------------------------------------------------------------
    # (Sum and Product live in composite.py, which imports this module: imported on use.)
    def __add__(self, other: Kernel | float) -> Kernel:
        from npml.kernels.composite import Sum, as_kernel

        return Sum(self, as_kernel(other, "+"))

    def __radd__(self, other: Kernel | float) -> Kernel:
        from npml.kernels.composite import Sum, as_kernel

        return Sum(as_kernel(other, "+"), self)

    def __mul__(self, other: Kernel | float) -> Kernel:
        from npml.kernels.composite import Product, as_kernel

        return Product(self, as_kernel(other, "*"))

    def __rmul__(self, other: Kernel | float) -> Kernel:
        from npml.kernels.composite import Product, as_kernel

        return Product(as_kernel(other, "*"), self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


def _check_X(X: Any, name: str) -> np.ndarray:
    return check_array(X, name, ndim=2, dtype=np.float64)


def _fmt(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=", ")
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)
