"""Registry entries of multi-head attention: the functional pair and the two modules."""

from __future__ import annotations

import numpy as np

from npml.nn import (
    MultiHeadAttention,
    MultiHeadCrossAttention,
    causal_mask,
    mha_backward,
    mha_forward,
)
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register
from npml.testing.npml_layers._util import randn, torch_oracle

# ---- the multi-head pair ------------------------------------------------------------------
MHA_CASES = [
    # B, T, S, D, H, cross, rope, causal, masked, biases (which of b_q, b_k, b_v, b_o), impl
    (1, 1, 1, 4, 2, False, None, False, False, "", "naive"),  # T = 1
    (2, 5, 5, 6, 3, False, None, True, False, "qkvo", "naive"),  # causal, head_dim 2
    (2, 4, 4, 9, 3, False, None, False, True, "qo", "naive"),  # odd head_dim 3, some biases
    (3, 3, 3, 5, 1, False, None, True, True, "v", "naive"),  # one head of odd size 5
    (2, 5, 5, 8, 2, False, 100.0, True, True, "qkvo", "naive"),  # RoPE with mask and causal
    (1, 1, 1, 4, 2, False, 10.0, False, False, "k", "naive"),  # RoPE at T = 1
    (2, 3, 5, 6, 2, True, None, False, True, "qkvo", "naive"),  # cross-attention, T_q < T_k
    (2, 4, 1, 9, 3, True, None, False, False, "o", "naive"),  # cross, a single key
    (1, 1, 4, 4, 4, True, None, True, False, "", "naive"),  # cross, T_q = 1, head_dim 1
    (2, 5, 5, 8, 2, False, 100.0, True, True, "qkvo", "fused"),  # the fused kernel
    (2, 3, 5, 6, 2, True, None, False, True, "qkv", "fused"),  # fused cross-attention
]


def mha_zero_grads(S, cross, rope, module_prefix=""):
    """Gradients that are exactly zero: b_k (softmax ignores a constant row shift) without
    RoPE, and everything that only moves the scores when there is a single key."""
    zero = set()
    if rope is None:
        zero.add("b_k")
    if S == 1:
        zero |= {"W_q", "W_k", "b_q", "b_k"} | ({"x"} if cross else set())
    return frozenset(module_prefix + name for name in zero)


def mha_samples(rng, dtype):
    for B, T, S, D, H, cross, rope, causal, masked, biases, impl in MHA_CASES:
        W = {
            name: randn(rng, (D, D), dtype, 1 / np.sqrt(D)) for name in ("W_q", "W_k", "W_v", "W_o")
        }
        b = {f"b_{c}": randn(rng, (D,), dtype) if c in biases else None for c in "qkvo"}
        mask = None
        if masked:
            mask = rng.random((B, 1, T, S)) > 0.4
            mask[..., 0] = True
        kwargs = {"x": randn(rng, (B, T, D), dtype), **W, **b, "n_heads": H}
        kwargs |= {"context": randn(rng, (B, S, D), dtype) if cross else None}
        kwargs |= {"mask": mask, "causal": causal, "rope_base": rope, "attn_impl": impl}
        desc = f"{'cross' if cross else 'self'} B={B} T={T} S={S} D={D} H={H} {impl}"
        desc += f"{' rope' if rope else ''}{' causal' if causal else ''}{' mask' if masked else ''}"
        zero = mha_zero_grads(S, cross, rope) & {k for k, v in kwargs.items() if v is not None}
        yield Sample(kwargs, desc + (f" biases={biases}" if biases else ""), zero_grads=zero)


def torch_mha(arrays, dout, n_heads, rope_base, mask, causal):
    """Multi-head attention composed in torch (projections, heads, ``sdpa``, ``W_o``).

    ``arrays`` holds ``x``, optionally ``context``, and the weights and biases under npml's
    names. None with RoPE (torch has none) or when a query may attend no key (torch: NaN).
    """
    import torch

    if rope_base is not None:
        return None
    x, context = arrays["x"], arrays.get("context")
    B, T, D = x.shape
    S = T if context is None else context.shape[1]
    allowed = causal_mask(T, S) if causal else np.ones((T, S), dtype=bool)
    allowed = np.broadcast_to(allowed if mask is None else allowed & mask, (B, n_heads, T, S))
    if not allowed.any(axis=-1).all():
        return None
    attn_mask = torch.as_tensor(np.array(allowed))  # a writeable copy of the broadcast
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def mha(x, W_q, W_k, W_v, W_o, context=None, b_q=None, b_k=None, b_v=None, b_o=None):
        def heads(a, W, b):  # (B, L, D) -> (B, H, L, D / H)
            y = a @ W if b is None else a @ W + b
            return y.reshape(B, -1, n_heads, D // n_heads).transpose(1, 2)

        c = x if context is None else context
        o = sdpa(heads(x, W_q, b_q), heads(c, W_k, b_k), heads(c, W_v, b_v), attn_mask=attn_mask)
        y = o.transpose(1, 2).reshape(B, T, D) @ W_o
        return y if b_o is None else y + b_o

    return torch_oracle(mha, arrays, dout)


def mha_oracle(sample, dout):
    kw = sample.kwargs
    arrays = {k: v for k, v in kw.items() if isinstance(v, np.ndarray) and k != "mask"}
    return torch_mha(arrays, dout, kw["n_heads"], kw["rope_base"], kw["mask"], kw["causal"])


def module_oracle(sample, dout):
    """:func:`torch_mha` with the module's parameters, for both attention modules."""
    m, kw = sample.module, sample.kwargs
    arrays = {k: v for k, v in kw.items() if k in ("x", "context")}
    arrays |= {name: p.data for name, p in m.named_parameters()}
    return torch_mha(arrays, dout, m.n_heads, m.rope_base, kw.get("mask"), kw.get("causal"))


def mha_errors(rng, dtype):
    D = 6
    x = randn(rng, (2, 3, D), dtype)
    W = [np.eye(D, dtype=dtype)] * 4
    yield ErrorInput("n_heads", lambda: mha_forward(x, *W, n_heads=4), match="not divisible")
    yield ErrorInput("W_k", lambda: mha_forward(x, W[0], W[1][:4], *W[2:], n_heads=2))
    yield ErrorInput("b_v", lambda: mha_forward(x, *W, b_v=np.ones(3, dtype), n_heads=2))
    yield ErrorInput("x", lambda: mha_forward(x[0], *W, n_heads=2), match="ndim")
    yield ErrorInput("context", lambda: mha_forward(x, *W, n_heads=2, context=x[:1]))
    rope = dict(n_heads=2, rope_base=100.0)
    yield ErrorInput("head_dim", lambda: mha_forward(x, *W, **rope), match="odd")
    W8 = [np.eye(8, dtype=dtype)] * 4
    x8 = randn(rng, (2, 3, 8), dtype)
    yield ErrorInput("rope_base", lambda: mha_forward(x8, *W8, context=x8, **rope))
    yield ErrorInput("positions", lambda: mha_forward(x8, *W8, positions=np.arange(4), **rope))
    yield ErrorInput("mask", lambda: mha_forward(x, *W, n_heads=2, mask=np.ones((3, 4), bool)))
    yield ErrorInput("attn_impl", lambda: mha_forward(x, *W, n_heads=2, attn_impl="flash"))


register(
    LayerInfo(
        "mha",
        mha_forward,
        mha_backward,
        ("x", "context", "W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o"),
        mha_samples,
        oracle=mha_oracle,
        error_inputs=mha_errors,
        checked_inputs=("x",),
        flags=("causal",),
        covers=("mha_forward", "mha_backward", "MHACache", "MHAGrads"),
    )
)


# ---- the two modules ----------------------------------------------------------------------
SELF_CASES = [
    # B, T, D, H, bias, rope, causal, masked, attn_impl
    (1, 1, 4, 2, False, None, False, False, "naive"),  # T = 1
    (2, 5, 6, 3, True, None, True, False, "naive"),  # causal, biases
    (2, 4, 9, 3, True, None, False, True, "naive"),  # odd D (head_dim 3), padding mask
    (2, 5, 8, 2, True, 100.0, True, True, "naive"),  # RoPE, mask and causal
    (1, 3, 4, 1, False, 10.0, False, False, "naive"),  # one head
    (1, 3, 4, 1, False, 10.0, False, False, "fused"),  # the same on the fused kernel
]


def self_attention_samples(rng, dtype):
    for B, T, D, H, bias, rope, causal, masked, impl in SELF_CASES:
        m = MultiHeadAttention(D, H, bias, rope, impl, rng=rng, dtype=dtype)
        for p in (m.b_q, m.b_k, m.b_v, m.b_o) if bias else ():
            p.data[...] = randn(rng, (D,), dtype)
        mask = None
        if masked:
            mask = rng.random((B, 1, 1, T)) > 0.4
            mask[..., 0] = True
        kwargs = {"x": randn(rng, (B, T, D), dtype), "mask": mask, "causal": causal}
        zero = mha_zero_grads(T, False, rope) & {n for n, _ in m.named_parameters()}
        desc = f"B={B} T={T} D={D} H={H} bias={bias} rope={rope} causal={causal} mask={masked}"
        yield Sample(kwargs, f"{desc} {impl}", m, zero)


def self_attention_errors(rng, dtype):
    m = MultiHeadAttention(6, 2, rng=0, dtype=dtype)
    yield ErrorInput("x", lambda: m(np.ones((2, 3, 5), dtype)), match="last dimension 6")
    yield ErrorInput("n_heads", lambda: MultiHeadAttention(6, 4))
    yield ErrorInput("head_dim", lambda: MultiHeadAttention(6, 2, rope_base=100.0))
    yield ErrorInput("attn_impl", lambda: MultiHeadAttention(6, 2, attn_impl="flash"))
    yield ErrorInput("bias", lambda: MultiHeadAttention(6, 2, bias="no"), TypeError)
    yield ErrorInput(
        "forward", lambda: MultiHeadAttention(4, 2).backward(np.ones((1, 1, 4))), RuntimeError
    )


register(
    LayerInfo(
        "MultiHeadAttention",
        None,
        None,
        ("x",),
        self_attention_samples,
        module=True,
        oracle=module_oracle,
        error_inputs=self_attention_errors,
        checked_inputs=("x",),
        flags=("causal",),
        covers=("MultiHeadAttention",),
    )
)


def cross_attention_samples(rng, dtype):
    cases = [(2, 3, 5, 6, 2, True, "naive"), (2, 3, 5, 6, 2, False, "naive")]
    cases += [(1, 1, 1, 4, 2, False, "naive")]
    cases += [(2, 4, 3, 8, 4, True, "fused")]
    for B, T, S, D, H, bias, impl in cases:
        m = MultiHeadCrossAttention(D, H, bias, impl, rng=rng, dtype=dtype)
        for p in (m.b_q, m.b_k, m.b_v, m.b_o) if bias else ():
            p.data[...] = randn(rng, (D,), dtype)
        mask = rng.random((B, 1, T, S)) > 0.3
        mask[..., 0] = True
        if impl == "naive" and T > 1:
            mask[0, 0, 1] = False  # a query that may attend nothing gets zeros, not NaN
        kwargs = {"x": randn(rng, (B, T, D), dtype), "context": randn(rng, (B, S, D), dtype)}
        kwargs["mask"] = mask
        zero = mha_zero_grads(S, True, None) & ({n for n, _ in m.named_parameters()} | {"x"})
        yield Sample(kwargs, f"B={B} T={T} S={S} D={D} H={H} bias={bias} {impl}", m, zero)


def cross_attention_errors(rng, dtype):
    m = MultiHeadCrossAttention(6, 2, rng=0, dtype=dtype)
    x = np.ones((2, 3, 6), dtype)
    yield ErrorInput("context", lambda: m(x, None), TypeError)
    yield ErrorInput("context", lambda: m(x, np.ones((2, 4, 5), dtype)), match="last dimension")
    yield ErrorInput("context", lambda: m(x, np.ones((1, 4, 6), dtype)), match="batch")
    yield ErrorInput("forward", lambda: MultiHeadCrossAttention(4, 2).backward(x), RuntimeError)
    yield ErrorInput("bias", lambda: MultiHeadCrossAttention(6, 2, bias=1), TypeError)


register(
    LayerInfo(
        "MultiHeadCrossAttention",
        None,
        None,
        ("x", "context"),
        cross_attention_samples,
        module=True,
        oracle=module_oracle,
        error_inputs=cross_attention_errors,
        checked_inputs=("x", "context"),
        covers=("MultiHeadCrossAttention",),
    )
)
