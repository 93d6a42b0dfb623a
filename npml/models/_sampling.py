"""Sampling one next token from logits: temperature, top-k, or greedy arg max.

The step :meth:`~npml.models.causal_lm.CausalLM.generate` repeats once per new token,
:math:`u_{t+1} \\sim \\operatorname{softmax}(z_t / \\tau)` restricted to the ``top_k``
largest logits, drawn by inverting the cumulative distribution with one uniform per row.
"""

from __future__ import annotations

import numpy as np


def _sample(
    logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator
) -> np.ndarray:
    """One token per row of ``logits`` (B, V): softmax(logits / temperature), top-k, or argmax."""
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    z = logits.astype(np.float64)  # (B, V)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k, None]  # (B, 1) k-th largest
        z = np.where(z < kth, -np.inf, z)
    # Shift first, then divide: z - max z <= 0 with a 0 at the arg max, so a tiny temperature
    # sends every other entry to -inf (probability 0) instead of inf / inf = NaN.
    with np.errstate(over="ignore"):
        z = (z - z.max(axis=-1, keepdims=True)) / temperature
    p = np.exp(z)
    cdf = np.cumsum(p, axis=-1)  # (B, V), unnormalised
    u = rng.random((z.shape[0], 1)) * cdf[:, -1:]  # (B, 1)
    # inverse CDF: the first index whose cumulative mass exceeds u
    return np.minimum((cdf <= u).sum(axis=-1), z.shape[-1] - 1)
