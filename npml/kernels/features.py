"""The kernel trick made explicit: the feature map of the polynomial kernel.

By the multinomial theorem, with :math:`x_0 = y_0 = \\sqrt{c}`,

.. math::

    (x^\\top y + c)^p = \\Big(\\sum_{i=0}^{D} x_i y_i\\Big)^p
    = \\sum_{|k| = p} \\binom{p}{k_0, k_1, \\dots, k_D}\\, c^{k_0}
      \\prod_{i=1}^{D} (x_i y_i)^{k_i}
    = \\phi(x)^\\top \\phi(y),

    \\phi_k(x) = \\sqrt{\\binom{p}{k_0, \\dots, k_D} c^{k_0}}\\; \\prod_{i=1}^{D} x_i^{k_i},

one feature per monomial of degree :math:`k_1 + \\dots + k_D \\le p`:
:math:`\\binom{D + p}{p}` of them. The kernel evaluates the same inner product in
:math:`O(D)` operations; a linear model on :math:`\\phi(x)` and a kernel method with
:class:`~npml.kernels.dot_product.Polynomial` are the same model (Schölkopf & Smola,
*Learning with Kernels*, 2002, sec. 2.1).
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from itertools import combinations_with_replacement

import numpy as np

from npml._checks import check_array, check_scalar


def polynomial_features(X: np.ndarray, degree: int = 2, c: float = 1.0) -> np.ndarray:
    """Explicit features with ``phi(x) @ phi(y) == (x @ y + c) ** degree``.

    Parameters
    ----------
    X : array_like, shape (N, D)
    degree : int, default 2
        :math:`p \\ge 1`.
    c : float, default 1.0
        :math:`c \\ge 0`; with ``c = 0`` only the degree-``p`` monomials remain (the others
        have weight 0 and are left out).

    Returns
    -------
    ndarray, shape (N, F)
        ``F = C(D + p, p)`` for ``c > 0``, ``C(D + p - 1, p)`` for ``c = 0``; columns ordered
        by total degree, then lexicographically by the features involved.
    """
    X = check_array(X, "X", ndim=2, dtype=np.float64)
    p = int(check_scalar(degree, "degree", kind=numbers.Integral, low=1))
    c = float(check_scalar(c, "c", low=0.0))
    N, D = X.shape
    columns = []
    for j in range(0 if c > 0 else p, p + 1):  # j = k_1 + ... + k_D, the monomial's degree
        for idx in combinations_with_replacement(range(D), j):
            k = Counter(idx)  # k_i for the features that occur
            multinomial = math.factorial(p) // math.factorial(p - j)
            for k_i in k.values():
                multinomial //= math.factorial(k_i)
            weight = math.sqrt(multinomial * c ** (p - j))
            monomial = np.ones(N)
            for i in idx:
                monomial = monomial * X[:, i]
            columns.append(weight * monomial)
    return np.stack(columns, axis=1)  # (N, F)
