"""Log-probability of whole sequences under a language model, and its gradient.

Preference losses (DPO, IPO, SLiC) score a response :math:`y` by its log-probability,
the sum over its tokens of the model's log-softmax at the token:

.. math::

    \\log \\pi(y) = \\sum_{t} m_t \\log \\operatorname{softmax}(z_t)[y_t], \\qquad
    \\frac{\\partial \\log \\pi(y)}{\\partial z_t} = m_t\\,(e_{y_t} - \\operatorname{softmax}(z_t)),

where :math:`z_t` are the logits at position *t* and the mask :math:`m_t \\in \\{0, 1\\}`
selects the positions that count (the response, not the prompt or the padding).

**Shift convention.** ``logits[:, t]`` scores ``tokens[:, t]``: nothing is shifted here.
A causal LM's logits at position *t* predict the token at *t + 1*, so the caller passes
``logits[:, :-1]`` with ``tokens[:, 1:]`` and ``mask[:, 1:]`` (and pads the gradient back
to the full length with a zero last position).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_bool
from npml.ops import log_softmax


class SequenceLogpsCache(NamedTuple):
    probs: np.ndarray  # (B, T, V) softmax of the logits
    tokens: np.ndarray  # (B, T) int64, masked positions replaced by 0
    mask: np.ndarray  # (B, T) float, 0/1 (divided by the length when average=True)


def _check(logits: np.ndarray, tokens: np.ndarray, mask: np.ndarray | None, name="tokens"):
    """The checked ``(logits, tokens, mask)``; ``name`` is what the caller calls ``tokens``."""
    logits = check_array(logits, "logits", ndim=3)
    B, T, V = logits.shape
    tokens = check_array(tokens, name, ndim=2, dtype="int")
    if tokens.shape != (B, T):
        raise ValueError(f"{name} has shape {tokens.shape}; expected {(B, T)} like logits")
    if mask is None:
        mask = np.ones((B, T), dtype=logits.dtype)
    else:
        mask = check_array(mask, "mask", ndim=2, dtype=None)
        if mask.shape != (B, T):
            raise ValueError(f"mask has shape {mask.shape}; expected {(B, T)} like {name}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask has values other than 0 and 1 (or False/True)")
        mask = mask.astype(logits.dtype)
    live = mask > 0
    if np.any(live & ((tokens < 0) | (tokens >= V))):
        bad = tokens[live & ((tokens < 0) | (tokens >= V))][0]
        raise ValueError(f"{name} contains {bad} at a masked-in position; expected [0, {V})")
    tokens = np.where(live, tokens, 0).astype(np.int64)  # padding ids may be anything
    return logits, tokens, mask


def sequence_logps_forward(
    logits: np.ndarray, tokens: np.ndarray, mask: np.ndarray | None = None, average: bool = False
) -> tuple[np.ndarray, SequenceLogpsCache]:
    """Masked sum of token log-probabilities per sequence (module docstring).

    Parameters
    ----------
    logits : ndarray, shape (B, T, V)
        ``logits[b, t]`` scores ``tokens[b, t]`` (the caller shifts; module docstring).
    tokens : ndarray of int, shape (B, T)
        Token ids; positions with mask 0 may hold anything (e.g. a padding id of -100).
    mask : ndarray of 0/1 or bool, shape (B, T), optional
        Which positions count; default all.
    average : bool, default False
        Divide each sum by the number of counted positions (a length-normalised score).

    Returns
    -------
    logps : ndarray, shape (B,)
    cache : SequenceLogpsCache
    """
    average = check_bool(average, "average")
    logits, tokens, mask = _check(logits, tokens, mask)
    if average:
        length = mask.sum(axis=1, keepdims=True)  # (B, 1)
        if np.any(length == 0):
            raise ValueError("average=True needs at least one masked-in position per sequence")
        mask = mask / length
    # 1. log-softmax over the vocabulary.
    log_probs = log_softmax(logits, axis=-1)  # (B, T, V)
    # 2. pick each position's token.
    picked = np.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]  # (B, T)
    # 3. masked sum over positions.
    logps = (picked * mask).sum(axis=1)  # (B,)
    return logps, SequenceLogpsCache(np.exp(log_probs), tokens, mask)


def sequence_logps_backward(dlogps: np.ndarray, cache: SequenceLogpsCache) -> np.ndarray:
    """Gradient with respect to the logits, shape (B, T, V), from ``dlogps`` of shape (B,)."""
    if not isinstance(cache, SequenceLogpsCache):
        raise TypeError(
            f"cache is a {type(cache).__name__}; expected the SequenceLogpsCache that "
            "sequence_logps_forward returned"
        )
    B, T, V = cache.probs.shape
    dlogps = check_array(dlogps, "dlogps", ndim=1)
    if dlogps.shape != (B,):
        raise ValueError(f"dlogps has shape {dlogps.shape}; expected {(B,)}")
    # 3. d picked = dlogps * mask
    dpicked = dlogps[:, None] * cache.mask  # (B, T)
    # 2. + 1. d logits = d picked * (one_hot(token) - softmax)
    dlogits = -cache.probs * dpicked[..., None]  # (B, T, V)
    np.put_along_axis(
        dlogits,
        cache.tokens[..., None],
        np.take_along_axis(dlogits, cache.tokens[..., None], axis=-1) + dpicked[..., None],
        axis=-1,
    )
    return dlogits


def sequence_logps(
    logits: np.ndarray, tokens: np.ndarray, mask: np.ndarray | None = None, average: bool = False
) -> np.ndarray:
    """Just the log-probabilities of :func:`sequence_logps_forward`, shape (B,)."""
    return sequence_logps_forward(logits, tokens, mask, average)[0]
