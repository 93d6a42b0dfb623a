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

**Implementation.** ``_cross_entropy_forward_reference`` / ``_cross_entropy_backward_reference``
are the plain NumPy definitions; for float32/float64 C-contiguous logits with at least
``KERNEL_MIN_SIZE`` entries the public functions call the Numba kernels of
:mod:`npml.nn._loss_kernels` (one parallel pass over the rows each way), which also flag
non-finite logits through the row losses, so no separate scan is needed. The loss is the sum
of the kept rows' terms, taken by NumPy in both paths, in the logits' dtype.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_scalar

KERNEL_MIN_SIZE = 8192  # entries of the logits; below it the NumPy twin is as fast (measured)


class CrossEntropyCache(NamedTuple):
    probs: np.ndarray  # (N, V) softmax of the logits
    targets: np.ndarray  # (N,) int, ignored positions replaced by 0
    keep: np.ndarray  # (N,) bool, False where the target is ignore_index
    n_kept: int
    shape: tuple[int, ...]  # the logits' shape (..., V)


def softmax_cross_entropy_forward(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int | None = None
) -> tuple[float, CrossEntropyCache]:
    """Mean cross-entropy ``-log softmax(logits)[target]`` over all positions.

    Computed from ``logsumexp`` so that large logits do not overflow; the gradient,
    ``(softmax(logits) - onehot(targets)) / N``, is :func:`softmax_cross_entropy_backward`'s
    (derivation in :mod:`npml.nn.losses`).

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

    Examples
    --------
    >>> logits = np.array([[0.0, 0.0], [0.0, 0.0]])  # (N=2, V=2): uniform predictions
    >>> loss, cache = softmax_cross_entropy_forward(logits, np.array([0, 1]))
    >>> round(loss, 6) == round(float(np.log(2)), 6)
    True
    >>> softmax_cross_entropy_backward(1.0, cache)
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """
    logits = check_array(logits, "logits", finite=False)
    targets = check_array(targets, "targets", dtype="int")
    if ignore_index is not None:
        check_scalar(ignore_index, "ignore_index", kind=int)
    if logits.ndim >= 1 and logits.shape[-1] == 0:
        raise ValueError(f"logits has shape {logits.shape}; expected at least one class (V >= 1)")
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
    if _use_kernel(z):
        from npml.nn import _loss_kernels as kern

        probs, nll = np.empty_like(z), np.empty(z.shape[0], z.dtype)  # (N, V), (N,)
        with kern.kernel_threads(z.size):
            kern._cross_entropy_forward_kernel(z, t, z.dtype.type(0), probs, nll)
        if not np.isfinite(nll).all():
            check_array(logits, "logits")  # raises, naming the non-finite entries
    else:
        check_array(logits, "logits")
        probs, nll = _cross_entropy_forward_reference(z, t)
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
    dloss = check_scalar(dloss, "dloss")
    if n_kept == 0:
        return np.zeros(shape, dtype=probs.dtype)
    scale = float(dloss) / n_kept
    if _use_kernel(probs):
        from npml.nn import _loss_kernels as kern

        dz = np.empty_like(probs)  # (N, V)
        with kern.kernel_threads(dz.size):
            kern._cross_entropy_backward_kernel(probs, t, keep, probs.dtype.type(scale), dz)
        return dz.reshape(shape)
    return _cross_entropy_backward_reference(probs, t, keep, scale).reshape(shape)


def _cross_entropy_forward_reference(z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of the forward kernel: ``probs`` (N, V) and row losses ``nll`` (N,)."""
    # log softmax via the shifted log-sum-exp
    shifted = z - z.max(axis=-1, keepdims=True)  # (N, V), every entry <= 0
    probs = np.exp(shifted)
    sums = probs.sum(axis=-1, keepdims=True)  # (N, 1)
    probs /= sums
    nll = np.log(sums[:, 0]) - shifted[np.arange(t.size), t]  # (N,)
    return probs, nll


def _cross_entropy_backward_reference(
    probs: np.ndarray, t: np.ndarray, keep: np.ndarray, scale: float
) -> np.ndarray:
    """NumPy twin of the backward kernel: ``scale * (probs - onehot(t))``, 0 where not kept."""
    dz = probs.copy()  # (N, V)
    dz[np.arange(t.size), t] -= 1.0
    dz *= scale * keep[:, None]
    return dz


def _use_kernel(z: np.ndarray) -> bool:
    """Whether the Numba kernels take this call (dtype, layout and size rule)."""
    ok = z.dtype in (np.float32, np.float64) and z.flags.c_contiguous
    return ok and z.size >= KERNEL_MIN_SIZE and z.shape[-1] > 0
