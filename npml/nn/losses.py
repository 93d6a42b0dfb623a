"""Softmax cross-entropy over the last axis, with ``ignore_index`` for padding.

For logits :math:`z_n \\in \\mathbb{R}^V` and integer targets :math:`y_n`, averaged over the set
:math:`\\mathcal{N}` of positions whose target is not ``ignore_index``:

.. math::

    L = -\\frac{1}{|\\mathcal{N}|} \\sum_{n \\in \\mathcal{N}}
          \\log \\operatorname{softmax}(z_n)_{y_n}
      = \\frac{1}{|\\mathcal{N}|} \\sum_{n \\in \\mathcal{N}}
        \\Bigl(\\log \\sum_v e^{z_{nv}} - z_{n y_n}\\Bigr),
    \\qquad
    \\frac{\\partial L}{\\partial z_n}
      = \\frac{\\operatorname{softmax}(z_n) - e_{y_n}}{|\\mathcal{N}|}
    \\;(n \\in \\mathcal{N}), \\quad 0 \\text{ otherwise}.

The log-sum-exp is computed after subtracting each row's maximum, so huge logits do not
overflow. When every target is ignored, :math:`|\\mathcal{N}| = 0`: the loss is defined as 0
with zero gradients (PyTorch returns NaN there), so a fully padded batch is harmless.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array


class CrossEntropyCache(NamedTuple):
    probs: np.ndarray  # (N, V) softmax of the logits
    targets: np.ndarray  # (N,) int, ignored positions replaced by 0
    keep: np.ndarray  # (N,) bool, False where the target is ignore_index
    n_kept: int
    shape: tuple[int, ...]  # the logits' shape (..., V)


def softmax_cross_entropy_forward(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int | None = None
) -> tuple[float, CrossEntropyCache]:
    """Mean cross-entropy of ``softmax(logits)`` against ``targets`` (module docstring).

    Parameters
    ----------
    logits : ndarray, shape (..., V)
    targets : ndarray of int, shape (...)
        Class indices in ``[0, V)``, or ``ignore_index``.
    ignore_index : int, optional
        Targets equal to it do not count (neither in the sum nor in the mean).

    Returns
    -------
    loss : float
    cache : CrossEntropyCache
    """
    logits = check_array(logits, "logits")
    targets = check_array(targets, "targets", dtype="int")
    if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits has shape {logits.shape} and targets has shape {targets.shape}; "
            "expected logits (..., V) and targets (...)"
        )
    V = logits.shape[-1]
    z = logits.reshape(-1, V)  # (N, V)
    t = targets.reshape(-1)  # (N,)
    keep = np.ones(t.shape, dtype=bool) if ignore_index is None else t != ignore_index
    bad = keep & ((t < 0) | (t >= V))
    if bad.any():
        raise ValueError(
            f"targets contains {int(bad.sum())} value(s) outside [0, {V}) such as "
            f"{int(t[bad][0])}; expected class indices below V={V}"
            + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
        )
    t = np.where(keep, t, 0)
    # log softmax via the shifted log-sum-exp
    shifted = z - z.max(axis=-1, keepdims=True)  # (N, V), every entry <= 0
    probs = np.exp(shifted)
    sums = probs.sum(axis=-1, keepdims=True)  # (N, 1)
    probs /= sums
    rows = np.arange(t.size)
    nll = np.log(sums[:, 0]) - shifted[rows, t]  # (N,)
    n_kept = int(keep.sum())
    loss = float(nll[keep].sum() / n_kept) if n_kept else 0.0
    return loss, CrossEntropyCache(probs, t, keep, n_kept, logits.shape)


def softmax_cross_entropy_backward(dloss: float, cache: CrossEntropyCache) -> np.ndarray:
    """Gradient of :func:`softmax_cross_entropy_forward` with respect to the logits.

    Parameters
    ----------
    dloss : float
        Upstream gradient of the scalar loss (1.0 when the loss is the objective).
    cache : CrossEntropyCache

    Returns
    -------
    dlogits : ndarray, shape (..., V)
    """
    probs, t, keep, n_kept, shape = cache
    if n_kept == 0:
        return np.zeros(shape, dtype=probs.dtype)
    dz = probs.copy()  # (N, V)
    dz[np.arange(t.size), t] -= 1.0
    dz *= (float(dloss) / n_kept) * keep[:, None]
    return dz.reshape(shape)
