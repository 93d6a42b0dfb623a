r"""Sums and products of kernels: closure rules of positive semi-definite functions.

If :math:`k_1` and :math:`k_2` are kernels, so are

.. math::

    (k_1 + k_2)(x, y) = k_1(x, y) + k_2(x, y), \qquad
    (k_1 k_2)(x, y) = k_1(x, y)\, k_2(x, y)

(a sum of PSD Gram matrices is PSD; an element-wise product is PSD by the Schur product
theorem). ``k1 + k2`` and ``k1 * k2`` build them, and a number on either side becomes a
:class:`~npml.kernels.Constant`. Their hyperparameters are the children's, concatenated,
and their gradients follow from the sum and product rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml.kernels.base import Kernel


class _Pair(Kernel):
    """Shared part of :class:`Sum` and :class:`Product`: two children, theta concatenated."""

    _symbol = "?"

    def __init__(self, k1: Kernel, k2: Kernel) -> None:
        for name, k in (("k1", k1), ("k2", k2)):
            if not isinstance(k, Kernel):
                raise TypeError(f"{name}={k!r} is not a Kernel")
        self.k1 = k1
        self.k2 = k2
        self._bounded = k1._bounded and k2._bounded

    def _theta_parts(self) -> list[tuple[str, np.ndarray]]:
        return [(f"k1__{n}", v) for n, v in self.k1._theta_parts()] + [
            (f"k2__{n}", v) for n, v in self.k2._theta_parts()
        ]

    def with_theta(self, theta: np.ndarray) -> Kernel:
        theta = self._check_theta(theta)
        n1 = self.k1.n_theta
        return type(self)(self.k1.with_theta(theta[:n1]), self.k2.with_theta(theta[n1:]))

    def clone(self) -> Kernel:
        return type(self)(self.k1.clone(), self.k2.clone())

    def __repr__(self) -> str:
        return f"({self.k1!r} {self._symbol} {self.k2!r})"


class Sum(_Pair):
    """:math:`k(x, y) = k_1(x, y) + k_2(x, y)`; ``theta`` is ``k1``'s then ``k2``'s."""

    _symbol = "+"

    def _gram(self, X, Y):
        return self.k1._gram(X, Y) + self.k2._gram(X, Y)

    def _diag(self, X):
        return self.k1._diag(X) + self.k2._diag(X)

    def _gradient(self, X):
        return np.concatenate([self.k1._gradient(X), self.k2._gradient(X)], axis=2)

    def _gradient_dot(self, X, W, K=None):
        return np.concatenate([self.k1._gradient_dot(X, W), self.k2._gradient_dot(X, W)])


class Product(_Pair):
    """:math:`k(x, y) = k_1(x, y)\\, k_2(x, y)`; by the product rule
    :math:`\\partial K / \\partial \\theta_1 = (\\partial K_1 / \\partial \\theta_1) \\circ K_2`."""

    _symbol = "*"

    def _gram(self, X, Y):
        return self.k1._gram(X, Y) * self.k2._gram(X, Y)

    def _diag(self, X):
        return self.k1._diag(X) * self.k2._diag(X)

    def _gradient(self, X):
        K1, K2 = self.k1._gram(X, None), self.k2._gram(X, None)
        return np.concatenate(
            [self.k1._gradient(X) * K2[..., None], K1[..., None] * self.k2._gradient(X)], axis=2
        )

    def _gradient_dot(self, X, W, K=None):
        # sum_ij W_ij (dK1_ij K2_ij) = sum_ij (W o K2)_ij dK1_ij, and likewise for k2.
        K1, K2 = self.k1._gram(X, None), self.k2._gram(X, None)
        return np.concatenate([self.k1._gradient_dot(X, W * K2), self.k2._gradient_dot(X, W * K1)])


def as_kernel(other: Any, op: str) -> Kernel:
    if isinstance(other, Kernel):
        return other
    if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
        from npml.kernels.constant import Constant

        return Constant(float(other))
    raise TypeError(
        f"cannot combine a Kernel with {other!r} by {op}; expected a Kernel or a number"
    )
