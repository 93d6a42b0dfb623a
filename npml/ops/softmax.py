"""Softmax, log-softmax and log-sum-exp, stable for huge logits and for ``-inf`` masks.

.. math::

    \\operatorname{softmax}(x)_i = \\frac{e^{x_i}}{\\sum_j e^{x_j}}
    = \\frac{e^{x_i - m}}{\\sum_j e^{x_j - m}}, \\qquad
    \\operatorname{logsumexp}(x) = m + \\log \\sum_j e^{x_j - m}, \\quad m = \\max_j x_j.

Subtracting the maximum :math:`m` changes nothing mathematically but keeps every exponent
:math:`\\le 0`, so logits of :math:`\\pm 10^4` neither overflow nor underflow to 0/0.

Masking sets a logit to :math:`-\\infty`. A slice whose entries are *all* :math:`-\\infty`
(a query that may attend to nothing) has no finite maximum; npml defines its results as

* ``softmax``: all zeros (no probability mass anywhere, rather than NaN),
* ``logsumexp``: :math:`-\\infty` (the log of an empty sum),
* ``log_softmax``: all :math:`-\\infty`.

A slice containing :math:`+\\infty` or NaN raises ``ValueError``: those are bugs upstream.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_array, check_bool
from npml.ops._axes import check_axis


def _shifted(x: np.ndarray, axis: int | tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x - m, m)`` with ``m`` the max over ``axis`` (0 where a slice is all -inf).

    ``x - m`` may overflow to ``-inf`` for finite logits ``[1e308, -1e308]``; that is the
    right value (its exponential is 0), so the overflow is not reported.
    """
    check_axis(axis, x.shape)
    if np.isnan(x).any() or np.isposinf(x).any():
        raise ValueError("x contains NaN or +inf; softmax is only defined for logits < +inf")
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # an empty slice acts all -inf
    m = np.where(np.isneginf(m), 0.0, m).astype(x.dtype, copy=False)  # all -inf slice
    with np.errstate(over="ignore"):
        return x - m, m


def logsumexp(
    x: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> np.ndarray:
    """``log(sum(exp(x)))`` over ``axis``, computed stably by shifting by the maximum.

    ``logsumexp(x) = m + log(sum(exp(x - m)))`` with ``m = max(x)``: no term overflows and the
    largest is exactly ``exp(0) = 1`` (see :mod:`npml.ops.softmax`).

    Parameters
    ----------
    x : array_like, shape (...)
        Logits; ``-inf`` entries are masked out.
    axis : int, tuple of int or None, default None
        Axes to reduce; ``None`` reduces all.
    keepdims : bool, default False
        Keep reduced axes with size 1.

    Returns
    -------
    ndarray
        ``-inf`` where every entry of a slice is ``-inf``.

    Examples
    --------
    >>> logsumexp(np.array([1000.0, 1000.0])).round(6)   # np.log(np.sum(np.exp(x))) is inf
    np.float64(1000.693147)
    >>> logsumexp(np.array([[0.0, -np.inf], [-np.inf, -np.inf]]), axis=1)
    array([  0., -inf])
    """
    x = check_array(x, "x", finite=False)
    keepdims = check_bool(keepdims, "keepdims")
    if x.size == 0 and axis is None:
        raise ValueError("x is empty; logsumexp of an empty array is not defined")
    z, m = _shifted(x, axis)
    with np.errstate(divide="ignore"):  # log(0) = -inf for all-masked slices, by design
        out = np.log(np.sum(np.exp(z), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax ``exp(x - m) / sum(exp(x - m))`` along ``axis``; all-``-inf`` slices give zeros.

    Shifted by the maximum ``m`` so that nothing overflows (see :mod:`npml.ops.softmax`);
    ``-inf`` logits (masked entries) get probability 0.

    Parameters
    ----------
    x : array_like, shape (...)
        Logits.
    axis : int, default -1
        The axis that sums to one.

    Returns
    -------
    ndarray, shape of x

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    >>> softmax(np.array([[1.0, -np.inf], [-np.inf, -np.inf]]))
    array([[1., 0.],
           [0., 0.]])
    """
    x = check_array(x, "x", finite=False)
    z, _ = _shifted(x, axis)
    e = np.exp(z)
    s = np.sum(e, axis=axis, keepdims=True)
    # An all-masked slice has s == 0 and e == 0: divide by 1 instead, giving zeros.
    return e / np.where(s == 0, 1, s)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log of the softmax along ``axis``: ``x - logsumexp(x)``; all-``-inf`` slices give -inf.

    Parameters
    ----------
    x : array_like, shape (...)
    axis : int, default -1

    Returns
    -------
    ndarray, shape of x
    """
    x = check_array(x, "x", finite=False)
    z, _ = _shifted(x, axis)
    with np.errstate(divide="ignore", invalid="ignore"):  # -inf - (-inf) is fixed just below
        lse = np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        out = z - lse
    # all -inf slice: z = -inf and lse = -inf give NaN; the defined result is -inf
    return np.where(np.isneginf(lse), -np.inf, out).astype(x.dtype, copy=False)
