"""Group normalisation: layer normalisation within groups of channels, then a per-channel affine.

Wu & He 2018, "Group Normalization" (arXiv:1803.08494). The :math:`C` channels of an input
of shape :math:`(B, C, *S)` (a sequence :math:`S = (T,)` or an image :math:`S = (H, W)`)
are split into :math:`G` groups of :math:`C/G` consecutive channels; each sample's group is
standardised by its own mean and variance over the :math:`D = (C/G)\\,|S|` entries
:math:`\\mathcal{G}` it holds, then every channel :math:`c` is scaled and shifted:

.. math::

    \\mu = \\frac{1}{D}\\sum_{p \\in \\mathcal{G}} x_p, \\quad
    \\sigma^2 = \\frac{1}{D}\\sum_{p \\in \\mathcal{G}} (x_p - \\mu)^2, \\quad
    \\hat{x}_p = \\frac{x_p - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}, \\quad
    y_{bc\\cdot} = \\gamma_c\\,\\hat{x}_{bc\\cdot} + \\beta_c.

With :math:`g = \\gamma_c \\bar{y}` the backward pass is layer norm's within each group,

.. math::

    \\bar{x} = \\frac{1}{\\sqrt{\\sigma^2 + \\epsilon}}
      \\bigl(g - \\overline{g} - \\hat{x}\\,\\overline{g \\odot \\hat{x}}\\bigr), \\quad
    \\bar{\\gamma}_c = \\sum_{b, s} \\bar{y}_{bcs}\\,\\hat{x}_{bcs}, \\quad
    \\bar{\\beta}_c = \\sum_{b, s} \\bar{y}_{bcs},

the overline being the mean over the group. :math:`G = 1` is layer normalisation over
:math:`(C, *S)` and :math:`G = C` is instance normalisation (each channel of each sample on
its own); unlike batch normalisation nothing is shared across the batch, so it behaves the
same at batch size 1, which is why the diffusion U-Nets use it (with :math:`G = 32`).

**Implementation.** The standardisation is :func:`npml.nn.layer_norm_forward` (without its
affine map) on the ``(B * G, D)`` rows of the reshaped input, so group norm inherits its
Numba kernels for large inputs and its safety on huge rows (a row whose variance would
overflow is rescaled by its largest entry first) and on constant rows (:math:`\\hat{x} = 0`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_dout, check_scalar
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input
from npml.nn.layer_norm import LayerNormCache, layer_norm_backward, layer_norm_forward


class GroupNormCache(NamedTuple):
    rows: LayerNormCache  # layer norm of the (B * G, D) rows: x_hat (B*G, D), rstd (B*G, 1)
    x_shape: tuple[int, ...]  # (B, C, *S)
    gamma: np.ndarray | None  # (C,)
    has_beta: bool


def group_norm_forward(
    x: np.ndarray,
    num_groups: int,
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, GroupNormCache]:
    """Normalise each group of channels of ``x``, then scale and shift each channel.

    Parameters
    ----------
    x : ndarray, shape (B, C, \\*S)
        At least two axes; ``S`` is any spatial shape, ``()``, ``(T,)`` or ``(H, W)``.
    num_groups : int
        :math:`G`, a divisor of :math:`C`.
    gamma, beta : ndarray, shape (C,), optional
        Per-channel scale and shift; None leaves them out (scale 1, shift 0).
    eps : float, default 1e-5
        Added to the variance (module docstring); must be positive.

    Returns
    -------
    y : ndarray, shape of x
    cache : GroupNormCache
    """
    x = check_array(x, "x", finite=False)  # layer_norm_forward checks the values
    if x.ndim < 2:
        raise ValueError(f"x has shape {x.shape}; expected (B, C, *S) with at least 2 axes")
    B, C = x.shape[:2]
    check_scalar(num_groups, "num_groups", kind=int, low=1)
    if C % num_groups:
        raise ValueError(
            f"num_groups={num_groups} does not divide the {C} channels of x (num_channels)"
        )
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and np.shape(p) != (C,):
            raise ValueError(f"{name} has shape {np.shape(p)}; expected ({C},), one per channel")
    # 1. standardise each group: layer norm over the last axis of the (B * G, D) rows
    rows = x.reshape(B * num_groups, -1)  # (B*G, D)
    ones, zeros = np.ones(rows.shape[1], x.dtype), np.zeros(rows.shape[1], x.dtype)
    x_hat, ln = layer_norm_forward(rows, ones, zeros, eps)  # x_hat * 1 + 0 is x_hat exactly
    # 2. per-channel affine map
    y = x_hat.reshape(x.shape)  # (B, C, *S)
    channel = (C,) + (1,) * (x.ndim - 2)  # broadcasts over the spatial axes
    if gamma is not None:
        y = y * gamma.reshape(channel)
    if beta is not None:
        y = y + beta.reshape(channel)
    return y, GroupNormCache(ln, x.shape, gamma, beta is not None)


def group_norm_backward(
    dout: np.ndarray, cache: GroupNormCache
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`group_norm_forward` (module docstring).

    Parameters
    ----------
    dout : ndarray, shape (B, C, \\*S)
    cache : GroupNormCache

    Returns
    -------
    dx : ndarray, shape (B, C, \\*S)
    dgamma, dbeta : ndarray, shape (C,), or None where the forward had no gamma / beta
    """
    ln, x_shape, gamma, has_beta = cache
    dout = check_dout(dout, x_shape)
    C = x_shape[1]
    sum_axes = (0, *range(2, len(x_shape)))  # batch and spatial axes
    # 2. per-channel affine map
    dbeta = dout.sum(axis=sum_axes) if has_beta else None
    dgamma = None
    g = dout  # dL/dx_hat
    if gamma is not None:
        dgamma = np.sum(dout * ln.x_hat.reshape(x_shape), axis=sum_axes)
        g = dout * gamma.reshape((C,) + (1,) * (len(x_shape) - 2))
    # 1. standardisation of each group (layer norm's backward with gamma = 1)
    dx, _, _ = layer_norm_backward(g.reshape(ln.x_hat.shape), ln)
    return dx.reshape(x_shape), dgamma, dbeta


class GroupNorm(Module):
    """Group normalisation of ``(B, C, *S)`` inputs (module docstring).

    Parameters
    ----------
    num_groups : int
        :math:`G`, a divisor of ``num_channels``.
    num_channels : int
        :math:`C`.
    eps : float, default 1e-5
        Added to the variance; must be positive.
    affine : bool, default True
        Learn the per-channel ``gamma`` (ones) and ``beta`` (zeros); False leaves them out.
    dtype : numpy float dtype, default float32
        Input of another float dtype is cast to it.

    Attributes
    ----------
    gamma, beta : Parameter, shape (num_channels,), only with ``affine=True``
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: type = np.float32,
    ) -> None:
        check_scalar(num_groups, "num_groups", kind=int, low=1)
        check_scalar(num_channels, "num_channels", kind=int, low=1)
        if num_channels % num_groups:
            raise ValueError(f"num_channels={num_channels} is not divisible by {num_groups=}")
        self.eps = check_scalar(eps, "eps", low=0.0, low_inclusive=False)
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine={affine!r}; expected True or False")
        self.num_groups, self.num_channels, self.affine = num_groups, num_channels, bool(affine)
        self.dtype = np.dtype(dtype)
        self.gamma = Parameter(np.ones(num_channels, dtype), decay=False) if affine else None
        self.beta = Parameter(np.zeros(num_channels, dtype), decay=False) if affine else None
        self._cache: GroupNormCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise ``x`` of shape ``(B, num_channels, *S)`` (cast to the module's dtype)."""
        x = check_array(cast_input(x, "x", self.dtype), "x", finite=False)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"x has shape {x.shape}; expected (B, {self.num_channels}, *S)")
        gamma = None if self.gamma is None else self.gamma.data
        beta = None if self.beta is None else self.beta.data
        y, self._cache = group_norm_forward(x, self.num_groups, gamma, beta, self.eps)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``gamma.grad`` and ``beta.grad`` (with ``affine``); return ``dx``."""
        if self._cache is None:
            raise RuntimeError("GroupNorm.backward called before forward")
        dout = cast_input(dout, "dout", self.dtype)
        dx, dgamma, dbeta = group_norm_backward(dout, self._cache)
        if self.gamma is not None:
            self.gamma.accumulate(dgamma)
            self.beta.accumulate(dbeta)
        return dx
