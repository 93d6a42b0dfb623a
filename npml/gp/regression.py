"""Gaussian-process regression: the conditional of a joint Gaussian.

Training targets :math:`y_1` at :math:`X_1` and function values :math:`f_2` at test inputs
:math:`X_2` are jointly Gaussian under a GP prior with kernel :math:`k`,

.. math::

    \\begin{bmatrix} y_1 \\\\ f_2 \\end{bmatrix} \\sim \\mathcal{N}\\!\\Big(0,
    \\begin{bmatrix} \\Sigma_{11} & \\Sigma_{12} \\\\
                    \\Sigma_{21} & \\Sigma_{22} \\end{bmatrix}\\Big),
    \\quad \\Sigma_{ij} = k(X_i, X_j), \\quad
    \\Sigma_{11} = k(X_1, X_1) + \\sigma_\\epsilon^2 I,

so the posterior is Gaussian with

.. math::

    \\mu_{2|1} = \\Sigma_{21} \\Sigma_{11}^{-1} y_1, \\qquad
    \\Sigma_{2|1} = \\Sigma_{22} - \\Sigma_{21} \\Sigma_{11}^{-1} \\Sigma_{12}.

Computed as in Rasmussen & Williams (2006), Algorithm 2.1: one Cholesky factorisation
:math:`\\Sigma_{11} = L L^\\top` at ``fit`` (reused for the log marginal likelihood),
:math:`\\alpha = L^{-\\top} L^{-1} y_1`, then :math:`\\mu_{2|1} = \\Sigma_{21} \\alpha` and
:math:`\\Sigma_{2|1} = \\Sigma_{22} - V^\\top V` with :math:`V = L^{-1} \\Sigma_{12}`.

**Noise-free** regression (``noise=0``) interpolates the training targets exactly in exact
arithmetic; numerically :math:`k(X_1, X_1)` is often singular to working precision, so a
jitter of :math:`10^{-10}` times the mean prior variance (``jitter_``) is added to its
diagonal. It moves the posterior mean at the training inputs by a relative
:math:`\\sim 10^{-10}` and leaves a posterior standard deviation of order
:math:`10^{-5} \\sigma` there. **Noisy** regression adds :math:`\\sigma_\\epsilon^2` =
``noise`` instead (scikit-learn's ``alpha``).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_is_fitted,
    check_same_length,
    check_scalar,
)
from npml._estimator import Regressor, check_X, check_y
from npml.gp._regression_parts import (
    _check_kernel,
    _check_representable,
    _normalize,
    _pack,
    _sample,
    _unpack,
)
from npml.gp.likelihood import (
    _log_marginal_likelihood,
    check_likelihood_finite,
    posterior_factor,
)
from npml.kernels import HYPERPARAMETER_BOUNDS, Kernel, NotPositiveDefiniteError

_LOG_MAX = float(np.log(np.finfo(np.float64).max))
JITTER = 1e-10  # relative to the mean prior variance, added only when noise == 0


class GaussianProcessRegressor(Regressor):
    """GP regression with a Cholesky fit, exact posterior and marginal-likelihood fitting.

    By default ``fit`` first tunes the kernel's hyperparameters (and a positive ``noise``)
    to maximise the log marginal likelihood, as scikit-learn's does; ``optimize=False``
    keeps them as given. A scikit-learn regressor (``score`` is :math:`R^2`): grid searches
    name the kernel's parameters ``kernel__length_scale``.

    Parameters
    ----------
    kernel : Kernel
        The prior covariance; never modified (``fit`` works on a copy, ``kernel_``).
    noise : float, default 0.0
        Observation-noise variance :math:`\\sigma_\\epsilon^2 \\ge 0` added to the diagonal
        of :math:`\\Sigma_{11}` (scikit-learn's ``alpha``). 0 is noise-free regression.
    normalize_y : bool, default False
        Subtract the targets' mean and divide by their standard deviation before fitting
        (predictions are scaled back; ``noise`` and the likelihood refer to the scaled
        targets, as in scikit-learn). Computed on ``y / max|y|`` when the plain formulas
        would overflow, so targets near the float64 limit (``1e308``) work.
    optimize : bool, default True
        Maximise the log marginal likelihood with L-BFGS-B over ``kernel.theta`` and
        ``log noise`` (when ``noise > 0``; noise-free stays noise-free), each within
        ``HYPERPARAMETER_BOUNDS`` = (1e-5, 1e5), starting from the given values. On by
        default, as scikit-learn's ``optimizer="fmin_l_bfgs_b"``; pass ``optimize=False``
        to condition on the hyperparameters exactly as given (``kernel_`` then equals
        ``kernel``).
    n_restarts : int, default 0
        Further L-BFGS-B runs from starting points drawn log-uniformly within the bounds;
        the best run wins.
    rng : None, int or Generator
        Source of the restarts' starting points.

    Attributes
    ----------
    kernel_ : Kernel
        The kernel with the fitted hyperparameters.
    noise_ : float
        The fitted noise variance.
    jitter_ : float
        Fixed diagonal jitter (0 unless ``noise == 0``).
    theta_ : ndarray
        ``kernel_.theta``, followed by ``log noise_`` when ``noise_ > 0``.
    X_train_, y_train_ : ndarray
        Training data (``y_train_`` after normalisation).
    L_ : ndarray, shape (N, N)
        Lower Cholesky factor of :math:`\\Sigma_{11}`.
    alpha_ : ndarray, shape (N,)
        :math:`\\Sigma_{11}^{-1} y_1`.
    log_marginal_likelihood_value_ : float
    y_mean_, y_std_ : float
        The target normalisation (0 and 1 without ``normalize_y``).
    n_features_in_ : int

    Notes
    -----
    Where this model still differs from scikit-learn's ``GaussianProcessRegressor``:

    - ``noise`` is scikit-learn's ``alpha`` (a variance added to the diagonal), but it is
      a hyperparameter that ``optimize`` fits (as ``noise_``) when positive, whereas
      scikit-learn's ``alpha`` stays fixed and noise is fitted through a ``WhiteKernel``;
      with ``noise=0`` npml adds a relative jitter (``jitter_``) that scikit-learn's
      ``alpha=1e-10`` plays the part of.
    - ``predict(X, return_std=True)`` gives the standard deviation of the latent function
      :math:`f`, without the observation noise ``noise_`` (add it to the variance for new
      observations :math:`y`). scikit-learn users who fit the noise put a ``WhiteKernel``
      in the kernel, and then get the noisy :math:`y`'s standard deviation; npml's fitted
      ``noise_`` plays that kernel's part but stays out of ``std`` (an npml ``White`` in
      the kernel would be in it, as in scikit-learn).
    - ``kernel`` is required (scikit-learn defaults to ``1.0 * RBF(1.0)``), and the
      optimiser and its restarts are ``optimize``, ``n_restarts`` and ``rng`` instead of
      ``optimizer``, ``n_restarts_optimizer`` and ``random_state``.
    """

    def __init__(
        self,
        kernel: Kernel,
        noise: float = 0.0,
        normalize_y: bool = False,
        optimize: bool = True,
        n_restarts: int = 0,
        rng: None | int | np.random.Generator = None,
    ) -> None:
        self.kernel = kernel
        self.noise = noise
        self.normalize_y = normalize_y
        self.optimize = optimize
        self.n_restarts = n_restarts
        self.rng = rng

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcessRegressor:
        """Condition on ``X`` (N, D) and ``y`` (N,); optionally fit the hyperparameters."""
        _check_kernel(self.kernel)
        noise = float(check_scalar(self.noise, "noise", low=0.0))
        normalize_y = check_bool(self.normalize_y, "normalize_y")
        optimize = check_bool(self.optimize, "optimize")
        check_scalar(self.n_restarts, "n_restarts", kind=numbers.Integral, low=0)
        X = check_X(X, self, fitting=True, copy=True)
        y = np.array(check_y(y, self), copy=True)
        check_same_length(X, "X", y, "y")
        kernel = self.kernel.clone()

        y_mean, y_std = 0.0, 1.0
        if normalize_y:
            y, y_mean, y_std = _normalize(y)
        jitter = JITTER * float(np.mean(kernel.diag(X))) if noise == 0 else 0.0

        if optimize:
            kernel, noise = self._optimize(kernel, X, y, noise, jitter)
        K_y = kernel(X)  # (N, N)
        K_y[np.diag_indices_from(K_y)] += noise + jitter
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
            L, alpha, lml = posterior_factor(K_y, y)
        if not np.isfinite(alpha).all():
            lml = np.nan  # the predictions would be garbage too: report it as below
        check_likelihood_finite(lml, None, y)

        self.kernel_, self.noise_, self.jitter_ = kernel, noise, jitter
        self.theta_ = _pack(kernel, noise)
        self.X_train_, self.y_train_ = X, y
        self.y_mean_, self.y_std_ = y_mean, y_std
        self.L_, self.alpha_ = L, alpha
        self.log_marginal_likelihood_value_ = lml
        self.n_features_in_ = X.shape[1]
        return self

    def _update_tags(self, tags) -> None:
        # restarts drawn from fresh OS entropy give a different fit each time
        tags.non_deterministic = bool(self.optimize and self.n_restarts and self.rng is None)

    def _optimize(self, kernel, X, y, noise, jitter):
        """L-BFGS-B on the negative log marginal likelihood, with restarts."""
        theta0 = _pack(kernel, noise)
        if theta0.size == 0:
            return kernel, noise
        bounds = np.tile(np.log(HYPERPARAMETER_BOUNDS), (theta0.size, 1))  # (P, 2)

        def objective(theta):
            k, s = _unpack(kernel, noise, theta)
            try:
                lml, grad = _log_marginal_likelihood(k, X, y, s, jitter, eval_gradient=True)
            except NotPositiveDefiniteError:  # a bad corner of the box: steer away from it
                return np.inf, np.zeros_like(theta)
            if not (np.isfinite(lml) and np.isfinite(grad).all()):  # overflow: likewise
                return np.inf, np.zeros_like(theta)
            return -lml, -grad

        rng = as_rng(self.rng)
        starts = [np.clip(theta0, bounds[:, 0], bounds[:, 1])]
        starts += [rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(self.n_restarts)]
        best_theta, best_value = theta0, np.inf
        for start in starts:
            result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
            if result.fun < best_value:
                best_theta, best_value = result.x, float(result.fun)
        return _unpack(kernel, noise, best_theta)

    def log_marginal_likelihood(
        self, theta: np.ndarray | None = None, eval_gradient: bool = False
    ) -> float | tuple[float, np.ndarray]:
        """:math:`\\log p(y \\mid X, \\theta)` on the training data, optionally with its gradient.

        Parameters
        ----------
        theta : ndarray, shape (n_theta,), optional
            Log-hyperparameters laid out as ``theta_`` (kernel's, then ``log noise`` if the
            fitted noise is positive); defaults to ``theta_``.
        eval_gradient : bool, default False
            Also return the analytic gradient (Rasmussen & Williams, Eq. 5.9).
        """
        check_is_fitted(self, "alpha_")
        eval_gradient = check_bool(eval_gradient, "eval_gradient")
        if theta is None:
            if not eval_gradient:
                return self.log_marginal_likelihood_value_
            theta = self.theta_
        theta = check_array(theta, "theta", ndim=1, dtype=np.float64)
        if theta.shape != self.theta_.shape:
            raise ValueError(f"theta has shape {theta.shape}; expected {self.theta_.shape}")
        if self.noise_ > 0 and not -_LOG_MAX <= theta[-1] <= _LOG_MAX:
            raise ValueError(
                f"theta[-1]={theta[-1]:g} (log noise) is out of range: exp(theta) is not a "
                f"finite positive float64; expected |theta| <= {_LOG_MAX:.1f}"
            )
        kernel, noise = _unpack(self.kernel_, self.noise_, theta)
        lml, grad = _log_marginal_likelihood(
            kernel, self.X_train_, self.y_train_, noise, self.jitter_, eval_gradient
        )
        check_likelihood_finite(lml, grad, self.y_train_)
        return (lml, grad) if eval_gradient else lml

    # -- prediction ---------------------------------------------------------------------------
    def predict(
        self, X: np.ndarray, return_std: bool = False, return_cov: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior mean at ``X`` (M, D), and its standard deviation or covariance.

        Returns
        -------
        mean : ndarray, shape (M,)
        std : ndarray, shape (M,), if ``return_std``
            Of the latent function (add ``noise_`` to the variance for new observations).
        cov : ndarray, shape (M, M), if ``return_cov``
        """
        check_is_fitted(self, "alpha_")
        return_std = check_bool(return_std, "return_std")
        return_cov = check_bool(return_cov, "return_cov")
        if return_std and return_cov:
            raise ValueError("return_std=True and return_cov=True; ask for at most one")
        X = check_X(X, self, fitting=False)
        K_s = self.kernel_(X, self.X_train_)  # Sigma_21, (M, N)
        with np.errstate(over="ignore"):
            mean = self.y_std_ * (K_s @ self.alpha_) + self.y_mean_  # (M,)
        _check_representable(mean, "posterior mean")
        if not (return_std or return_cov):
            return mean
        # V = L^{-1} Sigma_12, (N, M); K_s.T is Fortran-ordered, so solved in place.
        V = solve_triangular(self.L_, K_s.T, lower=True, check_finite=False, overwrite_b=True)
        if return_cov:
            cov = self.kernel_(X) - V.T @ V  # (M, M)
            with np.errstate(over="ignore"):  # y_std_**2 alone may overflow; cov need not
                cov = (cov * self.y_std_) * self.y_std_
            _check_representable(cov, "posterior covariance")
            return mean, cov
        var = self.kernel_.diag(X) - np.einsum("nm,nm->m", V, V)  # (M,)
        # Round-off can leave tiny negative variances where the posterior is certain.
        np.maximum(var, 0.0, out=var)
        return mean, np.sqrt(var) * self.y_std_

    def sample_prior(
        self, X: np.ndarray, n_samples: int = 1, rng: None | int | np.random.Generator = None
    ) -> np.ndarray:
        """Functions drawn from the prior :math:`\\mathcal{N}(0, k(X, X))`, shape
        (n_samples, M); ``k`` is ``kernel_`` once fitted, ``kernel`` before (no target
        normalisation)."""
        kernel = self.kernel_ if hasattr(self, "kernel_") else _check_kernel(self.kernel)
        X = check_array(X, "X", ndim=2, dtype=np.float64)
        return _sample(np.zeros(X.shape[0]), kernel(X), n_samples, rng)

    def sample_posterior(
        self, X: np.ndarray, n_samples: int = 1, rng: None | int | np.random.Generator = None
    ) -> np.ndarray:
        """Functions drawn from the posterior :math:`\\mathcal{N}(\\mu_{2|1}, \\Sigma_{2|1})`,
        shape (n_samples, M)."""
        mean, cov = self.predict(X, return_cov=True)
        return _sample(mean, cov, n_samples, rng)
