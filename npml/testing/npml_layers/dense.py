"""Registry entries of the dense layers: the affine map and the feed-forward network."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    FeedForward,
    Linear,
    ffn_backward,
    ffn_forward,
    linear_backward,
    linear_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import backward_before_forward, randn, torch_oracle

# ---- linear -------------------------------------------------------------------------------
LINEAR_SHAPES = [  # x shape, d_out, bias
    (x_shape, d_out, bias)
    for x_shape, d_out in [((1, 3), 2), ((2, 1, 5), 7), ((3, 4, 7), 1), ((5,), 3)]
    for bias in (True, False)
]


def linear_samples(rng, dtype):
    for x_shape, d_out, bias in LINEAR_SHAPES:
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W": randn(rng, (x_shape[-1], d_out), dtype),
            "b": randn(rng, (d_out,), dtype) if bias else None,
        }
        yield Sample(kwargs, f"x{x_shape} d_out={d_out}" + ("" if bias else " no bias"))


def linear_oracle(sample, dout):
    kw = {k: v for k, v in sample.kwargs.items() if v is not None}
    return torch_oracle(lambda x, W, b=0: x @ W + b, kw, dout)


def linear_errors(rng, dtype):
    x = randn(rng, (2, 4), dtype)
    yield ErrorInput("x", lambda: linear_forward(x, np.ones((5, 3), dtype)), match="last dim")
    yield ErrorInput("W", lambda: linear_forward(x, np.ones(4, dtype)))
    yield ErrorInput("b", lambda: linear_forward(x, np.ones((4, 3), dtype), np.ones(2, dtype)))


register(
    LayerInfo(
        "linear",
        linear_forward,
        linear_backward,
        ("x", "W", "b"),
        linear_samples,
        oracle=linear_oracle,
        error_inputs=linear_errors,
        checked_inputs=("x",),
        covers=("linear_forward", "linear_backward"),
    )
)


def linear_module_samples(rng, dtype):
    yield Sample(
        {"x": randn(rng, (2, 1, 5), dtype)}, "(2, 1, 5) -> 3", Linear(5, 3, True, rng, dtype)
    )
    yield Sample(
        {"x": randn(rng, (3, 4), dtype)}, "no bias, d_out=1", Linear(4, 1, False, rng, dtype)
    )


def linear_module_errors(rng, dtype):
    m = Linear(4, 3, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(randn(rng, (2, 5), dtype)), match="last dimension 4")
    yield ErrorInput("d_in", lambda: Linear(0, 3))
    yield ErrorInput("bias", lambda: Linear(3, 2, bias="yes"), TypeError)
    yield backward_before_forward(lambda: Linear(2, 2))


register(
    LayerInfo(
        "Linear",
        None,
        None,
        ("x",),
        linear_module_samples,
        module=True,
        error_inputs=linear_module_errors,
        checked_inputs=("x",),
        covers=("Linear",),
    )
)


# ---- feed-forward network -----------------------------------------------------------------
FFN_CASES = [  # x shape, d_ff, activation, bias: every combination
    (x_shape, d_ff, activation, bias)
    for x_shape, d_ff in [((1, 1, 3), 5), ((2, 3, 4), 7), ((5,), 2)]
    for activation in ("relu", "gelu", "gelu_tanh")
    for bias in (True, False)
]


def ffn_samples(rng, dtype):
    for x_shape, d_ff, activation, bias in FFN_CASES:
        d = x_shape[-1]
        kwargs = {
            "x": randn(rng, x_shape, dtype),
            "W_1": randn(rng, (d, d_ff), dtype),
            "b_1": randn(rng, (d_ff,), dtype) if bias else None,
            "W_2": randn(rng, (d_ff, d), dtype),
            "b_2": randn(rng, (d,), dtype) if bias else None,
            "activation": activation,
        }
        yield Sample(kwargs, f"{activation} x{x_shape} d_ff={d_ff}" + ("" if bias else " no bias"))


def ffn_oracle(sample, dout):
    import torch

    F = torch.nn.functional
    act = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda a: F.gelu(a, approximate="tanh")}
    phi = act[sample.kwargs["activation"]]
    arrays = {k: v for k, v in sample.kwargs.items() if isinstance(v, np.ndarray)}

    def ffn(x, W_1, W_2, b_1=0, b_2=0):
        return phi(x @ W_1 + b_1) @ W_2 + b_2

    return torch_oracle(ffn, arrays, dout)


def ffn_twin_samples(rng, dtype):
    """A pre-activation above ``activations.KERNEL_MIN_SIZE``: the bias-fused GELU kernels."""
    for activation, bias in [("gelu", True), ("gelu_tanh", False)]:
        kwargs = {"x": randn(rng, (2, 40, 16), dtype), "activation": activation}
        kwargs |= {
            "W_1": randn(rng, (16, 64), dtype, 0.25),
            "W_2": randn(rng, (64, 16), dtype, 0.125),
        }
        kwargs |= {"b_1": randn(rng, (64,), dtype) if bias else None}
        kwargs |= {"b_2": randn(rng, (16,), dtype) if bias else None}
        yield Sample(kwargs, f"{activation} (2, 40, 16) d_ff=64" + ("" if bias else " no bias"))


def ffn_twin(sample, dout):
    """The three steps of ``ffn.py`` with the GELU twins (no fused bias kernel)."""
    from npml.nn import activations

    kw = sample.kwargs
    x, W_1, b_1, W_2, b_2 = (kw[n] for n in ("x", "W_1", "b_1", "W_2", "b_2"))
    a = x @ W_1 + (0 if b_1 is None else b_1)  # 1.
    h, cache = activations._gelu_forward_reference(
        a, "tanh" if "tanh" in kw["activation"] else "none"
    )
    y = h @ W_2 + (0 if b_2 is None else b_2)  # 3.
    d, d_ff = W_1.shape
    da = activations._gelu_backward_reference(dout @ W_2.T, cache).reshape(-1, d_ff)  # 3., 2.
    grads = {"x": (da @ W_1.T).reshape(x.shape), "W_1": x.reshape(-1, d).T @ da}  # 1.
    grads["W_2"] = h.reshape(-1, d_ff).T @ dout.reshape(-1, d)
    if b_1 is not None:
        grads |= {"b_1": da.sum(axis=0), "b_2": dout.reshape(-1, d).sum(axis=0)}
    return y, grads


def ffn_errors(rng, dtype):
    x, W_1, W_2 = randn(rng, (2, 4), dtype), randn(rng, (4, 6), dtype), randn(rng, (6, 4), dtype)
    b_1, b_2 = np.zeros(6, dtype), np.zeros(4, dtype)
    yield ErrorInput("x", lambda: ffn_forward(x[:, :3], W_1, b_1, W_2, b_2))
    yield ErrorInput("W_2", lambda: ffn_forward(x, W_1, b_1, W_2.T, b_2))
    yield ErrorInput("b_1", lambda: ffn_forward(x, W_1, b_1, W_2, None))
    yield ErrorInput("activation", lambda: ffn_forward(x, W_1, b_1, W_2, b_2, "tanh"))


register(
    LayerInfo(
        "ffn",
        ffn_forward,
        ffn_backward,
        ("x", "W_1", "b_1", "W_2", "b_2"),
        ffn_samples,
        oracle=ffn_oracle,
        error_inputs=ffn_errors,
        twin=ffn_twin,
        twin_samples=ffn_twin_samples,
        checked_inputs=("x",),
        covers=("ffn_forward", "ffn_backward"),
    )
)


def ffn_module_samples(rng, dtype):
    for activation, bias in [("relu", True), ("gelu", False), ("gelu_tanh", True)]:
        m = FeedForward(4, 6, bias, activation, rng=rng, dtype=dtype)
        if bias:  # nonzero biases, so that their paths matter
            m.b_1.data[...] = randn(rng, (6,), dtype)
            m.b_2.data[...] = randn(rng, (4,), dtype)
        yield Sample({"x": randn(rng, (2, 3, 4), dtype)}, f"{activation}, bias={bias}", m)


def ffn_module_errors(rng, dtype):
    m = FeedForward(4, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(np.ones((2, 5), dtype)), match="last dimension 4")
    yield ErrorInput("activation", lambda: FeedForward(4, activation="tanh"))
    yield ErrorInput("d_ff", lambda: FeedForward(4, d_ff=0))
    yield ErrorInput("bias", lambda: FeedForward(4, bias="no"), TypeError)
    yield backward_before_forward(lambda: FeedForward(2))


register(
    LayerInfo(
        "FeedForward",
        None,
        None,
        ("x",),
        ffn_module_samples,
        module=True,
        error_inputs=ffn_module_errors,
        checked_inputs=("x",),
        covers=("FeedForward",),
    )
)
