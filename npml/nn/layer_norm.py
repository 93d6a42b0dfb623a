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

from npml._checks import check_array, check_dout, check_last_dim, check_scalar
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input

KERNEL_MIN_SIZE = 4096  # elements of x; below it the NumPy twin is as fast (measured, 2 cores)


class LayerNormCache(NamedTuple):
    x_hat: np.ndarray  # (..., D) standardised input
    rstd: np.ndarray  # (..., 1) 1 / sqrt(var + eps)
    gamma: np.ndarray  # (D,)


def layer_norm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, LayerNormCache]:
    """Normalise ``x`` over its last axis, then scale by ``gamma`` and shift by ``beta``.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` per row, with the biased variance
    (Ba et al. 2016; derivation and backward in :mod:`npml.nn.layer_norm`). Large inputs take
    a Numba kernel that gives the reference's result.

    Parameters
    ----------
    x : ndarray, shape (..., D)
    gamma, beta : ndarray, shape (D,)
    eps : float, default 1e-5
        Added to the variance; must be positive.

    Returns
    -------
    y : ndarray, shape (..., D)
    cache : LayerNormCache

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> y, cache = layer_norm_forward(x, gamma=np.ones(3), beta=np.zeros(3))
    >>> y.round(4)
    array([[-1.2247,  0.    ,  1.2247]])
    >>> dx, dgamma, dbeta = layer_norm_backward(np.ones_like(y), cache)
    >>> bool(np.abs(dx).max() < 1e-12), dbeta
    (True, array([1., 1., 1.]))
    """
    x = check_array(x, "x", finite=False)
    check_last_dim(x, "x", gamma.shape[0])
    if beta.shape != gamma.shape:
        raise ValueError(f"beta has shape {beta.shape}; expected {gamma.shape} like gamma")
    check_scalar(eps, "eps", low=0.0, low_inclusive=False)  # eps = 0 divides 0 by 0 on flat rows
    if _use_kernel(x, gamma, beta):
        y, cache = _layer_norm_forward_numba(x, gamma, beta, eps)
        if not np.isfinite(cache.rstd).all():
            check_array(x, "x")  # raises, naming the non-finite entries
    else:
        check_array(x, "x")
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing row is redone below
            # (its sum overflows to inf, so x - mu is -inf and x_hat is inf * 0 = NaN there)
            y, cache = _layer_norm_forward_reference(x, gamma, beta, eps)
    overflow = cache.rstd.reshape(-1) == 0  # rows whose variance overflowed (|x| near max)
    if overflow.any():
        y, cache = _rescale_rows(x, gamma, beta, eps, y, cache, overflow)
    return y, cache


def _rescale_rows(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    y: np.ndarray,
    cache: LayerNormCache,
    rows: np.ndarray,
) -> tuple[np.ndarray, LayerNormCache]:
    """Redo the rows whose variance overflowed on ``x / s``, ``s = max |x|`` of the row.

    LayerNorm is scale-invariant: ``LN(x; eps) = LN(x / s; eps / s^2)``, and ``x / s`` has
    entries in [-1, 1], so nothing overflows (``l2_norm`` scales the same way). The cache's
    ``rstd`` is the original row's, ``rstd_s / s``, so the backward pass needs no change.
    """
    D = x.shape[-1]
    x2, y2 = x.reshape(-1, D), y.reshape(-1, D).copy()
    x_hat2, rstd2 = cache.x_hat.reshape(-1, D).copy(), cache.rstd.reshape(-1, 1).copy()
    s = np.abs(x2[rows]).max(axis=-1, keepdims=True)  # (R, 1)
    tiny = np.finfo(x.dtype).tiny
    eps_s = np.maximum((eps / s) / s, tiny).astype(x.dtype)  # eps / s^2 without overflow
    xs = x2[rows] / s
    mu = xs.mean(axis=-1, keepdims=True)
    xc = xs - mu
    rstd_s = 1.0 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps_s)
    x_hat2[rows] = xc * rstd_s
    y2[rows] = x_hat2[rows] * gamma + beta
    rstd2[rows] = rstd_s / s
    return y2.reshape(x.shape), LayerNormCache(
        x_hat2.reshape(x.shape), rstd2.reshape(cache.rstd.shape), cache.gamma
    )


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
    dout = check_dout(dout, cache.x_hat.shape)
    if _use_kernel(cache.x_hat, cache.gamma, dout):
        return _layer_norm_backward_numba(dout, cache)
    return _layer_norm_backward_reference(dout, cache)


def _layer_norm_forward_reference(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, LayerNormCache]:
    """NumPy twin of the forward kernel."""
    inv_D = 1.0 / x.shape[-1]  # sums times 1/D: np.mean's Python overhead shows when decoding
    mu = x.sum(axis=-1, keepdims=True) * inv_D  # (..., 1)
    xc = x - mu  # (..., D)
    var = np.sum(xc * xc, axis=-1, keepdims=True) * inv_D  # (..., 1)
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
    """Layer normalisation over the last axis, with a learned gain and shift.

    ``forward(x)`` normalises ``x`` of shape ``(..., d)`` by :func:`layer_norm_forward`;
    ``backward(dout)`` accumulates the gradients of ``gamma`` and ``beta`` and returns ``dx``.

    Parameters
    ----------
    d : int
        Size of the normalised (last) axis.
    eps : float, default 1e-5
        Added to the variance; must be positive.
    dtype : numpy float dtype, default float32
        Input of another float dtype is cast to it (as torch modules compute in theirs).

    Attributes
    ----------
    gamma : Parameter, shape (d,), initialised to ones
    beta : Parameter, shape (d,), initialised to zeros

    Examples
    --------
    >>> norm = LayerNorm(4)
    >>> norm
    LayerNorm(d=4, eps=1e-05, dtype=float32)
    >>> y = norm(np.arange(8.0).reshape(2, 4))
    >>> y.dtype, bool(np.allclose(y.mean(axis=-1), 0, atol=1e-6))
    (dtype('float32'), True)
    >>> dx = norm.backward(np.ones_like(y))
    >>> norm.beta.grad
    array([2., 2., 2., 2.], dtype=float32)
    """

    def __init__(self, d: int, eps: float = 1e-5, dtype: type = np.float32) -> None:
        check_scalar(d, "d", kind=int, low=1)
        self.eps = check_scalar(eps, "eps", low=0.0, low_inclusive=False)
        self.gamma = Parameter(np.ones(d, dtype=dtype), decay=False)
        self.beta = Parameter(np.zeros(d, dtype=dtype), decay=False)
        self._cache: LayerNormCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise ``x`` of shape ``(..., d)`` (cast to the module's dtype)."""
        x = cast_input(x, "x", self.gamma.data.dtype)
        y, self._cache = layer_norm_forward(x, self.gamma.data, self.beta.data, self.eps)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``gamma.grad`` and ``beta.grad``; return ``dx``."""
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        dout = cast_input(dout, "dout", self.gamma.data.dtype)
        dx, dgamma, dbeta = layer_norm_backward(dout, self._cache)
        self.gamma.accumulate(dgamma)
        self.beta.accumulate(dbeta)
        return dx
