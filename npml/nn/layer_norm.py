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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_last_dim, check_scalar
from npml._module import Module, Parameter


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
    x = check_array(x, "x")
    check_last_dim(x, "x", gamma.shape[0])
    if beta.shape != gamma.shape:
        raise ValueError(f"beta has shape {beta.shape}; expected {gamma.shape} like gamma")
    check_scalar(eps, "eps", low=0.0)
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mu  # (..., D)
    var = np.mean(xc * xc, axis=-1, keepdims=True)  # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)  # (..., 1)
    x_hat = xc * rstd
    y = x_hat * gamma + beta
    return y, LayerNormCache(x_hat, rstd, gamma)


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
