"""The operations the complexity chapter times: npml's contenders, their peers, their flops.

Each maker takes a size ``(T, D)``, builds its inputs once (float32, fixed seeds) and
returns a callable that runs one forward pass, or ``None`` when the contender is not
available here (the fused kernel without Numba, torch not installed). A :class:`Family`
groups the contenders timed together with their peer, their flop count and the documented
cost. The encoder layer also lists its *parts* (self-attention, FFN, layer norms with the
residual adds), timed in the same passes, from which its expected exponents are predicted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from npml.bench import peer as _peer

DTYPE = np.float32
HEADS = 1  # attention sweeps time one head: every size then runs in a single BLAS call
HEAD_SIZE = 64  # the encoder layer's heads

Maker = Callable[[int, int], Callable[[], object] | None]


def _inputs(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(DTYPE)


def _plain_attention(T: int, D: int) -> Callable[[], object]:
    from npml.nn import attention_forward

    q, k, v = (_inputs((1, HEADS, T, D), s) for s in range(3))
    return lambda: attention_forward(q, k, v)


def _fused_attention(T: int, D: int) -> Callable[[], object] | None:
    try:
        from npml.nn.flash_attention import fused_attention
    except ImportError:
        return None
    q, k, v = (_inputs((1, HEADS, T, D), s) for s in range(3))
    return lambda: fused_attention(q, k, v)


def _no_grad(torch, fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` under ``torch.no_grad()``: the forward pass only, as npml's is timed."""

    def run() -> object:
        with torch.no_grad():
            return fn(*args)

    return run


def _torch_attention(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    q, k, v = (torch.from_numpy(_inputs((1, HEADS, T, D), s)) for s in range(3))
    return _no_grad(torch, torch.nn.functional.scaled_dot_product_attention, q, k, v)


def _ffn(T: int, D: int) -> Callable[[], object]:
    from npml.nn import FeedForward

    ffn = FeedForward(D, rng=0, dtype=DTYPE)
    x = _inputs((1, T, D))
    return lambda: ffn.forward(x)


def _torch_ffn(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    net = torch.nn.Sequential(
        torch.nn.Linear(D, 4 * D), torch.nn.ReLU(), torch.nn.Linear(4 * D, D)
    ).float()
    return _no_grad(torch, net, torch.from_numpy(_inputs((1, T, D))))


def _encoder_layer(D: int):  # -> TransformerEncoderLayer
    from npml.nn.transformer import TransformerEncoderLayer

    return TransformerEncoderLayer(D, max(1, D // HEAD_SIZE), rng=0, dtype=DTYPE)


def _encoder(T: int, D: int) -> Callable[[], object]:
    layer = _encoder_layer(D)
    x = _inputs((1, T, D))
    return lambda: layer.forward(x)


def _encoder_attention_part(T: int, D: int) -> Callable[[], object]:
    """The layer's self-attention sublayer: projections (T D^2) and attention (T^2 D)."""
    layer = _encoder_layer(D)
    a = layer.norm1(_inputs((1, T, D)))
    return lambda: layer.self_attn(a)


def _encoder_ffn_part(T: int, D: int) -> Callable[[], object]:
    """The layer's feed-forward sublayer (T D^2)."""
    layer = _encoder_layer(D)
    b = layer.norm2(_inputs((1, T, D)))
    return lambda: layer.ffn(b)


def _encoder_elementwise_part(T: int, D: int) -> Callable[[], object]:
    """The layer's two layer norms and two residual adds (T D)."""
    layer = _encoder_layer(D)
    x, s = _inputs((1, T, D)), _inputs((1, T, D), 1)

    def run() -> object:
        h = x + s  # residual around the attention
        return layer.norm1(x), layer.norm2(h), h + s  # ... and around the FFN

    return run


def _torch_encoder(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    layer = torch.nn.TransformerEncoderLayer(
        D, max(1, D // HEAD_SIZE), 4 * D, dropout=0.0, batch_first=True, norm_first=True
    ).eval()
    return _no_grad(torch, layer, torch.from_numpy(_inputs((1, T, D))))


# flops of one forward pass (multiply-adds count 2)
def _attention_flops(T: float, D: float) -> float:
    return HEADS * 4.0 * T * T * D  # Q K^T and A V, per head


def _ffn_flops(T: float, D: float) -> float:
    return 16.0 * T * D * D  # (T, D) @ (D, 4D) and (T, 4D) @ (4D, D)


def _encoder_flops(T: float, D: float) -> float:
    return 4.0 * T * T * D + 8.0 * T * D * D + 16.0 * T * D * D  # attention + projections + FFN


@dataclass(frozen=True)
class Part:
    """A part of a family's operation and the cost terms it is documented to have."""

    make: Maker
    terms: tuple[str, ...]  # names of COST_TERMS


# Each term is T^p D^q; the encoder's parts use them (see the chapter docstring).
COST_TERMS: dict[str, Callable[[float, float], float]] = {
    "T^2 D": lambda T, D: T * T * D,
    "T D^2": lambda T, D: T * D * D,
    "T D": lambda T, D: T * D,
}


@dataclass(frozen=True)
class Family:
    """Operations timed together: npml's contenders, the peer, their flops and the formula."""

    contenders: dict[str, Maker]
    peer: tuple[str, Maker]
    flops: Callable[[float, float], float]
    documented: str
    exponents: tuple[float, float] | None  # (in T, in D); None: predicted from the parts
    parts: dict[str, Part] = field(default_factory=dict)  # timed, not printed per size


FAMILIES = {
    "attention": Family(
        {"attention (plain)": _plain_attention, "attention (fused)": _fused_attention},
        ("torch SDPA", _torch_attention),
        _attention_flops,
        "O(T^2 D)",
        (2.0, 1.0),
    ),
    "FFN": Family({"FFN": _ffn}, ("torch", _torch_ffn), _ffn_flops, "O(T D^2)", (1.0, 2.0)),
    "encoder layer": Family(
        {"encoder layer": _encoder},
        ("torch", _torch_encoder),
        _encoder_flops,
        "O(T^2 D + T D^2)",
        None,
        {
            "part: self-attention": Part(_encoder_attention_part, ("T^2 D", "T D^2")),
            "part: FFN": Part(_encoder_ffn_part, ("T D^2",)),
            "part: norms and residuals": Part(_encoder_elementwise_part, ("T D",)),
        },
    ),
}
