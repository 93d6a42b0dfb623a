"""One-dimensional (temporal) convolution, causal or not: conv2d with one row.

.. math::

    y_{b,o,t} = b_o + \\sum_{c} \\sum_{k=0}^{K-1} W_{o,c,k}\\; x^{pad}_{b,\\,c,\\; s t + d k}

with ``x`` of shape ``(B, C_in, T)`` and ``W`` of shape ``(C_out, C_in, K)`` (torch's layout,
so a ``torch.nn.Conv1d``'s weight ports directly). It is the convolution of
:mod:`npml.nn.conv` on images of one row, so its im2col, product and col2im are those
(forward and backward, with the shapes of every step, are documented there).

**Causal** convolution (WaveNet, van den Oord et al. 2016; temporal convolutional networks,
Bai, Kolter & Koltun 2018) pads :math:`d (K - 1)` zeros on the left only, so that with stride 1
the output keeps length ``T`` and ``y[..., t]`` depends on ``x[..., :t + 1]`` alone. Stacking
layers with dilations 1, 2, 4, ... grows the receptive field exponentially with depth.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_dout, check_scalar
from npml._module import Module
from npml.nn import _conv_args as args
from npml.nn._dtype import cast_input
from npml.nn.conv import Conv2dCache, conv2d_backward, conv2d_forward, conv_parameters


class Conv1dCache(NamedTuple):
    conv: Conv2dCache  # of the (B, C_in, 1, T_pad) image: left and right padding applied
    pads: tuple[int, int]  # (left, right) zeros added to the time axis
    T: int  # input length


def conv1d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    causal: bool = False,
) -> tuple[np.ndarray, Conv1dCache]:
    """1-d convolution of ``x`` with ``W`` (module docstring).

    Parameters
    ----------
    x : ndarray, shape (B, C_in, T)
        Input sequences; NaN or infinity raises ``ValueError``.
    W : ndarray, shape (C_out, C_in, K)
    b : ndarray, shape (C_out,), optional
    stride, dilation : int, default 1
    padding : int or (left, right), default 0
        Zeros added to the time axis; an int pads both sides. Must be 0 with ``causal``.
    causal : bool, default False
        Pad ``dilation * (K - 1)`` zeros on the left only: output ``t`` sees inputs ``<= t``
        (for stride 1, output length ``T``).

    Returns
    -------
    y : ndarray, shape (B, C_out, T_out)
        ``T_out = floor((T + left + right - d (K - 1) - 1) / s) + 1``.
    cache : Conv1dCache
        Holds references to ``x`` and ``W`` (no copies).
    """
    causal = check_bool(causal, "causal")
    x = check_array(x, "x", ndim=3)
    W = args.weight(W, "W", 3)
    check_scalar(stride, "stride", kind=int, low=1)
    check_scalar(dilation, "dilation", kind=int, low=1)
    pads = args.int_pair(padding, "padding", 0)
    if causal:
        if pads != (0, 0):
            raise ValueError(f"padding={padding!r} with causal=True; expected 0 (causal pads)")
        pads = (dilation * (W.shape[2] - 1), 0)
    if x.shape[1] != W.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {x.shape}) but W of shape {W.shape} "
            f"expects C_in={W.shape[1]}"
        )
    args.out_size(x.shape[2], pads, W.shape[2], stride, dilation, "steps")
    # Pad the time axis here (asymmetric when causal), then a (1, T_pad) image convolution.
    xp = np.pad(x, ((0, 0), (0, 0), pads)) if any(pads) else x  # (B, C_in, T_pad)
    y, conv = conv2d_forward(xp[:, :, None, :], W[:, :, None, :], b, (1, stride), 0, (1, dilation))
    return y[:, :, 0, :], Conv1dCache(conv, pads, x.shape[2])  # (B, C_out, T_out)


def conv1d_backward(
    dout: np.ndarray, cache: Conv1dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv1d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (B, C_out, T_out)
    cache : Conv1dCache

    Returns
    -------
    dx : ndarray, shape (B, C_in, T)
    dW : ndarray, shape (C_out, C_in, K)
    db : ndarray, shape (C_out,), or None when the forward pass had no bias
    """
    B, C_out, _, T_out = cache.conv.out_shape
    dout = check_dout(dout, (B, C_out, T_out))
    dxp, dW, db = conv2d_backward(dout[:, :, None, :], cache.conv)
    left = cache.pads[0]
    return dxp[:, :, 0, left : left + cache.T], dW[:, :, 0, :], db  # undo the padding


class Conv1d(Module):
    """1-d convolution layer over ``(B, C_in, T)`` sequences (:func:`conv1d_forward`).

    Parameters
    ----------
    C_in, C_out, kernel_size : int
    stride, padding, dilation, causal
        As :func:`conv1d_forward`.
    bias : bool, default True
    rng : None, int or numpy.random.Generator
        ``W`` and ``b`` ~ U(-1/sqrt(C_in K), 1/sqrt(C_in K)) (torch's default).
    dtype : numpy float dtype, default float32

    Attributes
    ----------
    W : Parameter, shape (C_out, C_in, K)
    b : Parameter, shape (C_out,) (only with ``bias=True``)
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int = 1,
        causal: bool = False,
        bias: bool = True,
        rng: None | int | np.random.Generator = None,
        dtype: Any = np.float32,
    ) -> None:
        bias = check_bool(bias, "bias")
        self.causal = check_bool(causal, "causal")
        for value, name in ((C_in, "C_in"), (C_out, "C_out"), (kernel_size, "kernel_size")):
            check_scalar(value, name, kind=int, low=1)
        self.stride = check_scalar(stride, "stride", kind=int, low=1)
        self.dilation = check_scalar(dilation, "dilation", kind=int, low=1)
        self.padding = args.int_pair(padding, "padding", 0)
        if self.causal and self.padding != (0, 0):
            raise ValueError(f"padding={padding!r} with causal=True; expected 0 (causal pads)")
        self.C_in, self.C_out, self.kernel_size = C_in, C_out, kernel_size
        rng = as_rng(rng)
        fan_in = C_in * kernel_size
        self.W, self.b = conv_parameters(
            (C_out, C_in, kernel_size), C_out, fan_in, bias, rng, dtype
        )
        self._cache: Conv1dCache | None = None

    def extra_repr(self) -> str:
        """The constructor's arguments, sizes shown as the tuples they resolved to (as torch)."""
        return self._config_repr(
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(B, C_in, T)``."""
        x = cast_input(x, "x", self.W.data.dtype)
        b = None if self.b is None else self.b.data
        y, self._cache = conv1d_forward(
            x, self.W.data, b, self.stride, self.padding, self.dilation, self.causal
        )
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (and ``b.grad``); return ``dx`` of shape ``(B, C_in, T)``."""
        if self._cache is None:
            raise RuntimeError("Conv1d.backward called before forward")
        B, C_out, _, T_out = self._cache.conv.out_shape
        dout = check_dout(dout, (B, C_out, T_out)).astype(self.W.data.dtype, copy=False)
        dx, dW, db = conv1d_backward(dout, self._cache)
        self.W.accumulate(dW)
        if self.b is not None:
            self.b.accumulate(db)
        return dx
