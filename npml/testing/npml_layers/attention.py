"""Registry entries of attention: the plain and the fused (FlashAttention) pairs."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    attention_backward,
    attention_forward,
    causal_mask,
    fused_attention_backward,
    fused_attention_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import randn, torch_oracle

# name: (q shape, k shape, v shape, mask shape or None, causal, block_size of the fused pair)
ATTENTION_CASES = {
    "T=1": ((1, 3), (1, 3), (1, 2), None, False, None),
    "odd D, T_q != T_k": ((4, 5), (7, 5), (7, 3), None, False, (2, 4)),
    "batch and heads": ((2, 3, 4, 6), (2, 3, 4, 6), (2, 3, 4, 5), None, False, (4, 2)),
    "causal square": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 3), None, True, (2, 2)),
    "causal T_q < T_k": ((2, 3, 3), (2, 6, 3), (2, 6, 4), None, True, (2, 4)),
    "causal T_q > T_k (empty rows)": ((1, 6, 3), (1, 4, 3), (1, 4, 2), None, True, (2, 2)),
    "padding mask": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), (2, 1, 1, 5), False, 2),
    "mask, causal, empty row": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 3), (2, 1, 5, 5), True, 2),
    "k, v shared by heads": ((2, 3, 4, 5), (2, 1, 6, 5), (2, 1, 6, 3), (4, 6), False, (2, 4)),
}


def attention_samples(rng, dtype, fused=False):
    for desc, (q_shape, k_shape, v_shape, mask_shape, causal, block) in ATTENTION_CASES.items():
        q, k, v = (randn(rng, s, dtype) for s in (q_shape, k_shape, v_shape))
        mask = None
        if mask_shape is not None:
            mask = rng.random(mask_shape) > 0.35
            if mask_shape[-2] == 1:  # key padding: keep two keys per sequence
                mask[..., :2] = True
            else:  # a fully masked query row
                mask[..., 0, :] = False
        kwargs = {"q": q, "k": k, "v": v, "mask": mask, "causal": causal}
        if fused:
            kwargs["block_size"] = block
        yield Sample(kwargs, desc)
    q, k, v = (randn(rng, (2, 4, 3), dtype) for _ in range(3))
    yield Sample({"q": q, "k": k, "v": v, "causal": True, "scale": 0.3}, "scale=0.3")
    q, k, v = (
        randn(rng, (1, 6, 3), dtype),
        randn(rng, (1, 4, 3), dtype),
        randn(rng, (1, 4, 2), dtype),
    )
    mask = rng.random((6, 4)) > 0.3
    mask[3] = False
    kwargs = {"q": q, "k": k, "v": v, "mask": mask, "causal": True, "scale": 0.7}
    if fused:
        kwargs["block_size"] = (4, 2)
    yield Sample(kwargs, "scale=0.7, mask and causal, empty rows")


def attention_oracle(sample, dout):
    """torch's scaled_dot_product_attention with npml's masks as one explicit boolean mask.

    None for samples with a query that may attend no key (torch gives NaN there, npml zeros).
    """
    import torch

    kw = sample.kwargs
    q, k, v = kw["q"], kw["k"], kw["v"]
    T_q, T_k = q.shape[-2], k.shape[-2]
    allowed = np.ones((T_q, T_k), dtype=bool)
    if kw.get("causal"):
        allowed = causal_mask(T_q, T_k)
    if kw.get("mask") is not None:
        allowed = allowed & kw["mask"]
    if not allowed.any(axis=-1).all():
        return None
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    mask = torch.as_tensor(allowed)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def fn(q, k, v):
        q, k, v = (t.expand(*batch, *t.shape[-2:]) for t in (q, k, v))
        return sdpa(q, k, v, attn_mask=mask, scale=kw.get("scale"))

    return torch_oracle(fn, {"q": q, "k": k, "v": v}, dout)


def attention_errors(rng, dtype, forward=attention_forward):
    q, k, v = (randn(rng, (2, 3, 4), dtype) for _ in range(3))
    yield ErrorInput("k", lambda: forward(q, k[..., :3], v), match="last dimension")
    yield ErrorInput("v", lambda: forward(q, k, v[:, :2]), match="T_k")
    yield ErrorInput("k", lambda: forward(q, k[:, :0], v[:, :0]), match="T_k = 0")
    yield ErrorInput("q", lambda: forward(q[0, 0], k, v), match="ndim")
    yield ErrorInput("mask", lambda: forward(q, k, v, np.ones((3, 3))), TypeError)
    yield ErrorInput("mask", lambda: forward(q, k, v, np.ones((3, 5), dtype=bool)))
    yield ErrorInput("scale", lambda: forward(q, k, v, scale=-1.0))
    yield ErrorInput("scale", lambda: forward(q, k, v, scale=np.nan))


register(
    LayerInfo(
        "attention",
        attention_forward,
        attention_backward,
        ("q", "k", "v"),
        attention_samples,
        oracle=attention_oracle,
        error_inputs=attention_errors,
        checked_inputs=("q", "k", "v"),
        flags=("causal",),
        covers=("attention_forward", "attention_backward"),
    )
)


def fused_samples(rng, dtype):
    """The plain pair's samples with small tiles, and three with several tiles each way."""
    yield from attention_samples(rng, dtype, fused=True)
    q, k, v = (
        randn(rng, (2, 17, 4), dtype),
        randn(rng, (2, 6, 4), dtype),
        randn(rng, (2, 6, 5), dtype),
    )
    kw = {"q": q, "k": k, "v": v, "causal": True, "block_size": (4, 4)}
    yield Sample(kw, "tiles: causal T_q > T_k (empty rows)")
    q, k, v = (randn(rng, (2, 2, n, d), dtype) for n, d in [(15, 5), (18, 5), (18, 4)])
    mask = rng.random((2, 2, 15, 18)) < 0.4  # an arbitrary mask per batch and head
    mask[..., 1, :] = False
    kw = {"q": q, "k": k, "v": v, "mask": mask, "block_size": 4}
    yield Sample(kw, "tiles: arbitrary mask, empty rows")
    q, k, v = (randn(rng, (2, 2, 20, 4), dtype) for _ in range(3))
    mask = rng.random((2, 2, 20, 20)) < 0.4
    kw = {"q": q, "k": k, "v": v, "mask": mask, "causal": True, "block_size": (8, 4)}
    yield Sample(kw | {"scale": 0.31}, "tiles: mask and causal, scale=0.31")


def fused_twin_samples(rng, dtype):
    """Two larger samples with several tiles each way, masks and empty rows."""
    q, k, v = (randn(rng, (2, 2, 20, 4), dtype) for _ in range(3))
    mask = rng.random((2, 2, 20, 20)) < 0.4
    mask[..., 1, :] = False
    kw = {"q": q, "k": k, "v": v, "mask": mask, "causal": True, "block_size": (8, 4)}
    yield Sample(kw, "mask and causal, empty rows")
    q = randn(rng, (2, 3, 10, 5), dtype)
    k, v = randn(rng, (2, 1, 14, 5), dtype), randn(rng, (2, 1, 14, 3), dtype)
    kw = {"q": q, "k": k, "v": v, "block_size": (4, 4), "scale": 0.6}
    yield Sample(kw, "k, v shared by heads, scale=0.6")


def fused_twin(sample, dout):
    """The plain-NumPy twins of the kernels, run on the same packed arrays and tiles."""
    from npml.nn import flash_attention as fa
    from npml.nn._flash_driver import BACKWARD_BLOCK, FORWARD_BLOCK, blocks

    _, c = fused_attention_forward(**sample.kwargs)
    T_q, T_k = c.q.shape[1], c.k.shape[1]
    fwd_tiles = blocks(c.block_size, FORWARD_BLOCK, T_q, T_k)
    out, lse = fa._flash_forward_reference(c.q, c.k, c.v, c.mask, c.causal, c.scale, *fwd_tiles)
    do3 = np.asarray(dout, dtype=c.q.dtype).reshape(c.out.shape)
    bwd_tiles = blocks(c.block_size, BACKWARD_BLOCK, T_q, T_k)
    grads = fa._flash_backward_reference(
        do3, c.q, c.k, c.v, out, lse, c.mask, c.causal, c.scale, *bwd_tiles
    )
    grads = {
        name: fa._unbroadcast(g.reshape(*c.batch, *g.shape[1:]), shape)
        for name, g, shape in zip("qkv", grads, c.shapes, strict=True)
    }
    return out.reshape(*c.batch, *out.shape[1:]), grads


def fused_errors(rng, dtype):
    yield from attention_errors(rng, dtype, fused_attention_forward)
    q, k, v = (randn(rng, (2, 3, 4), dtype) for _ in range(3))
    other = np.float32 if np.dtype(dtype) == np.float64 else np.float64
    yield ErrorInput("q", lambda: fused_attention_forward(q, k, v.astype(other)), TypeError)


register(
    LayerInfo(
        "fused_attention",
        fused_attention_forward,
        fused_attention_backward,
        ("q", "k", "v"),
        fused_samples,
        oracle=attention_oracle,
        error_inputs=fused_errors,
        checked_inputs=("q", "k", "v"),
        flags=("causal",),
        twin=fused_twin,
        twin_samples=fused_twin_samples,
        covers=("fused_attention_forward", "fused_attention_backward"),
    )
)
