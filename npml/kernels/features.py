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

# Refuse more output features than this unless asked (``max_features``): C(D + p, p) grows
# so fast that a careless degree (D = 20, p = 30 gives 4.7e13) would otherwise hang.
MAX_FEATURES = 100_000


def polynomial_features(
    X: np.ndarray, degree: int = 2, c: float = 1.0, max_features: int = MAX_FEATURES
) -> np.ndarray:
    """Explicit features with ``phi(x) @ phi(y) == (x @ y + c) ** degree``.

    Parameters
    ----------
    X : array_like, shape (N, D)
    degree : int, default 2
        :math:`p \\ge 1`.
    c : float, default 1.0
        :math:`c \\ge 0`; with ``c = 0`` only the degree-``p`` monomials remain (the others
        have weight 0 and are left out).
    max_features : int, default MAX_FEATURES (100 000)
        Largest number of output columns ``F`` allowed; ``F`` is computed before any
        work, and a larger one raises ``ValueError`` (the kernel
        :class:`~npml.kernels.dot_product.Polynomial` computes the same inner products in
        :math:`O(D)`).

    Returns
    -------
    ndarray, shape (N, F)
        ``F = C(D + p, p)`` for ``c > 0``, ``C(D + p - 1, p)`` for ``c = 0``; columns ordered
        by total degree, then lexicographically by the features involved.
    """
    X = check_array(X, "X", ndim=2, dtype=np.float64)
    p = int(check_scalar(degree, "degree", kind=numbers.Integral, low=1))
    c = float(check_scalar(c, "c", low=0.0))
    max_features = int(check_scalar(max_features, "max_features", kind=numbers.Integral, low=1))
    N, D = X.shape
    F = math.comb(D + p, p) if c > 0 else math.comb(D + p - 1, p)
    if F > max_features:
        raise ValueError(
            f"degree={p} on X with D={D} features gives F={F:.4g} output features, above "
            f"max_features={max_features}; lower degree, or use the Polynomial kernel, which "
            "computes the same inner products without the features"
        )
    p_factorial = math.factorial(p)
    columns = []
    for j in range(0 if c > 0 else p, p + 1):  # j = k_1 + ... + k_D, the monomial's degree
        for idx in combinations_with_replacement(range(D), j):
            k = Counter(idx)  # k_i for the features that occur
            multinomial = p_factorial // math.factorial(p - j)
            for k_i in k.values():
                multinomial //= math.factorial(k_i)
            try:
                weight = math.sqrt(multinomial * c ** (p - j))
            except OverflowError:
                raise ValueError(
                    f"degree={p} with c={c:g}: the feature weights overflow float64; lower "
                    "degree or c"
                ) from None
            monomial = np.ones(N)
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
                for i in idx:
                    monomial = monomial * X[:, i]
                columns.append(weight * monomial)
    Phi = np.stack(columns, axis=1) if columns else np.ones((N, 0))  # (N, F)
    if not np.isfinite(Phi).all():
        raise ValueError(
            f"the degree-{p} monomials of X (max |X| = {np.max(np.abs(X)):.3g}) overflow "
            "float64; rescale X or lower degree"
        )
    return Phi
