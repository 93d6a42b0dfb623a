"""Registry entries of npml's position-wise layers: linear, activations, embeddings, positions,
layer norm, dropout, the feed-forward network, RoPE and the cross-entropy loss."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    GELU,
    Dropout,
    Embedding,
    FeedForward,
    LayerNorm,
    LearnedPositionalEmbedding,
    Linear,
    ReLU,
    RotaryEmbedding,
    SinusoidalPositionalEmbedding,
    dropout_backward,
    dropout_forward,
    embedding_backward,
    embedding_forward,
    ffn_backward,
    ffn_forward,
    gelu_backward,
    gelu_forward,
    layer_norm_backward,
    layer_norm_forward,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
    rope_backward,
    rope_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import randn, tensor, torch_oracle


def _module_backward_before_forward(make):
    """The ErrorInput of a module whose backward is called before any forward."""
    return ErrorInput("forward", lambda: make().backward(np.ones((1, 1))), RuntimeError)


# ---- linear -------------------------------------------------------------------------------
LINEAR_SHAPES = [((1, 3), 2, True), ((2, 1, 5), 7, False), ((3, 4, 7), 1, True), ((5,), 3, True)]


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
    yield _module_backward_before_forward(lambda: Linear(2, 2))


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
    yield _module_backward_before_forward(ReLU)
    yield _module_backward_before_forward(GELU)


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


# ---- embeddings and positions -------------------------------------------------------------
def embedding_samples(rng, dtype):
    for ids_shape in [(1,), (2, 5), (3, 1)]:
        ids = rng.integers(0, 6, ids_shape)
        ids.flat[0] = ids.flat[-1] = 2  # a repeated id: its gradient is a sum
        yield Sample({"ids": ids, "W": randn(rng, (6, 3), dtype)}, f"ids{ids_shape}")


def embedding_oracle(sample, dout):
    import torch

    ids = torch.as_tensor(sample.kwargs["ids"])
    return torch_oracle(
        lambda W: torch.nn.functional.embedding(ids, W), {"W": sample.kwargs["W"]}, dout
    )


def embedding_errors(rng, dtype):
    W = randn(rng, (5, 2), dtype)
    yield ErrorInput("ids", lambda: embedding_forward(np.array([[1, 7, 2]]), W), match="e.g. 7")
    yield ErrorInput("ids", lambda: embedding_forward(np.array([-1, 0]), W), match="e.g. -1")
    yield ErrorInput("ids", lambda: embedding_forward(np.array([0.5, 1.0]), W), TypeError)
    yield ErrorInput("W", lambda: embedding_forward(np.array([0]), np.ones(5, dtype)))


register(
    LayerInfo(
        "embedding",
        embedding_forward,
        embedding_backward,
        ("W",),
        embedding_samples,
        oracle=embedding_oracle,
        error_inputs=embedding_errors,
        covers=("embedding_forward", "embedding_backward"),
    )
)


def embedding_module_samples(rng, dtype):
    m = Embedding(5, 4, rng=rng, dtype=dtype)
    yield Sample({"ids": np.array([[0, 1, 1], [4, 1, 0]])}, "(2, 3) ids, repeats", m)
    yield Sample({"ids": np.array([3])}, "one id", Embedding(5, 1, rng=rng, dtype=dtype))


def embedding_module_errors(rng, dtype):
    m = Embedding(5, 2, rng=0, dtype=dtype)
    yield ErrorInput("ids", lambda: m(np.array([[1, 7, 2]])))
    yield ErrorInput("n", lambda: Embedding(0, 2))
    yield ErrorInput("std", lambda: Embedding(3, 2, std=-1.0))
    yield _module_backward_before_forward(lambda: Embedding(2, 2))


register(
    LayerInfo(
        "Embedding",
        None,
        None,
        (),
        embedding_module_samples,
        module=True,
        error_inputs=embedding_module_errors,
        covers=("Embedding",),
    )
)


def positional_samples(rng, dtype):
    for make in (SinusoidalPositionalEmbedding, LearnedPositionalEmbedding):
        name = make.__name__
        if make is SinusoidalPositionalEmbedding:
            m, m5 = make(6, 3), make(6, 5)
        else:
            m, m5 = make(6, 3, rng=rng, dtype=dtype), make(6, 5, rng=rng, dtype=dtype)
        yield Sample({"x": randn(rng, (2, 4, 3), dtype), "offset": 1}, f"{name} offset=1", m)
        yield Sample({"x": randn(rng, (1, 1, 5), dtype)}, f"{name} T=1, odd d", m5)


def positional_errors(rng, dtype):
    for make in (SinusoidalPositionalEmbedding, LearnedPositionalEmbedding):
        m = make(4, 3)
        x = np.zeros((1, 2, 3), dtype)
        yield ErrorInput("max_len", lambda m=m: m(np.zeros((1, 5, 3), dtype)), match="T=5")
        yield ErrorInput("offset", lambda m=m, x=x: m(x, offset=3), match="exceeds")
        yield ErrorInput("offset", lambda m=m, x=x: m(x, offset=-1))
        yield ErrorInput("x", lambda m=m: m(np.zeros((1, 2, 4), dtype)), match="d=3")
        yield ErrorInput("x", lambda m=m: m(np.zeros((2, 3), dtype)), match="ndim")
    yield _module_backward_before_forward(lambda: LearnedPositionalEmbedding(2, 1))


register(
    LayerInfo(
        "positional embeddings",
        None,
        None,
        ("x",),
        positional_samples,
        module=True,
        error_inputs=positional_errors,
        checked_inputs=("x",),
        covers=(
            "SinusoidalPositionalEmbedding",
            "LearnedPositionalEmbedding",
            "sinusoidal_positions",
        ),
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
    yield _module_backward_before_forward(lambda: LayerNorm(1))


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
    yield _module_backward_before_forward(lambda: Dropout(0.1))


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


# ---- feed-forward network -----------------------------------------------------------------
FFN_CASES = [((1, 1, 3), 5, "relu", True), ((2, 3, 4), 7, "gelu", True)]
FFN_CASES += [((5,), 2, "gelu_tanh", False), ((2, 3, 4), 7, "relu", False)]


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
    yield _module_backward_before_forward(lambda: FeedForward(2))


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


# ---- RoPE ---------------------------------------------------------------------------------
def rope_samples(rng, dtype):
    for shape in [(1, 2), (5, 6), (2, 3, 4, 8), (3, 1, 2)]:
        T = shape[-2]
        x = randn(rng, shape, dtype)
        yield Sample({"x": x, "positions": np.arange(T), "base": 100.0}, f"x{shape}")
    per_batch = rng.integers(0, 50, (2, 1, 3))  # (B, 1, T): positions per sequence
    x = randn(rng, (2, 2, 3, 4), dtype)
    yield Sample({"x": x, "positions": per_batch}, "positions per batch")
    theta = np.full(2, 0.1)
    yield Sample(
        {"x": randn(rng, (3, 4), dtype), "positions": np.arange(3), "theta": theta}, "theta"
    )


def rope_errors(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    yield ErrorInput("x", lambda: rope_forward(randn(rng, (3, 5), dtype), np.arange(3)))
    yield ErrorInput("positions", lambda: rope_forward(x, np.arange(4)))
    yield ErrorInput("base", lambda: rope_forward(x, np.arange(3), base=1.0))
    yield ErrorInput("theta", lambda: rope_forward(x, np.arange(3), theta=np.ones(3)))


register(
    LayerInfo(
        "rope",
        rope_forward,
        rope_backward,
        ("x",),
        rope_samples,
        error_inputs=rope_errors,
        checked_inputs=("x",),
        covers=("rope_forward", "rope_backward"),
    )
)


def rope_module_samples(rng, dtype):
    m = RotaryEmbedding(6, base=50.0)
    yield Sample({"x": randn(rng, (2, 5, 6), dtype)}, "default positions", m)
    yield Sample(
        {"x": randn(rng, (1, 2), dtype), "positions": np.array([7])}, "T=1", RotaryEmbedding(2)
    )


def rope_module_errors(rng, dtype):
    yield ErrorInput("head_dim", lambda: RotaryEmbedding(5))
    yield ErrorInput("x", lambda: RotaryEmbedding(4)(np.ones((3, 6), dtype)))
    yield _module_backward_before_forward(lambda: RotaryEmbedding(2))


register(
    LayerInfo(
        "RotaryEmbedding",
        None,
        None,
        ("x",),
        rope_module_samples,
        module=True,
        error_inputs=rope_module_errors,
        checked_inputs=("x",),
        covers=("RotaryEmbedding",),
    )
)


# ---- softmax cross-entropy ----------------------------------------------------------------
def cross_entropy_samples(rng, dtype):
    for shape, ignore in [((1, 3), False), ((4, 7), True), ((2, 3, 5), True), ((2, 3, 5), False)]:
        logits = randn(rng, shape, dtype, scale=2.0)
        targets = rng.integers(0, shape[-1], shape[:-1])
        kwargs = {"logits": logits, "targets": targets}
        if ignore:
            targets.flat[1] = -100
            kwargs["ignore_index"] = -100
        yield Sample(kwargs, f"logits{shape}" + (" ignore_index" if ignore else ""))


def cross_entropy_oracle(sample, dout):
    import torch

    kw = sample.kwargs
    V = kw["logits"].shape[-1]
    t = tensor(kw["targets"].reshape(-1))
    ignore = kw.get("ignore_index")
    ignore = -100 if ignore is None else ignore

    def loss(logits):
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), t, ignore_index=ignore)

    out, grads = torch_oracle(loss, {"logits": kw["logits"]}, dout)
    return float(out), grads


def cross_entropy_twin_samples(rng, dtype):
    """Above ``losses.KERNEL_MIN_SIZE`` logits, so the public pair takes the kernels."""
    for shape, ignore in [((2, 50, 97), True), ((100, 90), False)]:
        logits = randn(rng, shape, dtype, scale=3.0)
        targets = rng.integers(0, shape[-1], shape[:-1])
        kwargs = {"logits": logits, "targets": targets}
        if ignore:
            targets.reshape(-1)[::7] = -1
            kwargs["ignore_index"] = -1
        yield Sample(kwargs, f"logits{shape}" + (" ignore_index" if ignore else ""))


def cross_entropy_twin(sample, dloss):
    from npml.nn import losses

    kw = sample.kwargs
    V = kw["logits"].shape[-1]
    z, t = kw["logits"].reshape(-1, V), kw["targets"].reshape(-1)  # (N, V), (N,)
    keep = t != kw.get("ignore_index", -(2**62))
    t = np.where(keep, t, 0)
    probs, nll = losses._cross_entropy_forward_reference(z, t)
    n_kept = int(keep.sum())
    dz = losses._cross_entropy_backward_reference(probs, t, keep, dloss / n_kept)
    return float(nll[keep].sum() / n_kept), {"logits": dz.reshape(kw["logits"].shape)}


def cross_entropy_errors(rng, dtype):
    logits = randn(rng, (3, 4), dtype)
    yield ErrorInput("targets", lambda: softmax_cross_entropy_forward(logits, [0, 4, 1]))
    yield ErrorInput("targets", lambda: softmax_cross_entropy_forward(logits, [0, -100, 1]))
    yield ErrorInput("targets", lambda: softmax_cross_entropy_forward(logits, [0, 1]))
    yield ErrorInput(
        "targets", lambda: softmax_cross_entropy_forward(logits, [0.5, 1, 2]), TypeError
    )


register(
    LayerInfo(
        "softmax_cross_entropy",
        softmax_cross_entropy_forward,
        softmax_cross_entropy_backward,
        ("logits",),
        cross_entropy_samples,
        oracle=cross_entropy_oracle,
        error_inputs=cross_entropy_errors,
        twin=cross_entropy_twin,
        twin_samples=cross_entropy_twin_samples,
        checked_inputs=("logits",),
        dout_name="dloss",
        scalar_output=True,
        covers=("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
    )
)
