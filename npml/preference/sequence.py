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
    """Log-probability of each sequence under ``logits``: a masked sum over its tokens.

    ``logps[b] = sum_t mask[b, t] log softmax(logits[b, t])[tokens[b, t]]``, the quantity DPO
    and IPO compare between policy and reference (steps and gradient in
    :mod:`npml.preference.sequence`; the backward is :func:`sequence_logps_backward`).

    Parameters
    ----------
    logits : ndarray, shape (B, T, V)
        ``logits[b, t]`` scores ``tokens[b, t]`` (the caller shifts: for a causal LM,
        ``logits[:, :-1]`` score ``ids[:, 1:]``).
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

    Examples
    --------
    >>> logits = np.zeros((1, 3, 4))                    # (B=1, T=3, V=4): uniform
    >>> tokens = np.array([[1, 2, 3]])
    >>> logps, cache = sequence_logps_forward(logits, tokens, mask=np.array([[1, 1, 0]]))
    >>> bool(np.isclose(logps[0], 2 * np.log(0.25)))   # two positions count
    True
    >>> sequence_logps_backward(np.ones(1), cache)[0, 0]
    array([-0.25,  0.75, -0.25, -0.25])
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
    """Gradient of :func:`sequence_logps_forward` with respect to the logits.

    ``dlogits[b, t] = dlogps[b] * mask[b, t] * (onehot(tokens[b, t]) - softmax(logits[b, t]))``.

    Parameters
    ----------
    dlogps : ndarray, shape (B,)
        Gradient of the loss with respect to each sequence's log-probability.
    cache : SequenceLogpsCache
        From :func:`sequence_logps_forward`.

    Returns
    -------
    dlogits : ndarray, shape (B, T, V)

    Examples
    --------
    See :func:`sequence_logps_forward`.
    """
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
    """The per-sequence log-probabilities of :func:`sequence_logps_forward`, without the cache.

    For evaluation and for a frozen reference model, where no backward pass follows. The
    arguments are those of :func:`sequence_logps_forward`.

    Returns
    -------
    ndarray, shape (B,)

    Examples
    --------
    >>> sequence_logps(np.zeros((2, 2, 2)), np.array([[0, 1], [1, 1]])).round(4)
    array([-1.3863, -1.3863])
    """
    return sequence_logps_forward(logits, tokens, mask, average)[0]
