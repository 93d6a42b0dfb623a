"""Registry entries of the spatial layers and what the convolutional U-Nets put between them:
upsampling, pooling, group normalisation, SiLU and the timestep embedding's MLP."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    AvgPool2d,
    GroupNorm,
    MaxPool2d,
    SiLU,
    TimeEmbedding,
    Upsample,
    avg_pool2d_backward,
    avg_pool2d_forward,
    group_norm_backward,
    group_norm_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    silu_backward,
    silu_forward,
    upsample_backward,
    upsample_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import backward_before_forward, randn, torch_oracle


# ---- upsampling ---------------------------------------------------------------------------
def upsample_samples(rng, dtype):
    cases = [
        ((1, 2, 3, 5), {"scale_factor": 2}, "nearest x2, batch 1"),
        ((2, 3, 5), {"scale_factor": 3}, "nearest x3, (B, C, T)"),
        ((2, 1, 3, 5), {"size": (7, 4)}, "nearest to (7, 4), uneven"),
        ((1, 2, 3, 5), {"scale_factor": 2, "mode": "bilinear"}, "bilinear x2"),
        (
            (1, 1, 3, 4),
            {"scale_factor": (3, 2), "mode": "bilinear", "align_corners": True},
            "bilinear (3, 2), corners",
        ),  # fmt: skip
        ((2, 1, 5, 7), {"size": (4, 3), "mode": "bilinear"}, "bilinear down to (4, 3)"),
        (
            (1, 1, 4, 3),
            {"size": (1, 7), "mode": "bilinear", "align_corners": True},
            "bilinear to height 1, corners",
        ),  # fmt: skip
    ]
    for shape, kwargs, desc in cases:
        yield Sample({"x": randn(rng, shape, dtype), **kwargs}, desc)


def upsample_oracle(sample, dout):
    import torch

    kw = {k: v for k, v in sample.kwargs.items() if k != "x"}
    kw.setdefault("mode", "nearest")
    if isinstance(kw.get("scale_factor"), tuple):
        kw["scale_factor"] = tuple(float(s) for s in kw["scale_factor"])
    if kw["mode"] == "nearest":
        kw.pop("align_corners", None)  # torch refuses the argument for nearest
    fn = lambda x: torch.nn.functional.interpolate(x, **kw)
    return torch_oracle(fn, {"x": sample.kwargs["x"]}, dout)


def upsample_errors(rng, dtype):
    x, x3 = randn(rng, (1, 2, 3, 4), dtype), randn(rng, (1, 2, 5), dtype)
    yield ErrorInput("mode", lambda: upsample_forward(x, 2, mode="bicubic"))
    yield ErrorInput("mode", lambda: upsample_forward(x, 2, mode="Nearest"))
    yield ErrorInput("scale_factor", lambda: upsample_forward(x, 0))
    yield ErrorInput("scale_factor", lambda: upsample_forward(x, 1.5), TypeError)
    yield ErrorInput("scale_factor", lambda: upsample_forward(x, (2, 2, 2)), TypeError)
    yield ErrorInput("size", lambda: upsample_forward(x, size=(0, 4)))
    yield ErrorInput("size", lambda: upsample_forward(x, size=-3))
    yield ErrorInput("size", lambda: upsample_forward(x, 2, size=4), desc="both given")
    yield ErrorInput("scale_factor", lambda: upsample_forward(x), desc="neither given")
    yield ErrorInput("align_corners", lambda: upsample_forward(x, 2, align_corners=True))
    yield ErrorInput("align_corners", lambda: upsample_forward(x, 2, align_corners=1), TypeError)
    yield ErrorInput("x", lambda: upsample_forward(x3, 2, mode="bilinear"), desc="bilinear 1-D")
    yield ErrorInput("x", lambda: upsample_forward(x[0, 0], 2), desc="no channel axis")


register(
    LayerInfo(
        "upsample",
        upsample_forward,
        upsample_backward,
        ("x",),
        upsample_samples,
        oracle=upsample_oracle,
        error_inputs=upsample_errors,
        checked_inputs=("x",),
        flags=("align_corners",),
        covers=("upsample_forward", "upsample_backward"),
    )
)


def upsample_module_samples(rng, dtype):
    yield Sample({"x": randn(rng, (1, 2, 3, 3), dtype)}, "nearest x2", Upsample(2))
    m = Upsample(size=(5, 4), mode="bilinear")
    yield Sample({"x": randn(rng, (2, 1, 3, 2), dtype)}, "bilinear size", m)


def upsample_module_errors(rng, dtype):
    yield ErrorInput("mode", lambda: Upsample(2, mode="linear"))
    yield ErrorInput("scale_factor", lambda: Upsample(0))
    yield ErrorInput("scale_factor", lambda: Upsample((2, 2, 2), mode="bilinear"), TypeError)
    yield ErrorInput("size", lambda: Upsample(2, size=3))
    yield ErrorInput("align_corners", lambda: Upsample(2, align_corners=True))
    yield backward_before_forward(lambda: Upsample(2))


register(
    LayerInfo(
        "Upsample",
        None,
        None,
        ("x",),
        upsample_module_samples,
        module=True,
        error_inputs=upsample_module_errors,
        checked_inputs=("x",),
        covers=("Upsample",),
    )
)


# ---- pooling ------------------------------------------------------------------------------
def pool_samples(rng, dtype):
    cases = [
        ((1, 1, 4, 4), 2, None, "batch 1, 4x4, k=2"),
        ((2, 3, 5, 7), 2, None, "odd 5x7, k=2"),
        ((1, 2, 6, 9), (2, 3), (2, 3), "k=(2, 3)"),
        ((2, 1, 5, 5), 3, 3, "k=3 on 5x5"),
        ((1, 2, 3, 2), 1, None, "k=1"),
        ((1, 1, 3, 3), 3, None, "one window"),
    ]
    for shape, k, stride, desc in cases:
        yield Sample({"x": randn(rng, shape, dtype), "kernel_size": k, "stride": stride}, desc)


def pool_oracle(name):
    def oracle(sample, dout):
        import torch

        pool = getattr(torch.nn.functional, name)
        kw = sample.kwargs
        fn = lambda x: pool(x, kw["kernel_size"], kw["stride"])
        return torch_oracle(fn, {"x": kw["x"]}, dout)

    return oracle


def pool_errors(forward):
    def errors(rng, dtype):
        x = randn(rng, (1, 2, 5, 6), dtype)
        yield ErrorInput("stride", lambda: forward(x, 2, 1), desc="overlapping")
        yield ErrorInput("stride", lambda: forward(x, 2, 0), desc="stride 0")
        yield ErrorInput("kernel_size", lambda: forward(x, 6), match="larger")
        yield ErrorInput("kernel_size", lambda: forward(x, (2, 7)), match="larger")
        yield ErrorInput("kernel_size", lambda: forward(x, 0))
        yield ErrorInput("kernel_size", lambda: forward(x, -2))
        yield ErrorInput("kernel_size", lambda: forward(x, 2.0), TypeError)
        yield ErrorInput("kernel_size", lambda: forward(x, (2, 2, 2)), TypeError)
        yield ErrorInput("x", lambda: forward(x[0], 2), desc="no batch axis")

    return errors


for _name, _fwd, _bwd in [
    ("avg_pool2d", avg_pool2d_forward, avg_pool2d_backward),
    ("max_pool2d", max_pool2d_forward, max_pool2d_backward),
]:
    register(
        LayerInfo(
            _name,
            _fwd,
            _bwd,
            ("x",),
            pool_samples,  # standard normals: no ties in a max-pool window (almost surely)
            oracle=pool_oracle(_name),
            error_inputs=pool_errors(_fwd),
            checked_inputs=("x",),
            covers=(f"{_name}_forward", f"{_name}_backward"),
        )
    )


def pool_module_samples(rng, dtype):
    for make in (AvgPool2d, MaxPool2d):
        yield Sample({"x": randn(rng, (2, 2, 5, 4), dtype)}, f"{make.__name__}(2)", make(2))
        m = make((1, 3), stride=(1, 3))
        yield Sample({"x": randn(rng, (1, 1, 2, 7), dtype)}, repr(m), m)


def pool_module_errors(rng, dtype):
    for make in (AvgPool2d, MaxPool2d):
        yield ErrorInput("stride", lambda make=make: make(3, stride=2))
        yield ErrorInput("kernel_size", lambda make=make: make(0))
        yield ErrorInput("kernel_size", lambda make=make: make(4)(np.ones((1, 1, 3, 8), dtype)))
        yield backward_before_forward(lambda make=make: make(2))


register(
    LayerInfo(
        "AvgPool2d, MaxPool2d",
        None,
        None,
        ("x",),
        pool_module_samples,
        module=True,
        error_inputs=pool_module_errors,
        checked_inputs=("x",),
        covers=("AvgPool2d", "MaxPool2d"),
    )
)


# ---- group norm ---------------------------------------------------------------------------
def group_norm_samples(rng, dtype):
    cases = [
        ((1, 6, 5), 3, "(B, C, T), batch 1, 2 channels a group"),
        ((2, 6, 3, 5), 2, "odd 3 channels a group"),
        ((2, 3, 2, 3), 1, "G=1 (layer norm)"),
        ((1, 4, 3, 3), 4, "G=C (instance norm)"),
        ((3, 2, 1, 1), 1, "1x1 image"),
        ((2, 5), 5, "no spatial axes"),
    ]
    for shape, G, desc in cases:
        C = shape[1]
        kwargs = {"x": randn(rng, shape, dtype, scale=2.0) + 0.5, "num_groups": G}
        kwargs |= {"gamma": randn(rng, (C,), dtype), "beta": randn(rng, (C,), dtype)}
        yield Sample(kwargs, desc)
    yield Sample({"x": randn(rng, (2, 4, 3), dtype), "num_groups": 2}, "no affine")


def group_norm_oracle(sample, dout):
    import torch

    kw = sample.kwargs
    arrays = {k: kw[k] for k in ("x", "gamma", "beta") if k in kw}

    def fn(x, gamma=None, beta=None):
        return torch.nn.functional.group_norm(x, kw["num_groups"], gamma, beta, eps=1e-5)

    return torch_oracle(fn, arrays, dout)


def group_norm_twin_samples(rng, dtype):
    """Above ``layer_norm.KERNEL_MIN_SIZE`` elements, so the rows take layer norm's kernels."""
    for shape, G in [((4, 64, 8, 8), 32), ((3, 12, 130), 4)]:
        C = shape[1]
        kwargs = {"x": randn(rng, shape, dtype, scale=2.0) + 1.0, "num_groups": G}
        kwargs |= {"gamma": randn(rng, (C,), dtype), "beta": randn(rng, (C,), dtype)}
        yield Sample(kwargs, f"x{shape}, G={G}")


def group_norm_twin(sample, dout):
    """Group norm written out with layer norm's NumPy twins on the (B * G, D) rows."""
    from npml.nn import layer_norm

    kw = sample.kwargs
    x, G, gamma, beta = kw["x"], kw["num_groups"], kw["gamma"], kw["beta"]
    rows = x.reshape(x.shape[0] * G, -1)  # (B*G, D)
    one, zero = np.ones(rows.shape[1], x.dtype), np.zeros(rows.shape[1], x.dtype)
    x_hat, cache = layer_norm._layer_norm_forward_reference(rows, one, zero, 1e-5)
    channel = (-1,) + (1,) * (x.ndim - 2)
    x_hat = x_hat.reshape(x.shape)
    out = x_hat * gamma.reshape(channel) + beta.reshape(channel)
    g = (dout * gamma.reshape(channel)).reshape(rows.shape)
    dx, _, _ = layer_norm._layer_norm_backward_reference(g, cache)
    axes = (0, *range(2, x.ndim))
    grads = {"x": dx.reshape(x.shape), "gamma": np.sum(dout * x_hat, axis=axes)}
    return out, grads | {"beta": dout.sum(axis=axes)}


def group_norm_errors(rng, dtype):
    x, g = randn(rng, (2, 6, 3, 3), dtype), np.ones(6, dtype)
    yield ErrorInput("num_groups", lambda: group_norm_forward(x, 4, g, g), match="divide")
    yield ErrorInput("num_groups", lambda: group_norm_forward(x, 0, g, g))
    yield ErrorInput("num_groups", lambda: group_norm_forward(x, 2.0, g, g), TypeError)
    yield ErrorInput("gamma", lambda: group_norm_forward(x, 2, np.ones(3, dtype), g))
    yield ErrorInput("beta", lambda: group_norm_forward(x, 2, g, np.ones(2, dtype)))
    yield ErrorInput("eps", lambda: group_norm_forward(x, 2, g, g, eps=0.0))
    yield ErrorInput("x", lambda: group_norm_forward(np.ones(6, dtype), 2), desc="1-D")


register(
    LayerInfo(
        "group_norm",
        group_norm_forward,
        group_norm_backward,
        ("x", "gamma", "beta"),
        group_norm_samples,
        oracle=group_norm_oracle,
        error_inputs=group_norm_errors,
        twin=group_norm_twin,
        twin_samples=group_norm_twin_samples,
        checked_inputs=("x",),
        covers=("group_norm_forward", "group_norm_backward"),
    )
)


def group_norm_module_samples(rng, dtype):
    m = GroupNorm(2, 6, dtype=dtype)
    m.gamma.data[...] = randn(rng, (6,), dtype)  # away from the initial ones and zeros
    m.beta.data[...] = randn(rng, (6,), dtype)
    yield Sample({"x": randn(rng, (2, 6, 3, 5), dtype)}, repr(m), m)
    m = GroupNorm(3, 3, affine=False, dtype=dtype)
    yield Sample({"x": randn(rng, (1, 3, 7), dtype)}, repr(m), m)


def group_norm_module_errors(rng, dtype):
    yield ErrorInput("num_channels", lambda: GroupNorm(4, 6), match="divisible")
    yield ErrorInput("num_groups", lambda: GroupNorm(0, 6))
    yield ErrorInput("num_channels", lambda: GroupNorm(2, 0))
    yield ErrorInput("eps", lambda: GroupNorm(2, 4, eps=-1.0))
    yield ErrorInput("affine", lambda: GroupNorm(2, 4, affine="yes"), TypeError)
    yield ErrorInput("x", lambda: GroupNorm(2, 4, dtype=dtype)(np.ones((2, 6, 3), dtype)))
    yield backward_before_forward(lambda: GroupNorm(1, 1))


register(
    LayerInfo(
        "GroupNorm",
        None,
        None,
        ("x",),
        group_norm_module_samples,
        module=True,
        error_inputs=group_norm_module_errors,
        checked_inputs=("x",),
        covers=("GroupNorm",),
    )
)


# ---- SiLU ---------------------------------------------------------------------------------
def silu_samples(rng, dtype):
    for shape in [(1,), (3, 5), (2, 1, 7)]:
        yield Sample({"x": randn(rng, shape, dtype, scale=3.0)}, f"x{shape}")
    yield Sample({"x": np.array([-40.0, -8.0, 0.0, 8.0, 40.0], dtype)}, "saturated tails")


def silu_oracle(sample, dout):
    import torch

    return torch_oracle(lambda x: torch.nn.functional.silu(x), sample.kwargs, dout)


register(
    LayerInfo(
        "silu",
        silu_forward,
        silu_backward,
        ("x",),
        silu_samples,
        oracle=silu_oracle,
        checked_inputs=("x",),
        covers=("silu_forward", "silu_backward"),
    )
)


def silu_module_samples(rng, dtype):
    yield Sample({"x": randn(rng, (2, 3, 5), dtype)}, "SiLU()", SiLU())


register(
    LayerInfo(
        "SiLU",
        None,
        None,
        ("x",),
        silu_module_samples,
        module=True,
        error_inputs=lambda rng, dtype: [backward_before_forward(SiLU)],
        checked_inputs=("x",),
        covers=("SiLU",),
    )
)


# ---- timestep embedding MLP ---------------------------------------------------------------
def time_embedding_samples(rng, dtype):
    """The input ``t`` gets no gradient (grad_names is empty): only the parameters are checked."""
    m = TimeEmbedding(8, 12, rng=0, dtype=dtype)
    yield Sample({"t": np.array([0.0, 1.0, 17.0, 999.0])}, repr(m), m)
    m = TimeEmbedding(7, 5, d_out=3, flip_sin_to_cos=True, rng=1, dtype=dtype)
    yield Sample({"t": np.array([[0.5], [250.25]])}, "odd dim, flipped, fractional t", m)


def time_embedding_errors(rng, dtype):
    yield ErrorInput("dim", lambda: TimeEmbedding(0, 4))
    yield ErrorInput("d_hidden", lambda: TimeEmbedding(4, 0))
    yield ErrorInput("max_period", lambda: TimeEmbedding(4, 4, max_period=0.0))
    yield ErrorInput("flip_sin_to_cos", lambda: TimeEmbedding(4, 4, flip_sin_to_cos=1), TypeError)
    yield backward_before_forward(lambda: TimeEmbedding(2, 2))


register(
    LayerInfo(
        "TimeEmbedding",
        None,
        None,
        (),
        time_embedding_samples,
        module=True,
        error_inputs=time_embedding_errors,
        checked_inputs=("t",),
        covers=("TimeEmbedding",),
    )
)
