"""Transposed 2-d convolution: the adjoint of conv2d, built from the same col2im and im2col.

``conv_transpose2d(x, W)`` is the gradient of ``conv2d(z, W)`` with respect to its input
``z``: each input pixel scatters a ``K_h x K_w`` patch, weighted by ``W``, onto an output that
is ``stride`` times larger (a learned upsampling, Zeiler et al. 2010; the "deconvolution" of
DCGAN and of the first U-Nets). With :math:`X` the input as a ``(C_in, B H W)`` matrix per group
and :math:`W_2` the weight as ``(C_in, C_out/G K_h K_w)``,

.. math::

    y = \\mathrm{col2im}(W_2^\\top X) + b, \\qquad
    \\bar{X} = W_2\\, \\mathrm{im2col}(\\bar{y}), \\qquad
    \\bar{W}_2 = X\\, \\mathrm{im2col}(\\bar{y})^\\top, \\qquad
    \\bar{b}_o = \\textstyle\\sum_{b,i,j} \\bar{y}_{b,o,i,j},

so the forward pass of one is the backward pass of the other (col2im and im2col from
:mod:`npml.nn.conv`). The output size is
``H_out = (H - 1) s - 2 p + d (K_h - 1) + output_padding + 1``; ``output_padding`` (less than
``stride`` or ``dilation``) picks among the sizes that a stride-``s`` conv2d maps to ``H``.
Weights use torch's ``ConvTranspose2d`` layout ``(C_in, C_out / groups, K_h, K_w)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_dout, check_scalar
from npml._module import Module
from npml.nn import _conv_args as args
from npml.nn._dtype import cast_input
from npml.nn.conv import col2im, conv_parameters, im2col


class ConvTranspose2dCache(NamedTuple):
    x: np.ndarray  # (B, C_in, H, W)
    W: np.ndarray  # (C_in, C_out / groups, K_h, K_w)
    stride: tuple[int, int]
    padding: tuple[int, int]  # rows and columns cropped from each side of the full output
    dilation: tuple[int, int]
    groups: int
    has_bias: bool
    out_shape: tuple[int, int, int, int]  # (B, C_out, H_out, W_out)


def conv_transpose2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> tuple[np.ndarray, ConvTranspose2dCache]:
    """Transposed convolution of ``x`` with ``W`` (module docstring; torch's argument order).

    Parameters
    ----------
    x : ndarray, shape (B, C_in, H, W)
    W : ndarray, shape (C_in, C_out / groups, K_h, K_w)
    b : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int), default 1
    padding : int or (int, int), default 0
        Rows and columns removed from each side of the full output.
    output_padding : int or (int, int), default 0
        Rows (columns) added at the bottom (right); each less than its stride or dilation.
    groups : int, default 1

    Returns
    -------
    y : ndarray, shape (B, C_out, H_out, W_out)
    cache : ConvTranspose2dCache
        Holds references to ``x`` and ``W`` (no copies).
    """
    x = check_array(x, "x", ndim=4)
    W = args.weight(W, "W", 4)
    C_in, C_og, kh, kw = W.shape
    if x.shape[1] != C_in:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {x.shape}) but W of shape {W.shape} "
            f"expects C_in={C_in}"
        )
    check_scalar(groups, "groups", kind=int, low=1)
    groups = args.groups_of(groups, C_in, C_og * groups)
    b = args.bias(b, C_og * groups)
    stride = args.int_pair(stride, "stride", 1)
    dilation = args.int_pair(dilation, "dilation", 1)
    pad = args.int_pair(padding, "padding", 0)
    out_pad = args.int_pair(output_padding, "output_padding", 0)
    size = []
    for n, k, s, d, p, op in zip(x.shape[2:], (kh, kw), stride, dilation, pad, out_pad):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding={output_padding!r}; expected less than stride={s} or dilation={d}"
            )
        size.append((n - 1) * s - 2 * p + d * (k - 1) + op + 1)
        if size[-1] < 1:
            raise ValueError(f"padding={padding!r} leaves an empty output ({size[-1]} pixels)")
    out_shape = (x.shape[0], C_og * groups, size[0], size[1])
    cache = ConvTranspose2dCache(x, W, stride, pad, dilation, groups, b is not None, out_shape)
    B, _, H, W_in = x.shape
    G, K = groups, C_og * kh * kw
    # 1. the input as a matrix per group: (G, C_in/G, N), N = B H W
    X = x.transpose(1, 0, 2, 3).reshape(G, C_in // G, B * H * W_in)
    # 2. one product per group: the columns of the output image
    cols = W.reshape(G, C_in // G, K).transpose(0, 2, 1) @ X  # (G, K, N)
    # 3. col2im scatters the columns onto the full output, (B, C_out, F_h, F_w) with
    #    F = (H - 1) s + d (K - 1) + 1, of which the window at `padding` is kept
    full = _full_shape(cache)
    y = col2im(cols.reshape(G * K, -1), full, (kh, kw), stride, ((0, 0), (0, 0)), dilation)
    y = _window(y, pad, out_shape)  # (B, C_out, H_out, W_out)
    if b is not None:
        y += b[:, None, None]
    return y, cache


def conv_transpose2d_backward(
    dout: np.ndarray, cache: ConvTranspose2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv_transpose2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (B, C_out, H_out, W_out)
    cache : ConvTranspose2dCache

    Returns
    -------
    dx : ndarray, shape (B, C_in, H, W)
    dW : ndarray, shape (C_in, C_out / groups, K_h, K_w)
    db : ndarray, shape (C_out,), or None when the forward pass had no bias
    """
    dout = check_dout(dout, cache.out_shape)
    x, W, G = cache.x, cache.W, cache.groups
    B, C_in, H, W_in = x.shape
    _, C_og, kh, kw = W.shape
    K = C_og * kh * kw
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    # 3. the window's adjoint (zeros around dout), then im2col, col2im's adjoint: (G, K, N)
    full = _full_shape(cache)
    dfull = _window_adjoint(dout, cache.padding, full)
    dcols = im2col(dfull, (kh, kw), cache.stride, ((0, 0), (0, 0)), cache.dilation)
    dcols = dcols.reshape(G, K, -1)
    # 2. the product, transposed once for each factor
    X = x.transpose(1, 0, 2, 3).reshape(G, C_in // G, -1)  # (G, C_in/G, N)
    dW = (X @ dcols.transpose(0, 2, 1)).reshape(W.shape)  # (G, C_in/G, K) -> W's shape
    dX = W.reshape(G, C_in // G, K) @ dcols  # (G, C_in/G, N)
    # 1. back to images
    dx = np.ascontiguousarray(dX.reshape(C_in, B, H, W_in).transpose(1, 0, 2, 3))
    return dx, dW, db


def _full_shape(cache: ConvTranspose2dCache) -> tuple[int, int, int, int]:
    """Shape of the uncropped output: ``F = (H - 1) s + d (K - 1) + 1`` along each axis."""
    B, _, H, W = cache.x.shape
    kh, kw = cache.W.shape[2:]
    (sh, sw), (dh, dw) = cache.stride, cache.dilation
    return B, cache.out_shape[1], (H - 1) * sh + dh * (kh - 1) + 1, (W - 1) * sw + dw * (kw - 1) + 1


def _window(full: np.ndarray, start: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """``full[..., p_h : p_h + H_out, p_w : p_w + W_out]``, zeros where it runs past the end
    (``output_padding`` larger than ``padding``)."""
    out = np.zeros(shape, dtype=full.dtype)
    n_h = min(shape[2], full.shape[2] - start[0])
    n_w = min(shape[3], full.shape[3] - start[1])
    out[:, :, :n_h, :n_w] = full[:, :, start[0] : start[0] + n_h, start[1] : start[1] + n_w]
    return out


def _window_adjoint(dout: np.ndarray, start: tuple[int, int], shape: tuple[int, ...]):
    """The adjoint of :func:`_window`: ``dout`` placed at ``start`` in zeros of ``shape``."""
    full = np.zeros(shape, dtype=dout.dtype)
    n_h = min(dout.shape[2], shape[2] - start[0])
    n_w = min(dout.shape[3], shape[3] - start[1])
    full[:, :, start[0] : start[0] + n_h, start[1] : start[1] + n_w] = dout[:, :, :n_h, :n_w]
    return full


class ConvTranspose2d(Module):
    """Transposed 2-d convolution layer (:func:`conv_transpose2d_forward`).

    Parameters
    ----------
    C_in, C_out : int
        Input and output channels; both divisible by ``groups``.
    kernel_size : int or (int, int)
    stride, padding, output_padding, groups, dilation
        As :func:`conv_transpose2d_forward`.
    bias : bool, default True
    rng : None, int or numpy.random.Generator
        ``W`` and ``b`` ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's
        ``fan_in = C_out/groups K_h K_w`` (computed from the weight's second axis).
    dtype : numpy float dtype, default float32

    Attributes
    ----------
    W : Parameter, shape (C_in, C_out / groups, K_h, K_w)
    b : Parameter, shape (C_out,) (only with ``bias=True``)
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
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
        self.output_padding = args.int_pair(output_padding, "output_padding", 0)
        self.dilation = args.int_pair(dilation, "dilation", 1)
        self.C_in, self.C_out, self.kernel_size = C_in, C_out, (kh, kw)
        rng = as_rng(rng)
        fan_in = C_out // self.groups * kh * kw
        shape = (C_in, C_out // self.groups, kh, kw)
        self.W, self.b = conv_parameters(shape, C_out, fan_in, bias, rng, dtype)
        self._cache: ConvTranspose2dCache | None = None

    def extra_repr(self) -> str:
        """The constructor's arguments, sizes shown as the tuples they resolved to (as torch)."""
        return self._config_repr(
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation=self.dilation,
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(B, C_in, H, W)``."""
        x = cast_input(x, "x", self.W.data.dtype)
        b = None if self.b is None else self.b.data
        y, self._cache = conv_transpose2d_forward(
            x, self.W.data, b, self.stride, self.padding, self.output_padding, self.groups,
            self.dilation,
        )  # fmt: skip
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (and ``b.grad``); return ``dx`` of shape ``(B, C_in, H, W)``."""
        if self._cache is None:
            raise RuntimeError("ConvTranspose2d.backward called before forward")
        dout = check_dout(dout, self._cache.out_shape).astype(self.W.data.dtype, copy=False)
        dx, dW, db = conv_transpose2d_backward(dout, self._cache)
        self.W.accumulate(dW)
        if self.b is not None:
            self.b.accumulate(db)
        return dx
