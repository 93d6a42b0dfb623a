"""The fast path of conv2d (and so of conv1d): per-image im2col tiles in a Numba ``prange``.

The reference (:mod:`npml.nn.conv`) builds one im2col matrix for the whole batch,
``C_in K_h K_w`` times the size of the input (75 MiB for 64 images of 32 x 32 x 32 in
float32), so most of its time goes to writing and reading that buffer from memory. Here the
images are shared out among the Numba workers; each worker, image by image, pads the image
into a small scratch, builds that image's im2col tile ``(C_in K_h K_w, H_out W_out)`` (about
1 MiB, cache-resident), and calls BLAS once per group on it, writing straight into the
output. The backward pass does the same per image: the tile is rebuilt, ``dW`` accumulates
in a per-worker partial sum (added at the end, so ``dW``'s rounding depends on how the images
were shared out, not on timing), and the column gradient is added back into a padded scratch
image (col2im) whose interior is ``dx``. BLAS is held at one thread while the kernels run (two
levels of threads oversubscribe the cores; see ``npml.nn._flash_driver._workers``).

Rule (:func:`use_kernel`): the kernel runs when the convolution has at least
``MIN_WORK`` multiply-adds; smaller calls (the gradient checks' shapes) run the reference,
where starting threads would cost more than it saves. Both give the same numbers to rounding
(``tests/nn/test_conv.py`` and the registry's twin check assert it). ``NUMBA_DISABLE_JIT=1``
runs the same loops as Python (slowly), for stepping through them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from npml._threading import parallel_region

MIN_WORK = 2**22  # multiply-adds (B C_out K H_out W_out) from which the kernel runs


def use_kernel(cache: Any) -> bool:
    """Whether the conv2d call described by ``cache`` (a ``Conv2dCache``) runs the kernel."""
    B, C_out, H_out, W_out = cache.out_shape
    K = cache.W.shape[1] * cache.W.shape[2] * cache.W.shape[3]
    return B * C_out * K * H_out * W_out >= MIN_WORK


# ---- per-image helpers ------------------------------------------------------------------------
@njit(cache=True)
def _pad_image(x, xp, pt, pl):
    """Copy image ``x`` (C, H, W) into the interior of the zeroed scratch ``xp`` (C, Hp, Wp)."""
    C, H, W = x.shape
    for c in range(C):
        for i in range(H):
            for j in range(W):
                xp[c, pt + i, pl + j] = x[c, i, j]


@njit(cache=True)
def _im2col_tile(xp, cols, kh, kw, sh, sw, dh, dw, H_out, W_out):
    """``cols[(c, k, l), (i, j)] = xp[c, s_h i + d_h k, s_w j + d_w l]`` for one padded image."""
    C = xp.shape[0]
    for c in range(C):
        for k in range(kh):
            for l in range(kw):
                row = (c * kh + k) * kw + l
                for i in range(H_out):
                    src = xp[c, sh * i + dh * k]
                    base = i * W_out
                    off = dw * l
                    if sw == 1:  # a contiguous run: a vectorised copy
                        cols[row, base : base + W_out] = src[off : off + W_out]
                    else:
                        for j in range(W_out):
                            cols[row, base + j] = src[sw * j + off]


@njit(cache=True)
def _col2im_tile(cols, xp, kh, kw, sh, sw, dh, dw, H_out, W_out):
    """The adjoint of :func:`_im2col_tile`: add ``cols`` into the padded image ``xp``."""
    C = xp.shape[0]
    for c in range(C):
        for k in range(kh):
            for l in range(kw):
                row = (c * kh + k) * kw + l
                for i in range(H_out):
                    dst = xp[c, sh * i + dh * k]
                    base = i * W_out
                    off = dw * l
                    if sw == 1:
                        dst[off : off + W_out] += cols[row, base : base + W_out]
                    else:
                        for j in range(W_out):
                            dst[sw * j + off] += cols[row, base + j]


def _chunks(B: int, n: int) -> np.ndarray:
    """Boundaries of ``n`` nearly equal runs of images: ``bounds[w] .. bounds[w + 1]``."""
    return np.linspace(0, B, n + 1).round().astype(np.int64)


# ---- the kernels ------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _conv2d_forward_kernel(x, W2, b, has_bias, geom, xp_all, cols_all, y, bounds):
    """``y[n] = W2[g] @ im2col(x[n])[g]`` per group, images shared out over the workers.

    x (B, C_in, H, W); W2 (G, C_out/G, K), K = C_in/G K_h K_w; y (B, G, C_out/G, H_out W_out);
    geom = (K_h, K_w, s_h, s_w, d_h, d_w, pad_top, pad_left, H_out, W_out); scratch per worker
    w: xp_all[w] (C_in, Hp, Wp) with a zero border, cols_all[w] (G, K, H_out W_out).
    """
    kh, kw, sh, sw, dh, dw, pt, pl, H_out, W_out = geom
    G, Og, K = W2.shape
    for w in prange(len(bounds) - 1):
        xp, cols = xp_all[w], cols_all[w]
        no_pad = xp.shape[1] == x.shape[2] and xp.shape[2] == x.shape[3]
        for n in range(bounds[w], bounds[w + 1]):
            if no_pad:  # (conv1d pads before it calls conv2d) read the image in place
                xp = x[n]
            else:
                _pad_image(x[n], xp, pt, pl)
            _im2col_tile(xp, cols.reshape(G * K, -1), kh, kw, sh, sw, dh, dw, H_out, W_out)
            for g in range(G):  # C-contiguous blocks: BLAS reads them in place
                np.dot(W2[g], cols[g], y[n, g])
            if has_bias:
                for g in range(G):
                    for o in range(Og):
                        y[n, g, o] += b[g * Og + o]


@njit(cache=True, parallel=True)
def _conv2d_backward_kernel(x, W2, dy, geom, xp_all, cols_all, dcols_all, dxp_all, dW_part,
                            dx, bounds):  # fmt: skip
    """Per image: ``dW += dy[n] im2col(x[n])^T``, ``dx[n] = col2im(W2^T dy[n])``, per group.

    dy (B, G, C_out/G, H_out W_out); dW_part (workers, G, C_out/G, K), zeroed, one partial sum per
    worker; dxp_all[w] (C_in, Hp, Wp) scratch of the padded input gradient; dx (B, C_in, H, W),
    written. Other arguments as :func:`_conv2d_forward_kernel`.
    """
    kh, kw, sh, sw, dh, dw, pt, pl, H_out, W_out = geom
    G, Og, K = W2.shape
    H, W = x.shape[2], x.shape[3]
    for w in prange(len(bounds) - 1):
        xp, cols, dcols, dxp = xp_all[w], cols_all[w], dcols_all[w], dxp_all[w]
        tmp = np.empty((Og, K), dtype=x.dtype)
        no_pad = xp.shape[1] == x.shape[2] and xp.shape[2] == x.shape[3]
        for n in range(bounds[w], bounds[w + 1]):
            if no_pad:
                xp = x[n]
            else:
                _pad_image(x[n], xp, pt, pl)
            _im2col_tile(xp, cols.reshape(G * K, -1), kh, kw, sh, sw, dh, dw, H_out, W_out)
            for g in range(G):
                dyg = dy[n, g]  # (C_out/G, H_out W_out)
                np.dot(dyg, cols[g].T, tmp)
                dW_part[w, g] += tmp
                np.dot(W2[g].T, dyg, dcols[g])
            dxp[:] = 0
            _col2im_tile(dcols.reshape(G * K, -1), dxp, kh, kw, sh, sw, dh, dw, H_out, W_out)
            dx[n] = dxp[:, pt : pt + H, pl : pl + W]


# ---- the calls ------------------------------------------------------------------------------
def _setup(x: np.ndarray, W: np.ndarray, cache: Any):
    """Contiguous arrays of one dtype, the geometry tuple, the workers and their images."""
    from npml.nn._flash_driver import _workers

    dtype = np.result_type(x, W)
    x = np.ascontiguousarray(x, dtype=dtype)
    G = cache.groups
    C_out, C_g, kh, kw = W.shape
    W2 = np.ascontiguousarray(W, dtype=dtype).reshape(G, C_out // G, C_g * kh * kw)
    B, C_in, H, W_in = x.shape
    (pt, pb), (pl, pr) = cache.padding
    H_out, W_out = cache.out_shape[2:]
    geom = (kh, kw, *cache.stride, *cache.dilation, pt, pl, H_out, W_out)
    n_workers, blas_limit = _workers(B * C_out * C_g * kh * kw * H_out * W_out)
    n_workers = max(1, min(n_workers, B))
    xp_all = np.zeros((n_workers, C_in, H + pt + pb, W_in + pl + pr), dtype=dtype)
    cols_all = np.empty((n_workers, G, C_g * kh * kw, H_out * W_out), dtype=dtype)
    return x, W2, geom, n_workers, blas_limit, xp_all, cols_all, _chunks(B, n_workers)


def conv2d_forward_fast(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, cache: Any
) -> np.ndarray:
    """:func:`npml.nn.conv._conv2d_forward_reference` by :func:`_conv2d_forward_kernel`."""
    x, W2, geom, n_workers, blas_limit, xp_all, cols_all, bounds = _setup(x, W, cache)
    B, C_out, H_out, W_out = cache.out_shape
    y = np.empty((B, cache.groups, C_out // cache.groups, H_out * W_out), dtype=x.dtype)
    has_bias = b is not None
    b = np.zeros(1, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    with blas_limit, parallel_region():
        _conv2d_forward_kernel(x, W2, b, has_bias, geom, xp_all, cols_all, y, bounds)
    return y.reshape(cache.out_shape)


def conv2d_backward_fast(
    dout: np.ndarray, cache: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`npml.nn.conv._conv2d_backward_reference` by :func:`_conv2d_backward_kernel`."""
    x, W2, geom, n_workers, blas_limit, xp_all, cols_all, bounds = _setup(cache.x, cache.W, cache)
    B, C_out, H_out, W_out = cache.out_shape
    dtype = np.result_type(x, dout)
    if dtype != x.dtype:  # float64 dout into a float32 convolution: compute in float64
        x, W2, xp_all, cols_all = (a.astype(dtype) for a in (x, W2, xp_all, cols_all))
    G = cache.groups
    dy = np.ascontiguousarray(dout, dtype=dtype).reshape(B, G, C_out // G, H_out * W_out)
    dcols_all = np.empty_like(cols_all)
    dxp_all = np.empty_like(xp_all)
    dW_part = np.zeros((n_workers, *W2.shape), dtype=dtype)
    dx = np.empty(x.shape, dtype=dtype)
    with blas_limit, parallel_region():
        _conv2d_backward_kernel(x, W2, dy, geom, xp_all, cols_all, dcols_all, dxp_all,
                                dW_part, dx, bounds)  # fmt: skip
    dW = dW_part.sum(axis=0).reshape(cache.W.shape)
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dW, db
