"""Non-overlapping average and max pooling over image windows, with backward passes.

With a window of :math:`k_h \\times k_w` pixels moved by the same stride, output pixel
:math:`(i, j)` pools the window :math:`\\Omega_{ij} = \\{(i k_h + u,\\ j k_w + v) :
0 \\le u < k_h,\\ 0 \\le v < k_w\\}` of each channel:

.. math::

    \\text{avg:}\\ y_{ij} = \\frac{1}{k_h k_w} \\sum_{p \\in \\Omega_{ij}} x_p, \\quad
    \\bar{x}_p = \\frac{\\bar{y}_{ij}}{k_h k_w}; \\qquad
    \\text{max:}\\ y_{ij} = \\max_{p \\in \\Omega_{ij}} x_p, \\quad
    \\bar{x}_p = \\bar{y}_{ij}\\,[p = \\operatorname{arg\\,max}_{\\Omega_{ij}} x].

The output has :math:`\\lfloor H / k_h \\rfloor \\times \\lfloor W / k_w \\rfloor` pixels
(torch's ``ceil_mode=False``): rows and columns that do not fill a window are dropped and
get zero gradient. Max pooling sends each gradient to one pixel, the first maximum of its
window in row-major order on ties (as torch). Since windows do not overlap (stride = kernel
size, the case the U-Nets and encoders of the notes use), both passes are one reshape of
``x`` to ``(B, C, H/k_h, k_h, W/k_w, k_w)`` and a reduction over the two window axes;
overlapping windows (stride < kernel) and padding are refused rather than half supported.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_dout, check_scalar
from npml._module import Module


class AvgPoolCache(NamedTuple):
    x_shape: tuple[int, ...]  # (B, C, H, W)
    kernel: tuple[int, int]  # (k_h, k_w)


class MaxPoolCache(NamedTuple):
    arg: np.ndarray  # (B, C, H_out, W_out) flat index u * k_w + v of each window's max
    x_shape: tuple[int, ...]  # (B, C, H, W)
    kernel: tuple[int, int]  # (k_h, k_w)


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Mean of each ``kernel_size`` window (module docstring).

    Parameters
    ----------
    x : ndarray, shape (B, C, H, W)
    kernel_size : int or (int, int)
        Window ``(k_h, k_w)``; at most the input's size.
    stride : int or (int, int), optional
        Must equal ``kernel_size`` (its default): only non-overlapping windows are supported.

    Returns
    -------
    y : ndarray, shape (B, C, H // k_h, W // k_w)
    cache : AvgPoolCache
    """
    x = check_array(x, "x", ndim=4)
    kh, kw = _check_window(x, kernel_size, stride)
    y = _windows(x, (kh, kw)).mean(axis=(3, 5))  # (B, C, H_out, W_out)
    return y, AvgPoolCache(x.shape, (kh, kw))


def avg_pool2d_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward`: each window gets its ``dy / (k_h k_w)``.

    Returns
    -------
    dx : ndarray, shape (B, C, H, W)
    """
    (B, C, H, W), (kh, kw) = cache
    dout = check_dout(dout, (B, C, H // kh, W // kw))
    Ho, Wo = dout.shape[2:]
    d_win = np.broadcast_to(dout[:, :, :, None, :, None] / (kh * kw), (B, C, Ho, kh, Wo, kw))
    return _unwindow(d_win, (H, W))


def max_pool2d_forward(
    x: np.ndarray, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, MaxPoolCache]:
    """Maximum of each ``kernel_size`` window (module docstring); arguments as avg pooling.

    Returns
    -------
    y : ndarray, shape (B, C, H // k_h, W // k_w)
    cache : MaxPoolCache
    """
    x = check_array(x, "x", ndim=4)
    kh, kw = _check_window(x, kernel_size, stride)
    B, C, Ho, _, Wo, _ = (win := _windows(x, (kh, kw))).shape
    flat = win.transpose(0, 1, 2, 4, 3, 5).reshape(B, C, Ho, Wo, kh * kw)  # row-major windows
    arg = flat.argmax(axis=-1)  # (B, C, H_out, W_out), the first maximum on ties
    y = flat.max(axis=-1)  # (B, C, H_out, W_out), the value at arg
    return y, MaxPoolCache(arg, x.shape, (kh, kw))


def max_pool2d_backward(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward`: ``dy`` goes to each window's arg max.

    Returns
    -------
    dx : ndarray, shape (B, C, H, W)
    """
    arg, (B, C, H, W), (kh, kw) = cache
    dout = check_dout(dout, arg.shape)
    Ho, Wo = arg.shape[2:]
    d_flat = np.zeros((B, C, Ho, Wo, kh * kw), dtype=dout.dtype)
    np.put_along_axis(d_flat, arg[..., None], dout[..., None], axis=-1)  # undo the arg max
    # undo the window flattening: (B, C, H_out, W_out, k_h, k_w) -> (B, C, H_out, k_h, W_out, k_w)
    d_win = d_flat.reshape(B, C, Ho, Wo, kh, kw).transpose(0, 1, 2, 4, 3, 5)
    return _unwindow(d_win, (H, W))


def _windows(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """View of ``x`` cropped to whole windows, shape (B, C, H_out, k_h, W_out, k_w)."""
    B, C, H, W = x.shape
    kh, kw = kernel
    Ho, Wo = H // kh, W // kw
    return x[:, :, : Ho * kh, : Wo * kw].reshape(B, C, Ho, kh, Wo, kw)


def _unwindow(d_win: np.ndarray, image: tuple[int, int]) -> np.ndarray:
    """Undo :func:`_windows`: (B, C, H_out, k_h, W_out, k_w) -> (B, C, H, W), zero padded."""
    B, C, Ho, kh, Wo, kw = d_win.shape
    dx = np.zeros((B, C, *image), dtype=d_win.dtype)
    dx[:, :, : Ho * kh, : Wo * kw] = d_win.reshape(B, C, Ho * kh, Wo * kw)  # dropped rows: 0
    return dx


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}={value!r}; expected an int or a pair of ints")
    for v in value:
        check_scalar(v, name, kind=int, low=1)
    return int(value[0]), int(value[1])


def _check_kernel(
    kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None
) -> tuple[int, int]:
    """``kernel_size`` as a pair; ``stride`` must be None or the same window."""
    kernel = _pair(kernel_size, "kernel_size")
    if stride is not None and _pair(stride, "stride") != kernel:
        raise ValueError(
            f"stride={stride!r} differs from kernel_size={kernel_size!r}; only "
            "non-overlapping pooling (stride = kernel_size) is supported"
        )
    return kernel


def _check_window(
    x: np.ndarray, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None
) -> tuple[int, int]:
    """The window as a pair, checked against ``x``'s image size."""
    kh, kw = _check_kernel(kernel_size, stride)
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ValueError(
            f"kernel_size={kernel_size!r} is larger than the input's image of "
            f"{x.shape[2]}x{x.shape[3]} pixels"
        )
    return kh, kw


class _Pool2d(Module):
    """Shared configuration of the two pooling modules (no parameters)."""

    _forward = staticmethod(avg_pool2d_forward)
    _backward = staticmethod(avg_pool2d_backward)

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        _check_kernel(kernel_size, stride)
        self.kernel_size, self.stride = kernel_size, stride
        self._cache: AvgPoolCache | MaxPoolCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Pool ``x`` of shape ``(B, C, H, W)``."""
        y, self._cache = self._forward(x, self.kernel_size, self.stride)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return ``dx`` of shape ``(B, C, H, W)``."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._backward(dout, self._cache)


class AvgPool2d(_Pool2d):
    """Average pooling over non-overlapping windows (:func:`avg_pool2d_forward`)."""


class MaxPool2d(_Pool2d):
    """Max pooling over non-overlapping windows (:func:`max_pool2d_forward`)."""

    _forward = staticmethod(max_pool2d_forward)
    _backward = staticmethod(max_pool2d_backward)
