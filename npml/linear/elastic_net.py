"""Elastic-net linear regression by coordinate descent, and its regularization path.

Zou & Hastie (2005), "Regularization and variable selection via the elastic net". The
estimator minimises scikit-learn's objective

.. math::

    \\frac{1}{2n} \\|y - Xw - b\\|^2 + \\alpha \\rho \\|w\\|_1
    + \\frac{\\alpha (1 - \\rho)}{2} \\|w\\|^2 ,
    \\qquad \\rho = \\texttt{l1\\_ratio} \\in [0, 1] ,

so that ``l1_ratio=1`` is the lasso (sparse weights) and ``l1_ratio=0`` is ridge
regression (small, dense weights); in between, correlated features enter together (the
grouping effect) while irrelevant ones stay exactly zero. The intercept :math:`b` is not
penalised: it is removed by centring ``X`` and ``y`` and recovered as
:math:`b = \\bar y - \\bar x^\\top w`. The solver is cyclic coordinate descent with
scikit-learn's duality-gap stopping rule and gap-safe screening (``_cd.py``, ``_gap.py``),
so ``n_iter_`` and ``dual_gap_`` mean what they mean there.

How the work is laid out: ``fit`` makes one pass over ``X`` that writes a transposed copy
(columns contiguous) and takes the column means, then sweeps on it, centring on the fly.
When ``n >= p`` and a fit needs more than a few sweeps, it continues on the Gram matrix
:math:`X^\\top X`, whose sweeps cost :math:`O(p^2)` instead of :math:`O(np)`.
:func:`enet_path` solves many alphas and so starts on the Gram matrix whenever ``n >= p``.
The data's forms live in ``_problem.py``, the schedule of sweeps in ``_solve.py``.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from npml._checks import check_array, check_bool, check_is_fitted, check_same_length, check_scalar
from npml._estimator import Regressor, check_X, check_y
from npml.exceptions import ConvergenceWarning
from npml.linear._problem import _Problem
from npml.linear._solve import _solve, _sweep_budget

__all__ = ["ConvergenceWarning", "ElasticNet", "EnetPath", "enet_path"]


class EnetPath(NamedTuple):
    """The result of :func:`enet_path`, one column per alpha (alphas in decreasing order)."""

    alphas: np.ndarray  # (n_alphas,)
    coefs: np.ndarray  # (p, n_alphas)
    intercepts: np.ndarray  # (n_alphas,)
    dual_gaps: np.ndarray  # (n_alphas,), divided by n like ElasticNet.dual_gap_
    n_iters: np.ndarray  # (n_alphas,), sweeps per alpha


def _check_hyper(alpha: Any, l1_ratio: Any, max_iter: Any, tol: Any) -> None:
    check_scalar(alpha, "alpha", low=0.0)
    check_scalar(l1_ratio, "l1_ratio", low=0.0, high=1.0)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0.0)


def _check_data(X: Any, y: Any, who: Any) -> tuple[np.ndarray, np.ndarray]:
    # X's finiteness is checked on the column sums / Gram diagonal that the first pass over
    # X computes anyway (NaN and inf propagate into them): see _raise_if_not_finite
    X = check_X(X, who, fitting=True, finite=False)
    y = check_y(y, who)
    check_same_length(X, "X", y, "y")
    return X, y


class ElasticNet(Regressor):
    """Linear regression with an elastic-net penalty, fitted by coordinate descent.

    Parameters
    ----------
    alpha : float, default 1.0
        Overall penalty strength :math:`\\alpha \\ge 0`.
    l1_ratio : float, default 0.5
        Mix :math:`\\rho \\in [0, 1]` between the L1 (1: lasso) and L2 (0: ridge) penalties.
    fit_intercept : bool, default True
        Fit an unpenalised intercept (by centring X and y).
    max_iter : int, default 1000
        Maximum number of coordinate-descent sweeps.
    tol : float, default 1e-4
        Stop when the duality gap of the ``n``-scaled problem is at most
        ``tol * ||y - ybar||^2`` (scikit-learn's rule).
    warm_start : bool, default False
        Start the next ``fit`` from the current ``coef_`` instead of zeros.

    Attributes
    ----------
    coef_ : ndarray, shape (p,)
    intercept_ : float
    n_iter_ : int
        Sweeps run by the last ``fit`` (0 if the start already met the tolerance).
    dual_gap_ : float
        Duality gap at the solution, on the objective above (i.e. divided by ``n``).
    n_features_in_ : int
    """

    def __init__(
        self,
        alpha: float = 1.0,
        l1_ratio: float = 0.5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def fit(self, X: Any, y: Any) -> ElasticNet:
        """Fit on ``X`` (n, p) and ``y`` (n,); returns ``self``."""
        _check_hyper(self.alpha, self.l1_ratio, self.max_iter, self.tol)
        check_bool(self.fit_intercept, "fit_intercept")
        check_bool(self.warm_start, "warm_start")
        X, y = _check_data(X, y, self)
        n, p = X.shape
        if self.warm_start and hasattr(self, "coef_"):
            if self.coef_.shape != (p,):
                raise ValueError(
                    f"warm_start=True but coef_ has shape {self.coef_.shape} and X has {p} "
                    "features; expected the same number (or set warm_start=False)"
                )
            w = self.coef_.astype(np.float64, copy=True)
        else:
            w = np.zeros(p)
        problem = _Problem(X, y, bool(self.fit_intercept), transpose=True)
        max_iter = int(self.max_iter)
        self.dual_gap_, self.n_iter_ = _solve(
            problem,
            w,
            float(self.alpha),
            float(self.l1_ratio),
            max_iter,
            float(self.tol),
            budget=_sweep_budget(n, p, max_iter),
        )
        self.coef_ = w
        self.intercept_ = float(problem.y_mean - problem.X_mean @ w) if self.fit_intercept else 0.0
        self.n_features_in_ = p
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``X @ coef_ + intercept_`` for ``X`` (m, p); shape (m,)."""
        check_is_fitted(self, "coef_")
        X = check_X(X, self, fitting=False)
        return X @ self.coef_ + self.intercept_


def enet_path(
    X: Any,
    y: Any,
    l1_ratio: float = 0.5,
    alphas: Any = None,
    n_alphas: int = 100,
    eps: float = 1e-3,
    *,
    fit_intercept: bool = False,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> EnetPath:
    """Elastic-net solutions for a decreasing sequence of alphas, each warm-started.

    Parameters
    ----------
    X : array_like, shape (n, p)
    y : array_like, shape (n,)
    l1_ratio : float, default 0.5
    alphas : array_like, shape (n_alphas,), optional
        Penalties to solve for (sorted into decreasing order). By default ``n_alphas``
        values spaced evenly in log scale from ``alpha_max`` down to ``eps * alpha_max``,
        where :math:`\\alpha_{max} = \\|X^\\top y\\|_\\infty / (n \\rho)` is the smallest
        alpha whose solution is all zeros (needs ``l1_ratio > 0``).
    n_alphas : int, default 100
        Number of alphas when ``alphas`` is None (ignored otherwise).
    eps : float, default 1e-3
        Ratio ``alpha_min / alpha_max`` of the default path, in (0, 1).
    fit_intercept : bool, default False
        Like scikit-learn's ``enet_path``, X and y are used as given; True centres them
        and returns the intercepts.
    max_iter, tol : as in :class:`ElasticNet`.

    Returns
    -------
    EnetPath
        ``(alphas, coefs, intercepts, dual_gaps, n_iters)``; ``coefs`` has shape
        ``(p, n_alphas)``.
    """
    _check_hyper(1.0, l1_ratio, max_iter, tol)
    check_scalar(eps, "eps", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    X, y = _check_data(X, y, enet_path)
    n, p = X.shape
    # many alphas share one Gram matrix when n >= p; otherwise sweep on X itself
    problem = _Problem(X, y, bool(fit_intercept), transpose=n < p)
    if alphas is None:
        check_scalar(n_alphas, "n_alphas", kind=numbers.Integral, low=1)
        if l1_ratio == 0:
            raise ValueError(
                "l1_ratio=0 with alphas=None: alpha_max is infinite for ridge; pass alphas"
            )
        alpha_max = float(np.max(np.abs(problem.Xty()))) / (n * l1_ratio)
        if alpha_max <= np.finfo(np.float64).resolution:  # y is (nearly) constant
            alphas = np.full(n_alphas, np.finfo(np.float64).resolution)
        else:
            alphas = np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)
    else:
        alphas = check_array(alphas, "alphas", ndim=1, dtype=np.float64, min_size=1)
        if np.any(alphas < 0):
            raise ValueError(f"alphas has a negative entry ({alphas.min():g}); expected >= 0")
        alphas = np.sort(alphas)[::-1]
    k = len(alphas)
    coefs = np.empty((p, k))
    gaps = np.empty(k)
    n_iters = np.empty(k, dtype=np.int64)
    w = np.zeros(p)
    for i, alpha in enumerate(alphas):
        gaps[i], n_iters[i] = _solve(
            problem, w, float(alpha), float(l1_ratio), max_iter, tol, budget=max_iter
        )
        coefs[:, i] = w  # w carries on as the next alpha's start (warm start)
    intercepts = problem.y_mean - problem.X_mean @ coefs
    return EnetPath(np.array(alphas), coefs, intercepts, gaps, n_iters)
