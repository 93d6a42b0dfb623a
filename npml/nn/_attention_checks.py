"""Input checks of scaled dot-product attention, shared by its plain and fused paths.

``attention.py`` and ``flash_attention.py`` refuse the same inputs with the same messages:
the score scale, the shapes of ``q, k, v``, the mask, and (after the scores are formed) an
overflowed row.
"""

from __future__ import annotations

import math

import numpy as np

from npml._checks import check_array, check_scalar


def check_scale(scale: float | None, D: int) -> float:
    """The score scale: ``1 / sqrt(D)`` for ``None``, else ``scale`` checked positive and finite."""
    if scale is None:
        return 1.0 / math.sqrt(D)
    check_scalar(scale, "scale", kind=float, low=0.0, low_inclusive=False)
    return float(scale)


def check_attention_inputs(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate ``q, k, v`` and ``mask`` (module docstring) and return them as arrays.

    Raises ``ValueError`` for non-finite values, mismatched sizes, no keys, leading axes that do not
    broadcast, or a mask that does not broadcast to the score shape ``(..., T_q, T_k)``;
    ``TypeError`` for a non-boolean mask.
    """
    q = check_array(q, "q")
    k = check_array(k, "k")
    v = check_array(v, "v")
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2:
            raise ValueError(f"{name} has shape {a.shape}; expected (..., T, D) with ndim >= 2")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"q has shape {q.shape} and k has shape {k.shape}; expected the same last dimension D"
        )
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"k has shape {k.shape} and v has shape {v.shape}; expected the same number of "
            f"keys T_k (axis -2)"
        )
    if q.shape[-1] == 0:  # the default scale 1 / sqrt(D) is undefined
        raise ValueError(f"q has shape {q.shape}; expected a head dimension D >= 1")
    if k.shape[-2] == 0:  # softmax over no scores is undefined (0 / 0)
        raise ValueError(
            f"k has shape {k.shape}: T_k = 0 keys; attention needs at least one key per query"
        )
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])  # batch axes of Q K^T
    except ValueError:
        raise ValueError(
            f"the leading axes of q {q.shape}, k {k.shape} and v {v.shape} do not broadcast"
        ) from None
    if mask is not None:
        mask = check_mask(mask, (*batch, q.shape[-2], k.shape[-2]))
    return q, k, v, mask


def check_mask(mask: np.ndarray, scores_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``mask`` as a bool array; ``ValueError`` unless it broadcasts to ``scores_shape``.

    The mask may have fewer axes or size-1 axes, but must not enlarge the scores' shape.
    """
    mask = check_array(mask, "mask", dtype="bool")
    try:
        ok = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask has shape {mask.shape}, which does not broadcast to the attention scores "
            f"of shape {scores_shape} (..., T_q, T_k)"
        )
    return mask


def check_scores(
    row_stat: np.ndarray, allowed: np.ndarray | None, q: np.ndarray, k: np.ndarray
) -> None:
    """Raise ``ValueError`` naming ``q`` and ``k`` if a row of scores overflowed or is NaN.

    ``row_stat`` (..., T_q) is one number per query row: the row maximum of the scores (plain
    path) or their log-sum-exp (fused path); it is non-finite when a score is. Only rows that
    may attend some key count (``allowed``, True = may attend, broadcastable to the scores,
    causal rule included): a fully masked row has ``-inf`` (or ``+inf``) there by design. The
    check reads ``T_q`` numbers per head, and the mask only when a row is non-finite.
    """
    bad = ~np.isfinite(row_stat)
    if not bad.any():
        return
    if allowed is not None:
        has_key = np.broadcast_to(np.any(allowed, axis=-1), row_stat.shape)
        bad &= has_key | np.isnan(row_stat)
        if not bad.any():
            return
    remedy = "scale q or k down" + (", or compute in float64" if q.dtype != np.float64 else "")
    raise ValueError(
        f"the attention scores q k^T are not finite (overflow or NaN) in {int(bad.sum())} "
        f"query row(s): q and k reach {float(np.max(np.abs(q))):.3g} and "
        f"{float(np.max(np.abs(k))):.3g} in absolute value; expected scores within the "
        f"range of {q.dtype} ({remedy})"
    )
