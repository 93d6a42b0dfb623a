"""Two-dimensional convolution by im2col: one matrix product, and its hand-written backward.

A convolution (cross-correlation, as in every deep-learning library) with stride :math:`s`,
dilation :math:`d`, zero padding and :math:`G` groups computes, for output channel :math:`o`
in group :math:`g(o)`,

.. math::

    y_{b,o,i,j} = b_o + \\sum_{c \\in g(o)} \\sum_{k=0}^{K_h-1} \\sum_{l=0}^{K_w-1}
        W_{o,c,k,l}\\; x^{pad}_{b,\\,c,\\; s_h i + d_h k,\\; s_w j + d_w l}.

**im2col** gathers every input value a kernel position touches into one column per output
pixel: ``cols[(c, k, l), (b, i, j)] = x_pad[b, c, s_h i + d_h k, s_w j + d_w l]``, a matrix of
shape ``(C K_h K_w, B H_out W_out)``. The convolution is then one product per group,
:math:`Y = W_2\\, \\mathrm{cols}` with :math:`W_2` the weight reshaped to ``(C_out, C_in/G K_h
K_w)``, so that BLAS does the work (Chellapilla, Puri & Simard, "High performance
convolutional neural networks for document processing", 2006). The backward pass is the
same product transposed twice, plus **col2im**, the adjoint of im2col, which adds every
column entry back onto the pixel it was read from:

.. math::

    \\bar{W}_2 = \\bar{Y}\\, \\mathrm{cols}^\\top, \\qquad
    \\bar{x} = \\mathrm{col2im}(W_2^\\top \\bar{Y}), \\qquad
    \\bar{b}_o = \\textstyle\\sum_{b,i,j} \\bar{y}_{b,o,i,j}.

Weights use torch's layout ``(C_out, C_in / groups, K_h, K_w)``, so a ``torch.nn.Conv2d``'s
``weight`` and ``bias`` port directly (``W = conv.weight.detach().numpy()``).
:func:`conv2d_forward` runs the Numba path of :mod:`npml.nn._conv_kernels` when
:func:`npml.nn._conv_kernels.use_kernel` says it pays (see there); this file is the
definition it is tested against.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_dout, check_scalar
from npml._module import Module, Parameter
from npml.nn import _conv_args as args
from npml.nn._dtype import cast_input
from npml.nn.linear import uniform_init

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


# ---- im2col and its adjoint -----------------------------------------------------------------
def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: Pads,
    dilation: tuple[int, int],
) -> np.ndarray:
    """The im2col matrix of ``x``: one column per output pixel (module docstring).

    Parameters
    ----------
    x : ndarray, shape (B, C, H, W)
    kernel_size, stride, dilation : pair of int
    padding : ((top, bottom), (left, right))
        Zeros added on each side.

    Returns
    -------
    cols : ndarray, shape (C * K_h * K_w, B * H_out * W_out)
        ``cols[(c, k, l), (b, i, j)] = x_pad[b, c, s_h i + d_h k, s_w j + d_w l]``, C-contiguous.
    """
    B, C, H, W = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    H_out = args.out_size(H, padding[0], kh, sh, dh, "rows")
    W_out = args.out_size(W, padding[1], kw, sw, dw, "columns")
    xp = np.pad(x, ((0, 0), (0, 0), *padding)) if any(map(any, padding)) else x  # (B, C, Hp, Wp)
    tb, tc, th, tw = xp.strides
    view = np.lib.stride_tricks.as_strided(  # a view, no copy: (C, K_h, K_w, B, H_out, W_out)
        xp,
        shape=(C, kh, kw, B, H_out, W_out),
        strides=(tc, th * dh, tw * dw, tb, th * sh, tw * sw),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(C * kh * kw, B * H_out * W_out)  # the one copy


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: Pads,
    dilation: tuple[int, int],
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each column entry onto the pixel it was read from.

    Parameters
    ----------
    cols : ndarray, shape (C * K_h * K_w, B * H_out * W_out)
    x_shape : (B, C, H, W)
        Shape of the unpadded image.
    kernel_size, stride, padding, dilation
        As given to :func:`im2col`.

    Returns
    -------
    x : ndarray, shape (B, C, H, W)
        ``<im2col(x), cols> = <x, col2im(cols)>`` for every ``x`` (the adjoint).
    """
    B, C, H, W = x_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    (pt, pb), (pl, pr) = padding
    H_out = args.out_size(H, padding[0], kh, sh, dh, "rows")
    W_out = args.out_size(W, padding[1], kw, sw, dw, "columns")
    c6 = cols.reshape(C, kh, kw, B, H_out, W_out)
    xp = np.zeros((B, C, H + pt + pb, W + pl + pr), dtype=cols.dtype)  # (B, C, Hp, Wp)
    for k in range(kh):  # one strided add per kernel offset: within one, no pixel repeats
        for l in range(kw):
            rows = slice(k * dh, k * dh + sh * (H_out - 1) + 1, sh)
            columns = slice(l * dw, l * dw + sw * (W_out - 1) + 1, sw)
            xp[:, :, rows, columns] += c6[:, k, l].transpose(1, 0, 2, 3)  # (B, C, H_out, W_out)
    return xp[:, :, pt : pt + H, pl : pl + W]


# ---- conv2d ----------------------------------------------------------------------------------
class Conv2dCache(NamedTuple):
    x: np.ndarray  # (B, C_in, H, W), the input (a reference): cols are rebuilt from it
    W: np.ndarray  # (C_out, C_in / groups, K_h, K_w)
    stride: tuple[int, int]
    padding: Pads
    dilation: tuple[int, int]
    groups: int
    has_bias: bool
    out_shape: tuple[int, int, int, int]  # (B, C_out, H_out, W_out)


def conv2d_args(
    x: Any, W: Any, b: Any, stride: Any, padding: Any, dilation: Any, groups: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Conv2dCache]:
    """Checked arrays and the cache of a :func:`conv2d_forward` call (shared with the kernel)."""
    x = check_array(x, "x", ndim=4)
    W = args.weight(W, "W", 4)
    C_out, C_g, kh, kw = W.shape
    groups = args.groups_of(groups, x.shape[1], C_out)
    if x.shape[1] != C_g * groups:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {x.shape}) but W of shape {W.shape} with "
            f"groups={groups} expects C_in={C_g * groups}"
        )
    b = args.bias(b, C_out)
    stride = args.int_pair(stride, "stride", 1)
    ph, pw = args.int_pair(padding, "padding", 0)
    dilation = args.int_pair(dilation, "dilation", 1)
    pads = ((ph, ph), (pw, pw))
    H_out = args.out_size(x.shape[2], pads[0], kh, stride[0], dilation[0], "rows")
    W_out = args.out_size(x.shape[3], pads[1], kw, stride[1], dilation[1], "columns")
    out_shape = (x.shape[0], C_out, H_out, W_out)
    return x, W, b, Conv2dCache(x, W, stride, pads, dilation, groups, b is not None, out_shape)


def conv2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[np.ndarray, Conv2dCache]:
    """2-d convolution (cross-correlation) of ``x`` with ``W`` (module docstring).

    Parameters
    ----------
    x : ndarray, shape (B, C_in, H, W)
        Input images; NaN or infinity raises ``ValueError``.
    W : ndarray, shape (C_out, C_in / groups, K_h, K_w)
        torch's layout.
    b : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on both sides of the rows and of the columns.
    groups : int, default 1
        Input and output channels are split into ``groups`` blocks; block ``g`` of the
        output sees block ``g`` of the input only (``groups = C_in``: depthwise).

    Returns
    -------
    y : ndarray, shape (B, C_out, H_out, W_out)
        ``H_out = floor((H + 2 p_h - d_h (K_h - 1) - 1) / s_h) + 1``, ``W_out`` likewise.
    cache : Conv2dCache
        Holds references to ``x`` and ``W`` (no copies): overwriting them before the
        backward pass changes the gradients.
    """
    from npml.nn import _conv_kernels

    x, W, b, cache = conv2d_args(x, W, b, stride, padding, dilation, groups)
    if _conv_kernels.use_kernel(cache):
        return _conv_kernels.conv2d_forward_fast(x, W, b, cache), cache
    return _conv2d_forward_reference(x, W, b, cache), cache


def _conv2d_forward_reference(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, cache: Conv2dCache
) -> np.ndarray:
    B, C_out, H_out, W_out = cache.out_shape
    G, (_, C_g, kh, kw) = cache.groups, W.shape
    # 1. im2col: (C_in K_h K_w, N), N = B H_out W_out; rows of group g are contiguous
    cols = im2col(x, (kh, kw), cache.stride, cache.padding, cache.dilation)
    cols = cols.reshape(G, C_g * kh * kw, -1)  # (G, K, N), K = C_in/G K_h K_w
    # 2. one product per group
    y = W.reshape(G, C_out // G, C_g * kh * kw) @ cols  # (G, C_out/G, N)
    # 3. back to images
    y = y.reshape(C_out, B, H_out, W_out).transpose(1, 0, 2, 3)  # (B, C_out, H_out, W_out)
    y = np.ascontiguousarray(y)
    if b is not None:
        y += b[:, None, None]
    return y


def conv2d_backward(
    dout: np.ndarray, cache: Conv2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward` (module docstring).

    Parameters
    ----------
    dout : ndarray, shape (B, C_out, H_out, W_out)
    cache : Conv2dCache

    Returns
    -------
    dx : ndarray, shape (B, C_in, H, W)
    dW : ndarray, shape (C_out, C_in / groups, K_h, K_w)
    db : ndarray, shape (C_out,), or None when the forward pass had no bias
    """
    from npml.nn import _conv_kernels

    dout = check_dout(dout, cache.out_shape)
    if _conv_kernels.use_kernel(cache):
        return _conv_kernels.conv2d_backward_fast(dout, cache)
    return _conv2d_backward_reference(dout, cache)


def _conv2d_backward_reference(
    dout: np.ndarray, cache: Conv2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x, W = cache.x, cache.W
    G, (C_out, C_g, kh, kw) = cache.groups, W.shape
    K = C_g * kh * kw
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    # 3. images back to (G, C_out/G, N)
    dy = dout.transpose(1, 0, 2, 3).reshape(G, C_out // G, -1)
    # 1. (rebuilt) im2col, as in the forward pass
    cols = im2col(x, (kh, kw), cache.stride, cache.padding, cache.dilation).reshape(G, K, -1)
    # 2. the product, transposed once for each factor
    dW = (dy @ cols.transpose(0, 2, 1)).reshape(W.shape)  # (G, C_out/G, K) -> W's shape
    dcols = W.reshape(G, C_out // G, K).transpose(0, 2, 1) @ dy  # (G, K, N)
    # 1. col2im, the adjoint of im2col
    dx = col2im(
        dcols.reshape(G * K, -1), x.shape, (kh, kw), cache.stride, cache.padding, cache.dilation
    )
    return dx, dW, db


# ---- the module ------------------------------------------------------------------------------
def kaiming_uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: Any):
    """torch's default convolution init: Kaiming-uniform with ``a = sqrt(5)``.

    The bound ``gain * sqrt(3 / fan_in)`` with ``gain = sqrt(2 / (1 + a^2))`` is
    ``1 / sqrt(fan_in)``: weights and biases both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    return uniform_init(shape, fan_in, rng, dtype)


def conv_parameters(
    shape: tuple[int, ...],
    C_out: int,
    fan_in: int,
    bias: bool,
    rng: np.random.Generator,
    dtype: Any,
) -> tuple[Parameter, Parameter | None]:
    """A convolution layer's ``W`` of ``shape`` and ``b`` of ``(C_out,)``, or ``None`` without a
    bias, both initialised by :func:`kaiming_uniform`. ``b`` is drawn even when ``bias`` is
    False, so a seed gives the same ``W`` either way (as torch)."""
    W = Parameter(kaiming_uniform(shape, fan_in, rng, dtype), decay=True)
    b = Parameter(kaiming_uniform((C_out,), fan_in, rng, dtype), decay=False)
    return W, (b if bias else None)


class Conv2d(Module):
    """2-d convolution layer over ``(B, C_in, H, W)`` images (:func:`conv2d_forward`).

    Parameters
    ----------
    C_in, C_out : int
        Input and output channels; both divisible by ``groups``.
    kernel_size : int or (int, int)
    stride, padding, dilation, groups
        As :func:`conv2d_forward`.
    bias : bool, default True
    rng : None, int or numpy.random.Generator
        ``W`` and ``b`` ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), ``fan_in = C_in/groups K_h K_w``
        (torch's default).
    dtype : numpy float dtype, default float32
        Dtype of the parameters; ``forward`` casts its input to it.

    Attributes
    ----------
    W : Parameter, shape (C_out, C_in / groups, K_h, K_w)
    b : Parameter, shape (C_out,) (only with ``bias=True``)
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        rng: None | int | np.random.Generator = None,
        dtype: Any = np.float32,
    ) -> None:
        bias = check_bool(bias, "bias")
        check_scalar(C_in, "C_in", kind=int, low=1)
        check_scalar(C_out, "C_out", kind=int, low=1)
        kh, kw = args.int_pair(kernel_size, "kernel_size", 1)
        self.groups = args.groups_of(groups, C_in, C_out)
        self.stride = args.int_pair(stride, "stride", 1)
        self.padding = args.int_pair(padding, "padding", 0)
        self.dilation = args.int_pair(dilation, "dilation", 1)
        self.C_in, self.C_out, self.kernel_size = C_in, C_out, (kh, kw)
        rng = as_rng(rng)
        fan_in = C_in // self.groups * kh * kw
        shape = (C_out, C_in // self.groups, kh, kw)
        self.W, self.b = conv_parameters(shape, C_out, fan_in, bias, rng, dtype)
        self._cache: Conv2dCache | None = None

    def extra_repr(self) -> str:
        """The constructor's arguments, sizes shown as the tuples they resolved to (as torch)."""
        return self._config_repr(
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(B, C_in, H, W)``."""
        x = cast_input(x, "x", self.W.data.dtype)
        b = None if self.b is None else self.b.data
        y, self._cache = conv2d_forward(
            x, self.W.data, b, self.stride, self.padding, self.dilation, self.groups
        )
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (and ``b.grad``); return ``dx`` of shape ``(B, C_in, H, W)``."""
        if self._cache is None:
            raise RuntimeError("Conv2d.backward called before forward")
        dout = check_dout(dout, self._cache.out_shape).astype(self.W.data.dtype, copy=False)
        dx, dW, db = conv2d_backward(dout, self._cache)
        self.W.accumulate(dW)
        if self.b is not None:
            self.b.accumulate(db)
        return dx
