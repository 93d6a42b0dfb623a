"""The data of an elastic-net fit in the forms the coordinate-descent kernels want.

The kernels of ``_cd.py`` sweep either over the columns of ``X`` or over the Gram matrix.
For the first, one pass over ``X`` writes the transpose ``Xt`` (p, n), whose rows are the
columns of ``X`` and contiguous, and takes the column means :math:`\\bar x` along the way,
so that no centred copy of ``X`` is ever made. For the second, the centred Gram matrix and
correlations are formed from the uncentred products,

.. math::

    Q = X_c^\\top X_c = X^\\top X - n\\, \\bar x \\bar x^\\top, \\qquad
    q = X_c^\\top y_c = X^\\top y_c \\quad (y_c \\text{ sums to } 0),

one BLAS ``syrk`` instead of a centred copy. The subtraction cancels digits when a column's
mean is large against its spread; past ``_MAX_CANCELLATION`` ``X`` is centred after all.
Overflow in these sums (entries near the float64 limit) raises a ``ValueError`` that says
to rescale, instead of letting NaN weights come out.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_array
from npml.linear._prep import _transpose_mean_kernel, _transpose_mean_reference

# Centring the Gram matrix as X^T X - n xbar xbar^T loses about log10(ratio) digits, where
# ratio = (X_j^T X_j) / ||X_j - xbar_j||^2; beyond this we centre X itself instead.
_MAX_CANCELLATION = 1e6


def _raise_if_not_finite(stats: np.ndarray, X: np.ndarray) -> None:
    if not np.isfinite(stats).all():
        check_array(X, "X")  # raises, counting the NaN / inf entries
        raise ValueError("X has entries so large that sums of squares overflow; rescale X")


class _Problem:
    """The data in the forms the kernels want: ``Xt`` (p, n) for the residual kernel, and
    the centred Gram matrix ``Q`` (p, p) with ``q = Xc^T yc`` (p,), made on demand."""

    def __init__(self, X: np.ndarray, y: np.ndarray, fit_intercept: bool, transpose: bool):
        self.X, self.fit_intercept = X, fit_intercept
        self.y_mean = float(y.mean()) if fit_intercept else 0.0
        self.yc = y - self.y_mean  # (n,)
        with np.errstate(over="ignore"):
            self.y_sq = float(self.yc @ self.yc)
        if not np.isfinite(self.y_sq):
            raise ValueError("y has entries so large that their squares overflow; rescale y")
        self.Xt: np.ndarray | None = None
        self.X_mean: np.ndarray | None = None
        self.Q: np.ndarray | None = None
        self.q: np.ndarray | None = None
        if transpose:
            if X.flags.f_contiguous and not X.flags.c_contiguous:
                with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                    self.Xt, X_mean = _transpose_mean_reference(X)  # X.T is a view: no copy
            else:
                self.Xt, X_mean = _transpose_mean_kernel(np.ascontiguousarray(X))  # one pass
            _raise_if_not_finite(X_mean, X)
            self.X_mean = X_mean if fit_intercept else np.zeros(X.shape[1])
        else:
            self.gram()

    def Xty(self) -> np.ndarray:
        """``Xc^T yc``, shape (p,)."""
        if self.q is not None:
            return self.q
        return self.Xt @ self.yc - self.X_mean * self.yc.sum()

    def gram(self) -> tuple[np.ndarray, np.ndarray]:
        if self.Q is not None:
            return self.Q, self.q
        X, yc = self.X, self.yc
        n = X.shape[0]
        if self.X_mean is None:
            # one pass gives X^T yc and the column sums; X^T yc = Xc^T yc as yc sums to 0
            s = X.T @ np.column_stack((yc, np.ones(n)))  # (p, 2)
            q = s[:, 0].copy()
            self.X_mean = s[:, 1] / n if self.fit_intercept else np.zeros(X.shape[1])
        else:
            q = self.Xty()
        X_mean = self.X_mean
        with np.errstate(over="ignore", invalid="ignore"):
            Q = X.T @ X  # (p, p), BLAS syrk
        raw_diag = Q.diagonal().copy()
        _raise_if_not_finite(raw_diag, X)
        if self.fit_intercept:
            Q -= n * np.outer(X_mean, X_mean)
            if np.any(raw_diag > _MAX_CANCELLATION * np.maximum(Q.diagonal(), 0.0)):
                Xc = X - X_mean  # badly centred data, or a constant column
                Xc[:, np.all(X == X[:1], axis=0)] = 0.0  # exactly zero, not round-off
                Q, q = Xc.T @ Xc, Xc.T @ yc
        self.Q, self.q = np.ascontiguousarray(Q), q
        return self.Q, self.q
