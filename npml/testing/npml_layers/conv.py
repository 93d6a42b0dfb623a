"""Registry entries of the convolutions: conv1d, conv2d, conv_transpose2d and their modules.

Samples cover the awkward cases of issue 15: batch 1, odd sizes, stride 2 on an odd input,
padding larger than half the kernel, dilation 2, groups 2 and depthwise, K = 1, causal.
Oracles are torch's ``F.conv1d`` / ``F.conv2d`` / ``F.conv_transpose2d`` with the same weights.
"""

from __future__ import annotations

import numpy as np

from npml.nn import (
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import backward_before_forward, randn, torch_oracle

# The kernel adds dW image by image (per-worker partial sums), the reference in one product:
# in float32 a dW entry (a sum of ~1000 products, magnitude ~40) then differs by ~5e-5.
TWIN_TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

# ---- conv2d ---------------------------------------------------------------------------------
CONV2D_CASES = [  # (B, C_in, H, W), C_out, (K_h, K_w), stride, padding, dilation, groups, bias
    ((1, 3, 5, 5), 2, (3, 3), 1, 1, 1, 1, True),  # batch 1, "same" padding
    ((2, 2, 7, 6), 3, (3, 2), 2, 0, 1, 1, True),  # stride 2 on an odd input
    ((2, 3, 4, 5), 2, (3, 3), 1, 2, 1, 1, False),  # padding larger than the kernel's half
    ((1, 2, 9, 8), 2, (3, 3), (2, 1), (1, 2), 2, 1, True),  # dilation 2, pairs
    ((2, 4, 5, 5), 6, (3, 3), 1, 1, 1, 2, True),  # groups 2
    ((1, 3, 6, 5), 3, (3, 3), 2, 1, 1, 3, True),  # depthwise
    ((2, 3, 3, 4), 5, (1, 1), 1, 0, 1, 1, True),  # K = 1: a per-pixel linear map
]


def _desc2(case):
    x_shape, C_out, k, s, p, d, g, bias = case
    return f"x{x_shape} C_out={C_out} k={k} s={s} p={p} d={d} g={g}" + ("" if bias else " no b")


def conv2d_samples(rng, dtype):
    for case in CONV2D_CASES:
        x_shape, C_out, (kh, kw), s, p, d, g, bias = case
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W": randn(rng, (C_out, x_shape[1] // g, kh, kw), dtype),
            "b": randn(rng, (C_out,), dtype) if bias else None,
            "stride": s,
            "padding": p,
            "dilation": d,
            "groups": g,
        }
        yield Sample(kwargs, _desc2(case))


def conv2d_oracle(sample, dout):
    import torch

    kw = sample.kwargs
    arrays = {k: kw[k] for k in ("x", "W", "b") if kw[k] is not None}
    const = {k: kw[k] for k in ("stride", "padding", "dilation", "groups")}

    def conv(x, W, b=None, **c):
        return torch.nn.functional.conv2d(x, W, b, **c)

    return torch_oracle(conv, arrays, dout, **const)


def conv2d_errors(rng, dtype):
    x, W = randn(rng, (2, 4, 5, 5), dtype), randn(rng, (3, 4, 3, 3), dtype)
    yield ErrorInput("x", lambda: conv2d_forward(x[:, :3], W), match="channels")
    yield ErrorInput("x", lambda: conv2d_forward(x[0], W), match="ndim")
    yield ErrorInput("W", lambda: conv2d_forward(x, W[:, :, 0]))
    yield ErrorInput("W", lambda: conv2d_forward(x[:, :, :2], W), match="padded input")
    yield ErrorInput("W", lambda: conv2d_forward(x, W, dilation=3), match="padded input")
    yield ErrorInput("stride", lambda: conv2d_forward(x, W, stride=0))
    yield ErrorInput("stride", lambda: conv2d_forward(x, W, stride=(1, -1)))
    yield ErrorInput("stride", lambda: conv2d_forward(x, W, stride=1.5), TypeError)
    yield ErrorInput("padding", lambda: conv2d_forward(x, W, padding=-1))
    yield ErrorInput("padding", lambda: conv2d_forward(x, W, padding=(1, 2, 3)))
    yield ErrorInput("dilation", lambda: conv2d_forward(x, W, dilation=0))
    yield ErrorInput("groups", lambda: conv2d_forward(x, W[:, :2], groups=2), match="divide")
    yield ErrorInput("groups", lambda: conv2d_forward(x, W, groups=0))
    yield ErrorInput("b", lambda: conv2d_forward(x, W, np.ones(2, dtype)))


def conv2d_twin_samples(rng, dtype):
    """Large enough for the kernel path (``_conv_kernels.MIN_WORK`` multiply-adds)."""
    cases = [  # (B, C_in, H, W), C_out, (K_h, K_w), stride, padding, dilation, groups, bias
        ((3, 32, 16, 15), 32, (3, 3), 1, 1, 1, 1, True),  # odd batch: workers get unequal runs
        ((8, 32, 17, 16), 64, (3, 3), (2, 1), (2, 1), (1, 2), 2, False),
        ((8, 64, 32, 32), 64, (3, 3), 1, 1, 1, 64, True),  # depthwise
        ((8, 64, 16, 16), 64, (1, 1), 1, 0, 1, 1, True),  # K = 1
    ]
    for case in cases:
        x_shape, C_out, (kh, kw), s, p, d, g, bias = case
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W": randn(rng, (C_out, x_shape[1] // g, kh, kw), dtype, 0.1),
            "b": randn(rng, (C_out,), dtype) if bias else None,
            "stride": s,
            "padding": p,
            "dilation": d,
            "groups": g,
        }
        yield Sample(kwargs, _desc2(case))


def conv2d_twin(sample, dout):
    """The plain-NumPy reference of ``conv.py`` (the public function ran the kernel)."""
    from npml.nn import conv

    kw = sample.kwargs
    x, W, b, cache = conv.conv2d_args(
        kw["x"], kw["W"], kw["b"], kw["stride"], kw["padding"], kw["dilation"], kw["groups"]
    )
    y = conv._conv2d_forward_reference(x, W, b, cache)
    dx, dW, db = conv._conv2d_backward_reference(dout, cache)
    return y, {"x": dx, "W": dW} | ({} if db is None else {"b": db})


register(
    LayerInfo(
        "conv2d",
        conv2d_forward,
        conv2d_backward,
        ("x", "W", "b"),
        conv2d_samples,
        oracle=conv2d_oracle,
        error_inputs=conv2d_errors,
        twin=conv2d_twin,
        twin_samples=conv2d_twin_samples,
        twin_tol=TWIN_TOL,
        checked_inputs=("x",),
        covers=("conv2d_forward", "conv2d_backward"),
    )
)


def conv2d_module_samples(rng, dtype):
    m = Conv2d(3, 4, 3, padding=1, rng=rng, dtype=dtype)
    yield Sample({"x": randn(rng, (2, 3, 5, 4), dtype)}, "3->4 k=3 p=1", m)
    m = Conv2d(4, 2, (2, 3), stride=2, groups=2, bias=False, rng=rng, dtype=dtype)
    yield Sample({"x": randn(rng, (1, 4, 7, 7), dtype)}, "groups 2, stride 2, no bias", m)


def conv2d_module_errors(rng, dtype):
    m = Conv2d(3, 4, 3, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(randn(rng, (2, 2, 5, 5), dtype)), match="channels")
    yield ErrorInput("C_in", lambda: Conv2d(0, 3, 3))
    yield ErrorInput("kernel_size", lambda: Conv2d(3, 3, 0))
    yield ErrorInput("groups", lambda: Conv2d(4, 6, 3, groups=4))
    yield ErrorInput("stride", lambda: Conv2d(3, 3, 3, stride=0))
    yield ErrorInput("bias", lambda: Conv2d(3, 2, 3, bias="yes"), TypeError)
    yield backward_before_forward(lambda: Conv2d(2, 2, 1))


register(
    LayerInfo(
        "Conv2d",
        None,
        None,
        ("x",),
        conv2d_module_samples,
        module=True,
        error_inputs=conv2d_module_errors,
        checked_inputs=("x",),
        covers=("Conv2d",),
    )
)


# ---- conv1d ---------------------------------------------------------------------------------
CONV1D_CASES = [  # (B, C_in, T), C_out, K, stride, padding, dilation, causal, bias
    ((1, 3, 7), 2, 3, 1, 0, 1, False, True),  # batch 1, odd T
    ((2, 2, 9), 3, 3, 2, 1, 1, False, True),  # stride 2 on an odd input
    ((2, 3, 5), 2, 3, 1, (3, 1), 1, False, False),  # asymmetric padding > the kernel's half
    ((2, 2, 8), 2, 3, 1, 0, 2, True, True),  # causal, dilation 2
    ((1, 3, 6), 4, 2, 1, 0, 1, True, False),  # causal, even K
    ((2, 3, 5), 2, 1, 1, 0, 1, False, True),  # K = 1
]


def conv1d_samples(rng, dtype):
    for x_shape, C_out, K, s, p, d, causal, bias in CONV1D_CASES:
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W": randn(rng, (C_out, x_shape[1], K), dtype),
            "b": randn(rng, (C_out,), dtype) if bias else None,
            "stride": s,
            "padding": p,
            "dilation": d,
            "causal": causal,
        }
        desc = f"x{x_shape} C_out={C_out} K={K} s={s} p={p} d={d}" + (" causal" if causal else "")
        yield Sample(kwargs, desc + ("" if bias else " no b"))


def conv1d_oracle(sample, dout):
    import torch

    kw = sample.kwargs
    arrays = {k: kw[k] for k in ("x", "W", "b") if kw[k] is not None}
    K, p, d = kw["W"].shape[2], kw["padding"], kw["dilation"]
    pads = (d * (K - 1), 0) if kw["causal"] else (p if isinstance(p, tuple) else (p, p))
    F = torch.nn.functional

    def conv(x, W, b=None):
        return F.conv1d(F.pad(x, pads), W, b, stride=kw["stride"], dilation=d)

    return torch_oracle(conv, arrays, dout)


def conv1d_errors(rng, dtype):
    x, W = randn(rng, (2, 4, 6), dtype), randn(rng, (3, 4, 3), dtype)
    yield ErrorInput("x", lambda: conv1d_forward(x[:, :3], W), match="channels")
    yield ErrorInput("W", lambda: conv1d_forward(x, W[..., None]))
    yield ErrorInput("W", lambda: conv1d_forward(x[..., :2], W), match="padded input")
    yield ErrorInput("stride", lambda: conv1d_forward(x, W, stride=0))
    yield ErrorInput("dilation", lambda: conv1d_forward(x, W, dilation=-2))
    yield ErrorInput("padding", lambda: conv1d_forward(x, W, padding=1, causal=True))


def conv1d_twin_samples(rng, dtype):
    """The benchmark's causal dilated case, smaller: the kernel path of conv2d."""
    for causal, d, s in [(True, 2, 1), (False, 1, 2)]:
        kwargs = {
            "x": randn(rng, (9, 48, 203), dtype),
            "W": randn(rng, (48, 48, 3), dtype, 0.1),
            "b": randn(rng, (48,), dtype),
            "stride": s,
            "padding": 0 if causal else (2, 1),
            "dilation": d,
            "causal": causal,
        }
        yield Sample(kwargs, f"(9, 48, 203) K=3 d={d} s={s}" + (" causal" if causal else ""))


def conv1d_twin(sample, dout):
    """conv1d as its docstring defines it: pad the time axis, then the conv2d reference."""
    from npml.nn import conv

    kw = sample.kwargs
    x, W, K = kw["x"], kw["W"], kw["W"].shape[2]
    pads = (kw["dilation"] * (K - 1), 0) if kw["causal"] else kw["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), pads))[:, :, None, :]  # (B, C_in, 1, T_pad)
    xp, W4, b, cache = conv.conv2d_args(
        xp, W[:, :, None, :], kw["b"], (1, kw["stride"]), 0, (1, kw["dilation"]), 1
    )
    y = conv._conv2d_forward_reference(xp, W4, b, cache)[:, :, 0]
    dxp, dW, db = conv._conv2d_backward_reference(dout[:, :, None, :], cache)
    dx = dxp[:, :, 0, pads[0] : pads[0] + x.shape[2]]
    return y, {"x": dx, "W": dW[:, :, 0], "b": db}


register(
    LayerInfo(
        "conv1d",
        conv1d_forward,
        conv1d_backward,
        ("x", "W", "b"),
        conv1d_samples,
        oracle=conv1d_oracle,
        error_inputs=conv1d_errors,
        twin=conv1d_twin,
        twin_samples=conv1d_twin_samples,
        twin_tol=TWIN_TOL,
        checked_inputs=("x",),
        flags=("causal",),
        covers=("conv1d_forward", "conv1d_backward"),
    )
)


def conv1d_module_samples(rng, dtype):
    m = Conv1d(3, 4, 3, dilation=2, causal=True, rng=rng, dtype=dtype)
    yield Sample({"x": randn(rng, (2, 3, 7), dtype)}, "causal 3->4 K=3 d=2", m)
    m = Conv1d(2, 3, 2, stride=2, padding=1, bias=False, rng=rng, dtype=dtype)
    yield Sample({"x": randn(rng, (1, 2, 5), dtype)}, "stride 2, p=1, no bias", m)


def conv1d_module_errors(rng, dtype):
    m = Conv1d(3, 4, 3, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(randn(rng, (2, 2, 5), dtype)), match="channels")
    yield ErrorInput("C_out", lambda: Conv1d(3, 0, 3))
    yield ErrorInput("padding", lambda: Conv1d(3, 3, 3, padding=1, causal=True))
    yield ErrorInput("causal", lambda: Conv1d(3, 3, 3, causal=1), TypeError)
    yield ErrorInput("bias", lambda: Conv1d(3, 2, 3, bias="yes"), TypeError)
    yield backward_before_forward(lambda: Conv1d(2, 2, 1))


register(
    LayerInfo(
        "Conv1d",
        None,
        None,
        ("x",),
        conv1d_module_samples,
        module=True,
        error_inputs=conv1d_module_errors,
        checked_inputs=("x",),
        covers=("Conv1d",),
    )
)


# ---- conv_transpose2d -----------------------------------------------------------------------
CONVT_CASES = [  # (B, C_in, H, W), C_out, (K_h, K_w), stride, padding, output_padding, groups, d
    ((1, 3, 3, 4), 2, (3, 3), 1, 0, 0, 1, 1),  # batch 1
    ((2, 2, 3, 3), 3, (4, 4), 2, 1, 0, 1, 1),  # the 2x upsampling of DCGAN
    ((2, 2, 3, 4), 2, (3, 2), 2, (1, 0), (1, 1), 1, 1),  # output_padding, odd output
    ((1, 4, 3, 3), 6, (3, 3), 1, 2, 0, 2, 1),  # groups 2, padding larger than the kernel's half
    ((2, 3, 4, 3), 3, (3, 3), 2, 1, 1, 3, 1),  # depthwise
    ((1, 2, 4, 4), 2, (3, 3), 1, 1, 1, 1, 2),  # dilation 2 (output_padding < dilation)
    ((2, 3, 2, 3), 4, (1, 1), 1, 0, 0, 1, 1),  # K = 1
]


def convt_samples(rng, dtype):
    for x_shape, C_out, (kh, kw), s, p, op, g, d in CONVT_CASES:
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W": randn(rng, (x_shape[1], C_out // g, kh, kw), dtype),
            "b": randn(rng, (C_out,), dtype) if s == 2 or g > 1 else None,
            "stride": s,
            "padding": p,
            "output_padding": op,
            "groups": g,
            "dilation": d,
        }
        desc = f"x{x_shape} C_out={C_out} k={(kh, kw)} s={s} p={p} op={op} g={g} d={d}"
        yield Sample(kwargs, desc + ("" if kwargs["b"] is not None else " no b"))


def convt_oracle(sample, dout):
    import torch

    kw = sample.kwargs
    arrays = {k: kw[k] for k in ("x", "W", "b") if kw[k] is not None}
    const = {k: kw[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}

    def conv(x, W, b=None, **c):
        return torch.nn.functional.conv_transpose2d(x, W, b, **c)

    return torch_oracle(conv, arrays, dout, **const)


def convt_errors(rng, dtype):
    x, W = randn(rng, (2, 4, 3, 3), dtype), randn(rng, (4, 3, 3, 3), dtype)
    f = conv_transpose2d_forward
    yield ErrorInput("x", lambda: f(x[:, :3], W), match="channels")
    yield ErrorInput("W", lambda: f(x, W[0]))
    yield ErrorInput("stride", lambda: f(x, W, stride=0))
    yield ErrorInput("output_padding", lambda: f(x, W, stride=2, output_padding=2))
    yield ErrorInput("padding", lambda: f(x, W, padding=4), match="empty")
    yield ErrorInput("groups", lambda: f(x, W, groups=3), match="divide")
    yield ErrorInput("b", lambda: f(x, W, np.ones(4, dtype)))


register(
    LayerInfo(
        "conv_transpose2d",
        conv_transpose2d_forward,
        conv_transpose2d_backward,
        ("x", "W", "b"),
        convt_samples,
        oracle=convt_oracle,
        error_inputs=convt_errors,
        checked_inputs=("x",),
        covers=("conv_transpose2d_forward", "conv_transpose2d_backward"),
    )
)


def convt_module_samples(rng, dtype):
    m = ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=rng, dtype=dtype)
    yield Sample({"x": randn(rng, (2, 3, 3, 4), dtype)}, "3->2 k=4 s=2 p=1", m)
    m = ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, groups=2, bias=False, rng=rng,
                        dtype=dtype)  # fmt: skip
    yield Sample({"x": randn(rng, (1, 4, 3, 3), dtype)}, "groups 2, output_padding, no bias", m)


def convt_module_errors(rng, dtype):
    m = ConvTranspose2d(3, 4, 3, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(randn(rng, (2, 2, 5, 5), dtype)), match="channels")
    yield ErrorInput("C_out", lambda: ConvTranspose2d(3, 0, 3))
    yield ErrorInput("groups", lambda: ConvTranspose2d(4, 6, 3, groups=4))
    yield ErrorInput("bias", lambda: ConvTranspose2d(3, 2, 3, bias=1), TypeError)
    yield backward_before_forward(lambda: ConvTranspose2d(2, 2, 1))


register(
    LayerInfo(
        "ConvTranspose2d",
        None,
        None,
        ("x",),
        convt_module_samples,
        module=True,
        error_inputs=convt_module_errors,
        checked_inputs=("x",),
        covers=("ConvTranspose2d",),
    )
)
