"""Argument checks of multi-head attention (``mha.py``): heads, RoPE positions and weights.

Kept apart so that ``mha.py`` reads as the equations and the forward/backward pair; each
check raises an error naming the argument it refuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import check_array, check_scalar


def _positions(positions: Any, B: int, T: int, offset: int) -> np.ndarray:
    """RoPE positions broadcastable to ``(B, H, T)``."""
    if positions is None:
        return np.arange(offset, offset + T)
    positions = check_array(positions, "positions", dtype="int")
    if positions.shape not in ((T,), (B, T)):
        raise ValueError(f"positions has shape {positions.shape}; want ({T},) or ({B}, {T})")
    return positions if positions.ndim == 1 else positions[:, None, :]  # (B, 1, T)


def check_heads(d_model: int, n_heads: int, rope_base: float | None) -> None:
    """Validate ``n_heads`` (must divide ``d_model``) and ``rope_base`` (even ``head_dim``)."""
    check_scalar(n_heads, "n_heads", kind=int, low=1)
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    if rope_base is not None:
        check_scalar(rope_base, "rope_base", low=1.0, low_inclusive=False)
        if (d_model // n_heads) % 2:
            raise ValueError(
                f"head_dim={d_model // n_heads} (d_model={d_model} / n_heads={n_heads}) is "
                "odd; RoPE rotates pairs of dimensions, so it needs an even head_dim"
            )


def _as_arrays(names: tuple[str, ...], values: tuple, optional: bool = False) -> tuple:
    """Weights as arrays: ndarrays pass as they are, lists are converted and checked.

    ``None`` passes only when ``optional`` (the biases); a missing weight raises ``TypeError``
    naming it.
    """
    return tuple(
        v if isinstance(v, np.ndarray) or (optional and v is None) else check_array(v, name)
        for name, v in zip(names, values, strict=True)
    )


def _check_weights(W: tuple, b: tuple) -> int:
    """Validate the four weights and the biases; return ``d_model``."""
    W_q = W[0]
    if W_q.ndim != 2 or W_q.shape[0] != W_q.shape[1]:
        raise ValueError(f"W_q has shape {W_q.shape}; expected (d_model, d_model)")
    D = W_q.shape[0]
    for name, w in zip(("W_q", "W_k", "W_v", "W_o"), W, strict=True):
        if w.shape != (D, D):
            raise ValueError(f"{name} has shape {w.shape}; expected ({D}, {D}) like W_q")
    for name, v in zip(("b_q", "b_k", "b_v", "b_o"), b, strict=True):
        if v is not None and v.shape != (D,):
            raise ValueError(f"{name} has shape {v.shape}; expected ({D},)")
    return D
