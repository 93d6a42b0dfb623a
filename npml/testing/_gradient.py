"""Numerical gradients for testing hand-written backward passes.

A backward pass is checked against centred finite differences,

.. math::

    \\frac{\\partial L}{\\partial x_i} \\approx
    \\frac{L(x + \\epsilon e_i) - L(x - \\epsilon e_i)}{2 \\epsilon},

where :math:`L(x) = \\langle f(x), \\bar{y} \\rangle` contracts the layer's output with an
upstream gradient :math:`\\bar{y}` (``dout``), so one check covers the whole Jacobian-vector
product that a backward pass computes. The truncation error of the centred difference is
:math:`O(\\epsilon^2)`; in float64 with :math:`\\epsilon = 10^{-6}` the relative error of a
correct backward pass is typically below :math:`10^{-8}`.

Use it on your own layers::

    from npml.testing import check_gradient
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 4))
    y, cache = my_forward(x, W)
    dx, dW = my_backward(dout, cache)
    assert check_gradient(lambda x_: my_forward(x_, W)[0], x, dx, dout) < 1e-6
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from npml._checks import check_scalar


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    dout: np.ndarray | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x`` by centred differences.

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to an array (or a scalar). It may read ``x`` but must
        not keep a reference to it: ``x`` is perturbed in place and restored.
    x : ndarray, shape (...)
        The point at which to differentiate; float64 is strongly recommended.
    dout : ndarray, shape of f(x), optional
        Upstream gradient; defaults to ones (the gradient of ``sum(f(x))``).
    eps : float, default 1e-6
        Step size.

    Returns
    -------
    ndarray, shape of x
        The estimated gradient.
    """
    if not callable(f):
        raise TypeError(f"f={f!r} is not callable")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be an ndarray (perturbed in place), got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"x has dtype {x.dtype}; expected a float array")
    if not x.flags.writeable:
        raise ValueError("x is read-only; it must be writeable so it can be perturbed in place")
    eps = check_scalar(eps, "eps", low=0.0, low_inclusive=False)
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x = x.reshape(-1)  # a view: perturbs x itself
    if not np.shares_memory(flat_x, x):
        raise ValueError("x must be contiguous so it can be perturbed in place")
    flat_g = grad.reshape(-1)

    def objective() -> float:
        out = np.asarray(f(x), dtype=np.float64)
        if dout is None:
            return float(out.sum())
        if out.shape != np.shape(dout):
            raise ValueError(f"f(x) has shape {out.shape} but dout has shape {np.shape(dout)}")
        return float(np.sum(out * dout))

    for i in range(flat_x.size):
        old = flat_x[i]
        try:
            flat_x[i] = old + eps
            plus = objective()
            flat_x[i] = old - eps
            minus = objective()
        finally:  # x is the caller's array: restored even when f raises
            flat_x[i] = old
        flat_g[i] = (plus - minus) / (2.0 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Relative error of ``a`` against ``b`` in the max norm.

    .. math::

        \\mathrm{err} = \\frac{\\max_i |a_i - b_i|}{\\max(\\max_i |a_i|, \\max_i |b_i|)}

    Scaling by the largest entry (rather than entry by entry) keeps gradient entries that
    are ~0 from turning finite-difference round-off into a large "relative" error. Two
    all-zero arrays have error 0. A NaN or infinity in either array gives ``inf``: a
    gradient check must never pass on a function that returns NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")  # max(0.0, nan) would be 0.0: NaN must not read as agreement
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    diff = float(np.max(np.abs(a - b)))
    if scale == 0.0:
        return 0.0
    return diff / scale


def check_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    analytic: np.ndarray,
    dout: np.ndarray | None = None,
    eps: float = 1e-6,
) -> float:
    """Compare an analytic gradient with :func:`numerical_gradient`.

    Parameters
    ----------
    f : callable
        As in :func:`numerical_gradient`.
    x : ndarray
        The input the analytic gradient belongs to.
    analytic : ndarray, shape of x
        The gradient from your backward pass.
    dout : ndarray, optional
        The upstream gradient that was passed to your backward pass.
    eps : float, default 1e-6
        Finite-difference step.

    Returns
    -------
    float
        The largest relative error (see :func:`relative_error`); below ``1e-6`` in float64
        means the backward pass agrees with the forward pass.
    """
    numeric = numerical_gradient(f, x, dout=dout, eps=eps)
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}; expected {x.shape}")
    return relative_error(analytic, numeric)
