"""Registry entries of the sequence-position layers: token and position embeddings, RoPE and
the softmax cross-entropy over the vocabulary."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    Embedding,
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEmbedding,
    embedding_backward,
    embedding_forward,
    rope_backward,
    rope_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import backward_before_forward, randn, tensor, torch_oracle


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
    yield backward_before_forward(lambda: Embedding(2, 2))


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
            m, m5 = make(6, 3, dtype=dtype), make(6, 5, dtype=dtype)
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
    yield backward_before_forward(lambda: LearnedPositionalEmbedding(2, 1))


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
    yield backward_before_forward(lambda: RotaryEmbedding(2))


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
