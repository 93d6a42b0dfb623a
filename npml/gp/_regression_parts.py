"""The GP regressor's bookkeeping: target normalisation, kernel checks, theta packing, sampling.

Kept apart from ``regression.py`` so that the regressor reads as the equations of the
posterior; nothing here is specific to one kernel.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import eigh

from npml._checks import (
    as_rng,
    check_scalar,
)
from npml.kernels import Kernel


def _normalize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(y - mean) / std``, the mean and the std (1 for constant targets, which are only
    centred); computed on ``y / max|y|`` when the plain formulas overflow (|y| ~ 1e308)."""
    tiny = 10 * np.finfo(np.float64).eps
    with np.errstate(over="ignore", invalid="ignore"):
        y_mean, y_std = float(y.mean()), float(y.std())
        if np.isfinite(y_mean) and np.isfinite(y_std):
            y_std = 1.0 if y_std < tiny else y_std  # constant targets: only centre them
            y_n = (y - y_mean) / y_std
            if np.isfinite(y_n).all():
                return y_n, y_mean, y_std
    scale = float(np.max(np.abs(y)))  # > 1e150 here, so the std is far above `tiny`
    y_s = y / scale
    mean_s, std_s = float(y_s.mean()), float(y_s.std())
    if std_s == 0.0:
        return (y_s - mean_s) * scale, mean_s * scale, 1.0
    return (y_s - mean_s) / std_s, mean_s * scale, std_s * scale


def _check_representable(values: np.ndarray, what: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(
            f"the {what} overflows float64 (the targets' scale is too large to represent "
            "it); rescale y before fitting"
        )


def _check_kernel(kernel: object) -> Kernel:
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel={kernel!r} is not an npml.kernels.Kernel")
    return kernel


def _pack(kernel: Kernel, noise: float) -> np.ndarray:
    """theta = kernel's log-hyperparameters, then log noise when the noise is positive."""
    return np.append(kernel.theta, np.log(noise)) if noise > 0 else kernel.theta


def _unpack(kernel: Kernel, noise: float, theta: np.ndarray) -> tuple[Kernel, float]:
    n_k = kernel.n_theta
    new_noise = float(np.exp(theta[n_k])) if noise > 0 else 0.0
    return kernel.with_theta(theta[:n_k]), new_noise


def _sample(mean: np.ndarray, cov: np.ndarray, n_samples: int, rng) -> np.ndarray:
    """Draws of N(mean, cov) as mean + Z (U sqrt(s))^T with cov = U diag(s) U^T.

    The symmetric eigendecomposition (clamping round-off negatives of ``s`` to 0) handles the
    singular covariances of smooth kernels on dense grids, where a Cholesky would fail."""
    check_scalar(n_samples, "n_samples", kind=numbers.Integral, low=1)
    s, U = eigh(cov, check_finite=False)
    factor = U * np.sqrt(np.maximum(s, 0.0))  # (M, M)
    Z = as_rng(rng).standard_normal((n_samples, mean.shape[0]))  # (S, M)
    return mean + Z @ factor.T
