"""Registry entries of the element-wise and per-row layers: ReLU, GELU, dropout and layer
normalisation."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    GELU,
    Dropout,
    LayerNorm,
    ReLU,
    dropout_backward,
    dropout_forward,
    gelu_backward,
    gelu_forward,
    layer_norm_backward,
    layer_norm_forward,
    relu_backward,
    relu_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import backward_before_forward, randn, torch_oracle


# ---- activations --------------------------------------------------------------------------
def away_from_zero(rng, shape, dtype):
    """Inputs at least 0.1 from ReLU's kink, where finite differences would straddle it."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-300) * 0.2, x).astype(dtype)


ELEMENTWISE_SHAPES = [(1,), (3, 5), (2, 1, 7)]


def relu_samples(rng, dtype):
    for shape in ELEMENTWISE_SHAPES:
        yield Sample({"x": away_from_zero(rng, shape, dtype)}, f"x{shape}")


def relu_oracle(sample, dout):
    import torch

    return torch_oracle(torch.relu, sample.kwargs, dout)


register(
    LayerInfo(
        "relu",
        relu_forward,
        relu_backward,
        ("x",),
        relu_samples,
        oracle=relu_oracle,
        checked_inputs=("x",),
        covers=("relu_forward", "relu_backward"),
    )
)


def gelu_samples(rng, dtype):
    for approximate in ("none", "tanh"):
        for shape in ELEMENTWISE_SHAPES:
            x = randn(rng, shape, dtype, scale=2.0)
            yield Sample({"x": x, "approximate": approximate}, f"{approximate} x{shape}")


def gelu_oracle(sample, dout):
    import torch

    gelu = torch.nn.functional.gelu
    approximate = sample.kwargs["approximate"]
    return torch_oracle(lambda x: gelu(x, approximate=approximate), {"x": sample.kwargs["x"]}, dout)


def gelu_twin_samples(rng, dtype):
    """Above ``activations.KERNEL_MIN_SIZE`` elements, so the public pair takes the kernels."""
    for approximate in ("none", "tanh"):
        x = randn(rng, (48, 129), dtype, scale=3.0)
        yield Sample({"x": x, "approximate": approximate}, f"{approximate} (48, 129)")


def gelu_twin(sample, dout):
    from npml.nn import activations

    out, cache = activations._gelu_forward_reference(**sample.kwargs)
    return out, {"x": activations._gelu_backward_reference(dout, cache)}


def gelu_errors(rng, dtype):
    yield ErrorInput("approximate", lambda: gelu_forward(np.ones(3, dtype), "erf"))


register(
    LayerInfo(
        "gelu",
        gelu_forward,
        gelu_backward,
        ("x",),
        gelu_samples,
        oracle=gelu_oracle,
        error_inputs=gelu_errors,
        twin=gelu_twin,
        twin_samples=gelu_twin_samples,
        checked_inputs=("x",),
        covers=("gelu_forward", "gelu_backward"),
    )
)


def activation_module_samples(rng, dtype):
    for make in (ReLU, GELU, lambda: GELU("tanh")):
        m = make()
        yield Sample({"x": away_from_zero(rng, (2, 3, 5), dtype)}, repr(m), m)


def activation_module_errors(rng, dtype):
    yield ErrorInput("approximate", lambda: GELU("erf"))
    yield backward_before_forward(ReLU)
    yield backward_before_forward(GELU)


register(
    LayerInfo(
        "ReLU, GELU",
        None,
        None,
        ("x",),
        activation_module_samples,
        module=True,
        error_inputs=activation_module_errors,
        checked_inputs=("x",),
        covers=("ReLU", "GELU"),
    )
)


# ---- dropout ------------------------------------------------------------------------------
def dropout_samples(rng, dtype):
    # an int seed draws the same mask at every call, so the gradient check sees one function
    yield Sample({"x": randn(rng, (3, 7), dtype), "p": 0.3, "rng": 1}, "p=0.3, training")
    yield Sample({"x": randn(rng, (1,), dtype), "p": 0.5, "rng": 2}, "p=0.5, one unit")
    yield Sample({"x": randn(rng, (2, 3), dtype), "p": 0.5, "rng": 3, "training": False}, "eval")
    yield Sample({"x": randn(rng, (2, 1, 3), dtype), "p": 0.0, "rng": None}, "p=0")


def dropout_errors(rng, dtype):
    x = np.ones(3, dtype)
    yield ErrorInput("p", lambda: dropout_forward(x, 1.0, rng=0), match="out of range")
    yield ErrorInput("p", lambda: dropout_forward(x, -0.1, rng=0))
    yield ErrorInput("rng", lambda: dropout_forward(x, 0.5, rng="seed"), TypeError)


register(
    LayerInfo(
        "dropout",
        dropout_forward,
        dropout_backward,
        ("x",),
        dropout_samples,
        error_inputs=dropout_errors,
        checked_inputs=("x",),
        flags=("training",),
        covers=("dropout_forward", "dropout_backward"),
    )
)


def dropout_module_forward(m, x):
    """Reseed before each forward, so the mask (and the function) is the same every call."""
    m.rng = np.random.default_rng(5)
    return m.forward(x)


def dropout_module_samples(rng, dtype):
    yield Sample({"x": randn(rng, (2, 3, 4), dtype)}, "p=0.4, training", Dropout(0.4, rng=0))
    yield Sample({"x": randn(rng, (2, 3), dtype)}, "eval", Dropout(0.4, rng=0).eval())


def dropout_module_errors(rng, dtype):
    yield ErrorInput("p", lambda: Dropout(1.0))
    yield ErrorInput("mode", lambda: Dropout(0.1).train("yes"), TypeError)
    yield backward_before_forward(lambda: Dropout(0.1))


register(
    LayerInfo(
        "Dropout",
        dropout_module_forward,
        None,
        ("x",),
        dropout_module_samples,
        module=True,
        error_inputs=dropout_module_errors,
        checked_inputs=("x",),
        covers=("Dropout",),
    )
)


# ---- layer norm ---------------------------------------------------------------------------
def layer_norm_samples(rng, dtype):
    for shape in [(1, 5), (2, 3, 7), (4, 2), (1, 1, 3)]:
        D = shape[-1]
        kwargs = {
            "x": randn(rng, shape, dtype),
            "gamma": randn(rng, (D,), dtype),
            "beta": randn(rng, (D,), dtype),
        }
        yield Sample(kwargs, f"x{shape}")


def layer_norm_oracle(sample, dout):
    import torch

    D = sample.kwargs["x"].shape[-1]
    ln = torch.nn.functional.layer_norm
    fn = lambda x, gamma, beta: ln(x, (D,), gamma, beta, eps=1e-5)
    return torch_oracle(fn, sample.kwargs, dout)


def layer_norm_twin_samples(rng, dtype):
    """Above ``layer_norm.KERNEL_MIN_SIZE`` elements, so the public pair takes the kernels."""
    for shape in [(40, 129), (3, 20, 77)]:
        D = shape[-1]
        kwargs = {"x": randn(rng, shape, dtype, scale=2.0) + 1.0}
        kwargs |= {"gamma": randn(rng, (D,), dtype), "beta": randn(rng, (D,), dtype)}
        yield Sample(kwargs, f"x{shape}")


def layer_norm_twin(sample, dout):
    from npml.nn import layer_norm

    kw = sample.kwargs
    out, cache = layer_norm._layer_norm_forward_reference(kw["x"], kw["gamma"], kw["beta"], 1e-5)
    dx, dgamma, dbeta = layer_norm._layer_norm_backward_reference(dout, cache)
    return out, {"x": dx, "gamma": dgamma, "beta": dbeta}


def layer_norm_errors(rng, dtype):
    x, g = randn(rng, (2, 4), dtype), np.ones(4, dtype)
    yield ErrorInput("x", lambda: layer_norm_forward(x, np.ones(3, dtype), np.ones(3, dtype)))
    yield ErrorInput("beta", lambda: layer_norm_forward(x, g, np.ones(3, dtype)))
    yield ErrorInput("eps", lambda: layer_norm_forward(x, g, g, eps=-1.0))


register(
    LayerInfo(
        "layer_norm",
        layer_norm_forward,
        layer_norm_backward,
        ("x", "gamma", "beta"),
        layer_norm_samples,
        oracle=layer_norm_oracle,
        error_inputs=layer_norm_errors,
        twin=layer_norm_twin,
        twin_samples=layer_norm_twin_samples,
        checked_inputs=("x",),
        covers=("layer_norm_forward", "layer_norm_backward"),
    )
)


def layer_norm_module_samples(rng, dtype):
    m = LayerNorm(5, dtype=dtype)
    m.gamma.data[...] = randn(rng, (5,), dtype)  # away from the initial ones and zeros
    m.beta.data[...] = randn(rng, (5,), dtype)
    yield Sample({"x": randn(rng, (2, 3, 5), dtype)}, "(2, 3, 5)", m)
    yield Sample({"x": randn(rng, (1, 1), dtype)}, "D=1", LayerNorm(1, dtype=dtype))


def layer_norm_module_errors(rng, dtype):
    yield ErrorInput("x", lambda: LayerNorm(4, dtype=dtype)(np.ones((2, 3), dtype)))
    yield ErrorInput("eps", lambda: LayerNorm(4, eps=-1.0))
    yield ErrorInput("d", lambda: LayerNorm(0))
    yield backward_before_forward(lambda: LayerNorm(1))


register(
    LayerInfo(
        "LayerNorm",
        None,
        None,
        ("x",),
        layer_norm_module_samples,
        module=True,
        error_inputs=layer_norm_module_errors,
        checked_inputs=("x",),
        covers=("LayerNorm",),
    )
)
