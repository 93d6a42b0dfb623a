"""Fitting power laws to measured costs.

A cost that grows as :math:`c = a\\,n^{k}` is a straight line on log-log axes,

.. math::

    \\log c = \\log a + k \\log n,

so the exponent :math:`k` is the least-squares slope of :math:`\\log c` on :math:`\\log n`.
Its confidence interval uses the slope's standard error and Student's t with
:math:`m - 2` degrees of freedom (:math:`m` points). Fixed overheads flatten the small
sizes of a sweep, so reports fit only the upper part of each sweep and say which points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_scalar


class ExponentFit(NamedTuple):
    """Result of :func:`fit_exponent`: ``value ~ exp(intercept) * size**slope``."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    n_points: int

    def within(self, expected: float, tol: float = 0.2) -> bool:
        """True when the fitted slope is within ``tol`` of ``expected``."""
        return abs(self.slope - expected) <= tol


def fit_exponent(
    sizes: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
) -> ExponentFit:
    """Fit ``values = a * sizes**k`` by least squares on log-log axes.

    Parameters
    ----------
    sizes : array_like, shape (m,)
        Positive problem sizes (T, D, n, ...), at least two distinct.
    values : array_like, shape (m,)
        Positive measured costs (seconds, bytes, flops).
    confidence : float, default 0.95
        Level of the two-sided confidence interval on the slope.

    Returns
    -------
    ExponentFit
        ``slope`` (the exponent k), ``intercept`` (log a), ``ci_low``/``ci_high`` (the
        interval on k; infinite with only two points) and ``n_points``.
    """
    x = check_array(sizes, "sizes", ndim=1, dtype=np.float64, finite=False)
    y = check_array(values, "values", ndim=1, dtype=np.float64, finite=False)
    if x.shape != y.shape:
        raise ValueError(f"sizes {x.shape} and values {y.shape} must be 1-d of the same length")
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"need at least two distinct sizes; got {x.tolist()}")
    for name, arr in (("sizes", x), ("values", y)):
        if not (np.all(arr > 0) and np.all(np.isfinite(arr))):
            raise ValueError(
                f"{name} must be positive and finite to fit on log-log axes; got {arr.tolist()}"
            )
    check_scalar(confidence, "confidence", low=0.0, high=1.0, low_inclusive=False,
                 high_inclusive=False)  # fmt: skip
    lx, ly = np.log(x), np.log(y)
    m = lx.size
    lx_mean = lx.mean()
    sxx = np.sum((lx - lx_mean) ** 2)
    slope = float(np.sum((lx - lx_mean) * (ly - ly.mean())) / sxx)
    intercept = float(ly.mean() - slope * lx_mean)
    if m > 2:
        from scipy import stats  # imported here: scipy.stats costs seconds at start-up

        resid = ly - (intercept + slope * lx)
        se = float(np.sqrt(np.sum(resid**2) / (m - 2) / sxx))
        half = float(stats.t.ppf(0.5 + confidence / 2, m - 2)) * se
    else:
        half = float("inf")
    return ExponentFit(slope, intercept, slope - half, slope + half, m)


class CostModelFit(NamedTuple):
    """Result of :func:`fit_cost_model`: ``value ~ sum(coef[name] * term[name])``."""

    coef: dict[str, float]
    max_relative_error: float

    def share(self, name: str, terms: dict[str, float]) -> float:
        """Fraction of the predicted cost that term ``name`` accounts for at ``terms``."""
        parts = {k: self.coef[k] * terms[k] for k in self.coef}
        total = sum(parts.values())
        return parts[name] / total if total > 0 else float("nan")


def fit_cost_model(
    terms: dict[str, Sequence[float] | np.ndarray], values: Sequence[float] | np.ndarray
) -> CostModelFit:
    """Fit a cost as a non-negative sum of known terms, e.g. ``a T^2 D + b T^2``.

    A single power law cannot describe attention at small head sizes: its cost is
    :math:`a\\,T^2 D` (the two matrix products) plus :math:`b\\,T^2` (the softmax's
    exponentials, which do not grow with :math:`D`), so the log-log slope in :math:`D`
    approaches 1 only once :math:`a D \\gg b`. This fits the coefficients by non-negative
    least squares on *relative* residuals (each row divided by its value), so small and
    large sizes weigh alike.

    Parameters
    ----------
    terms : dict of str to array_like, each shape (m,)
        The terms' values at each measured point (``{"T^2 D": T**2 * D, "T^2": T**2}``).
    values : array_like, shape (m,)
        The measured costs.

    Returns
    -------
    CostModelFit
        ``coef`` per term and the largest relative error of the fitted model.
    """
    from scipy.optimize import nnls

    y = check_array(values, "values", ndim=1, dtype=np.float64, min_size=1)
    if not isinstance(terms, Mapping) or not terms:
        raise TypeError(f"terms={terms!r}; expected a non-empty dict of name to values")
    names = list(terms)
    columns = [check_array(terms[n], f"terms[{n!r}]", ndim=1, dtype=np.float64) for n in names]
    for n, col in zip(names, columns, strict=True):
        if col.shape != y.shape:
            raise ValueError(f"terms[{n!r}] has shape {col.shape} but values has shape {y.shape}")
        if np.any(col < 0):
            raise ValueError(f"terms[{n!r}] has a negative entry; expected costs >= 0")
    A = np.column_stack(columns)  # (m, k)
    if not np.all(y > 0):
        raise ValueError(f"values must be positive; got {y.tolist()}")
    scale = A.max(axis=0)  # column scaling keeps nnls well conditioned
    scale[scale == 0] = 1.0
    coef_scaled, _ = nnls(A / scale / y[:, None], np.ones_like(y))
    coef = coef_scaled / scale
    pred = A @ coef
    return CostModelFit(
        {n: float(c) for n, c in zip(names, coef, strict=True)}, float(np.max(np.abs(pred - y) / y))
    )
