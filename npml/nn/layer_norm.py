"""Layer normalisation over the last axis, with its backward pass.

Ba, Kiros & Hinton 2016, "Layer Normalization" (arXiv:1607.06450): each feature vector is
standardised by its own mean and variance, then scaled and shifted,

.. math::

    \\mu = \\frac{1}{D}\\sum_{i} x_i, \\quad
    \\sigma^2 = \\frac{1}{D}\\sum_{i} (x_i - \\mu)^2, \\quad
    \\hat{x} = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}, \\quad
    y = \\gamma \\odot \\hat{x} + \\beta.

With :math:`g = \\gamma \\odot \\bar{y}` the backward pass is

.. math::

    \\bar{x} = \\frac{1}{\\sqrt{\\sigma^2 + \\epsilon}}
      \\bigl(g - \\overline{g} - \\hat{x}\\,\\overline{g \\odot \\hat{x}}\\bigr),
    \\quad \\bar{\\gamma} = \\textstyle\\sum_n \\bar{y}_n \\odot \\hat{x}_n, \\quad
    \\bar{\\beta} = \\textstyle\\sum_n \\bar{y}_n,

where the overline is the mean over the last axis; the two means remove the directions
that the normalisation makes irrelevant (shifts and rescalings of :math:`x`).
The variance is the biased one (divide by :math:`D`), as in the paper and in PyTorch.

**Implementation.** ``_layer_norm_forward_reference`` / ``_layer_norm_backward_reference`` are
the plain NumPy definitions; for float32/float64 C-contiguous inputs with at least
``KERNEL_MIN_SIZE`` elements (and ``gamma``, ``beta``, ``dout`` of the same dtype) the public
functions call the Numba kernels of :mod:`npml.nn._layer_norm_kernels`: one parallel pass over
the rows each way. The kernel path checks the input for NaN/infinity through the row
statistics it computes anyway (a non-finite entry makes its row's ``rstd`` non-finite) instead
of a separate scan.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_last_dim, check_scalar
from npml._module import Module, Parameter

KERNEL_MIN_SIZE = 4096  # elements of x; below it the NumPy twin is as fast (measured, 2 cores)


class LayerNormCache(NamedTuple):
    x_hat: np.ndarray  # (..., D) standardised input
    rstd: np.ndarray  # (..., 1) 1 / sqrt(var + eps)
    gamma: np.ndarray  # (D,)


def layer_norm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, LayerNormCache]:
    """Normalise ``x`` over its last axis, then scale by ``gamma`` and shift by ``beta``.

    Parameters
    ----------
    x : ndarray, shape (..., D)
    gamma, beta : ndarray, shape (D,)
    eps : float, default 1e-5
        Added to the variance (module docstring).

    Returns
    -------
    y : ndarray, shape (..., D)
    cache : LayerNormCache
    """
    x = check_array(x, "x", finite=False)
    check_last_dim(x, "x", gamma.shape[0])
    if beta.shape != gamma.shape:
        raise ValueError(f"beta has shape {beta.shape}; expected {gamma.shape} like gamma")
    check_scalar(eps, "eps", low=0.0)
    if _use_kernel(x, gamma, beta):
        y, cache = _layer_norm_forward_numba(x, gamma, beta, eps)
        if not np.isfinite(cache.rstd).all():
            check_array(x, "x")  # raises, naming the non-finite entries
        return y, cache
    check_array(x, "x")
    return _layer_norm_forward_reference(x, gamma, beta, eps)


def layer_norm_backward(
    dout: np.ndarray, cache: LayerNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_norm_forward`.

    Parameters
    ----------
    dout : ndarray, shape (..., D)
    cache : LayerNormCache

    Returns
    -------
    dx : ndarray, shape (..., D)
    dgamma, dbeta : ndarray, shape (D,)
    """
    dout = np.asarray(dout)
    if dout.shape == cache.x_hat.shape and _use_kernel(cache.x_hat, cache.gamma, dout):
        return _layer_norm_backward_numba(dout, cache)
    return _layer_norm_backward_reference(dout, cache)


def _layer_norm_forward_reference(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, LayerNormCache]:
    """NumPy twin of the forward kernel."""
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mu  # (..., D)
    var = np.mean(xc * xc, axis=-1, keepdims=True)  # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)  # (..., 1)
    x_hat = xc * rstd
    y = x_hat * gamma + beta
    return y, LayerNormCache(x_hat, rstd, gamma)


def _layer_norm_backward_reference(
    dout: np.ndarray, cache: LayerNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy twin of the backward kernel."""
    x_hat, rstd, gamma = cache
    D = x_hat.shape[-1]
    dout2 = dout.reshape(-1, D)  # (N, D)
    dgamma = np.sum(dout2 * x_hat.reshape(-1, D), axis=0)
    dbeta = dout2.sum(axis=0)
    g = dout * gamma  # dL/dx_hat, (..., D)
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - x_hat * np.mean(g * x_hat, axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta


def _use_kernel(x: np.ndarray, *others: np.ndarray) -> bool:
    """Whether the Numba kernels take this call (dtype, layout and size rule)."""
    ok = x.dtype in (np.float32, np.float64) and x.size >= KERNEL_MIN_SIZE and x.shape[-1] > 0
    return ok and all(a.dtype == x.dtype for a in others) and x.flags.c_contiguous


def _layer_norm_forward_numba(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, LayerNormCache]:
    """Kernel path of the forward."""
    from npml.nn import _layer_norm_kernels as kern

    D = x.shape[-1]
    x2 = x.reshape(-1, D)  # (N, D)
    y, x_hat = np.empty_like(x2), np.empty_like(x2)
    rstd = np.empty(x2.shape[0], x.dtype)  # (N,)
    f = x.dtype.type
    with kern.kernel_threads(x.size):
        kern._layer_norm_forward_kernel(
            x2, np.ascontiguousarray(gamma), np.ascontiguousarray(beta),
            f(eps), f(1.0), f(1.0 / D), y, x_hat, rstd,
        )  # fmt: skip
    cache = LayerNormCache(x_hat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1), gamma)
    return y.reshape(x.shape), cache


def _layer_norm_backward_numba(
    dout: np.ndarray, cache: LayerNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel path of the backward."""
    from npml.nn import _layer_norm_kernels as kern

    x_hat, rstd, gamma = cache
    D = x_hat.shape[-1]
    dout2 = np.ascontiguousarray(dout).reshape(-1, D)  # (N, D)
    dx = np.empty_like(dout2)
    f = dout.dtype.type
    with kern.kernel_threads(dx.size) as P:
        dgamma, dbeta = np.zeros((P, D), dout.dtype), np.zeros((P, D), dout.dtype)  # partials
        kern._layer_norm_backward_kernel(
            dout2, x_hat.reshape(-1, D), rstd.reshape(-1), np.ascontiguousarray(gamma),
            f(1.0), f(1.0 / D), dx, dgamma, dbeta,
        )  # fmt: skip
    return dx.reshape(dout.shape), dgamma.sum(axis=0), dbeta.sum(axis=0)


class LayerNorm(Module):
    """Layer normalisation over the last axis (module docstring).

    Parameters
    ----------
    d : int
        Size of the normalised (last) axis.
    eps : float, default 1e-5
    dtype : numpy float dtype, default float64

    Attributes
    ----------
    gamma : Parameter, shape (d,), initialised to ones
    beta : Parameter, shape (d,), initialised to zeros
    """

    def __init__(self, d: int, eps: float = 1e-5, dtype: type = np.float64) -> None:
        check_scalar(d, "d", kind=int, low=1)
        self.eps = check_scalar(eps, "eps", low=0.0)
        self.gamma = Parameter(np.ones(d, dtype=dtype), decay=False)
        self.beta = Parameter(np.zeros(d, dtype=dtype), decay=False)
        self._cache: LayerNormCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise ``x`` of shape ``(..., d)``."""
        y, self._cache = layer_norm_forward(x, self.gamma.data, self.beta.data, self.eps)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``gamma.grad`` and ``beta.grad``; return ``dx``."""
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        dx, dgamma, dbeta = layer_norm_backward(dout, self._cache)
        self.gamma.accumulate(dgamma)
        self.beta.accumulate(dbeta)
        return dx
