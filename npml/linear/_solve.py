"""How a fit spends its sweeps: residual sweeps on ``X`` first, then the Gram matrix.

A sweep of the residual kernel costs :math:`O(np)`; forming the Gram matrix
:math:`X^\\top X` costs about :math:`n p^2 / 2` multiply-adds once, after which a sweep
costs :math:`O(p^2)`. A fit with ``n >= p`` therefore starts on ``X`` (a fit that stops
within a few sweeps never pays for the Gram matrix) and, past a budget of sweeps
(``_sweep_budget``), continues on the Gram matrix from exactly where it stopped: the same
weights and the same screened set, so the switch changes the cost, and the iterates only
by round-off. :func:`_solve` runs that schedule for one
``alpha``, scales the penalties to the kernels' problem (``l1 = n alpha l1_ratio``,
``l2 = n alpha (1 - l1_ratio)``), and reports non-convergence with a
:class:`~npml.exceptions.ConvergenceWarning` that names the gap and the tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np

from npml.exceptions import ConvergenceWarning, sklearn_flavoured
from npml.linear._cd import _enet_cd_gram_kernel, _enet_cd_kernel
from npml.linear._problem import _Problem


# Sweeps of the residual kernel before a fit with n >= p moves to the Gram matrix. The
# Gram matrix costs about as much as p / 4 full sweeps (n p^2 / 2 multiply-adds against
# 2 n p per sweep), and sweeps get cheaper as screening removes features; p / 10 leaves
# room for BLAS being faster per multiply-add than a sweep.
def _sweep_budget(n: int, p: int, max_iter: int) -> int:
    return max(10, p // 10) if n >= p else max_iter


def _solve(
    problem: _Problem,
    w: np.ndarray,
    alpha: float,
    l1_ratio: float,
    max_iter: int,
    tol: float,
    budget: int,
) -> tuple[float, int]:
    """Fit from ``w`` (updated in place); returns ``(dual gap / n, sweeps)``.

    The residual kernel runs at most ``budget`` sweeps; a fit that needs more continues on
    the Gram matrix exactly where it stopped (same ``w``, same screened set).
    """
    n = problem.X.shape[0]
    l1 = n * alpha * l1_ratio
    l2 = n * alpha * (1.0 - l1_ratio)
    if not (np.isfinite(l1) and np.isfinite(l2)):
        raise ValueError(
            f"alpha={alpha:g} is too large: the penalty n_samples * alpha = {n} * {alpha:g} "
            "overflows float64; expected a finite n_samples * alpha"
        )
    active = np.ones(w.shape[0], dtype=np.bool_)
    n_iter = 0
    converged = False
    # overflow (huge inputs) is reported below; NUMBA_DISABLE_JIT would warn on the way
    with np.errstate(over="ignore", invalid="ignore"):
        if problem.Xt is not None:
            gap, n_iter, converged = _enet_cd_kernel(
                w,
                active,
                problem.Xt,
                problem.X_mean,
                problem.yc,
                l1,
                l2,
                0,
                min(budget, max_iter),
                max_iter,
                tol,
                True,
            )
        if not converged and n_iter < max_iter:
            Q, q = problem.gram()
            gap, n_iter, converged = _enet_cd_gram_kernel(
                w, active, Q, q, problem.y_sq, l1, l2, n_iter, max_iter, max_iter, tol, True
            )
    if not (np.isfinite(gap) and np.isfinite(w).all()):
        raise ValueError(
            "coordinate descent produced non-finite weights: X or y has entries so large "
            "that their squares overflow; rescale them"
        )
    if not converged:
        warnings.warn(
            f"coordinate descent did not converge in max_iter={max_iter} sweeps (alpha="
            f"{alpha:g}, l1_ratio={l1_ratio:g}): duality gap {gap / n:.3g} > tolerance "
            f"{tol * problem.y_sq / n:.3g}; increase max_iter or tol, or scale the features",
            sklearn_flavoured(ConvergenceWarning),
            stacklevel=3,
        )
    return gap / n, int(n_iter)
