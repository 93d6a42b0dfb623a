"""Kernels, the kernel trick and kernel ridge regression.

A kernel is a similarity :math:`k(x, y) = \\phi(x)^\\top \\phi(y)` between two inputs whose
Gram matrices are positive semi-definite; it lets linear methods work in the (possibly
infinite-dimensional) feature space of :math:`\\phi` without ever computing :math:`\\phi`.
Kernels compose with ``+`` and ``*``, expose their hyperparameters in log space
(``theta``) and the Gram matrix's gradient with respect to them, which is what the
Gaussian processes of :mod:`npml.gp` optimise.

>>> from npml.kernels import RBF, White
>>> k = RBF(length_scale=0.5, variance=2.0) + White(0.1)
>>> k.theta.shape
(3,)
"""

from npml.kernels.base import HYPERPARAMETER_BOUNDS, Kernel
from npml.kernels.composite import Product, Sum
from npml.kernels.constant import Constant, White
from npml.kernels.distances import sq_dist
from npml.kernels.dot_product import DotProduct, Linear, Polynomial
from npml.kernels.features import polynomial_features
from npml.kernels.kernel_ridge import KernelRidge
from npml.kernels.linalg import NotPositiveDefiniteError, cholesky_lower, cholesky_solve
from npml.kernels.periodic import Periodic
from npml.kernels.stationary import RBF, Matern, RationalQuadratic

__all__ = [
    "HYPERPARAMETER_BOUNDS",
    "RBF",
    "Constant",
    "DotProduct",
    "Kernel",
    "KernelRidge",
    "Linear",
    "Matern",
    "NotPositiveDefiniteError",
    "Periodic",
    "Polynomial",
    "Product",
    "RationalQuadratic",
    "Sum",
    "White",
    "cholesky_lower",
    "cholesky_solve",
    "polynomial_features",
    "sq_dist",
]
