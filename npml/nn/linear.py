"""The affine (fully connected) layer and its hand-written backward pass.

.. math::

    y = x W + b, \\qquad
    \\frac{\\partial L}{\\partial x} = \\bar{y} W^\\top, \\quad
    \\frac{\\partial L}{\\partial W} = x^\\top \\bar{y}, \\quad
    \\frac{\\partial L}{\\partial b} = \\textstyle\\sum_n \\bar{y}_n,

with :math:`x` of shape ``(..., d_in)``, :math:`W` of shape ``(d_in, d_out)`` (the
NumPy-natural layout: rows index inputs) and :math:`\\bar{y} = \\partial L / \\partial y`.
Leading axes of :math:`x` are flattened into one batch axis for the weight gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_dout, check_last_dim, check_scalar
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input


class LinearCache(NamedTuple):
    x: np.ndarray  # (..., d_in)
    W: np.ndarray  # (d_in, d_out)
    has_bias: bool


def linear_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None
) -> tuple[np.ndarray, LinearCache]:
    """Affine map ``y = x @ W + b`` over the last axis of ``x``.

    Its gradients are :func:`linear_backward`'s (the equations are in :mod:`npml.nn.linear`).

    Parameters
    ----------
    x : ndarray, shape (..., d_in)
        Input; NaN or infinity raises ``ValueError``.
    W : ndarray, shape (d_in, d_out)
    b : ndarray, shape (d_out,), optional

    Returns
    -------
    y : ndarray, shape (..., d_out)
    cache : LinearCache
        Holds references to ``x`` and ``W`` (no copies, as torch's autograd keeps its saved
        tensors): overwriting them in place before the backward pass changes the
        gradients. torch detects that with version counters; npml documents it instead.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0]])                       # (N=1, d_in=2)
    >>> W = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (d_in=2, d_out=3)
    >>> y, cache = linear_forward(x, W, b=np.array([0.0, 0.0, 0.5]))
    >>> y
    array([[1. , 2. , 3.5]])
    >>> dx, dW, db = linear_backward(np.ones_like(y), cache)
    >>> dx, db
    (array([[2., 2.]]), array([1., 1., 1.]))
    """
    x = check_array(x, "x")
    W = _as_array(W, "W")
    b = None if b is None else _as_array(b, "b")
    if W.ndim != 2:
        raise ValueError(f"W has shape {W.shape}; expected (d_in, d_out)")
    check_last_dim(x, "x", W.shape[0])
    if b is not None and b.shape != (W.shape[1],):
        raise ValueError(f"b has shape {b.shape}; expected ({W.shape[1]},)")
    # One (N, d_in) x (d_in, d_out) product: NumPy's matmul on a stack of matrices calls BLAS
    # once per matrix, which was 10x slower on a (16, 128, 256) input.
    y = (x.reshape(-1, W.shape[0]) @ W).reshape(*x.shape[:-1], W.shape[1])  # (..., d_out)
    if b is not None:
        y += b
    return y, LinearCache(x, W, b is not None)


def _as_array(a: np.ndarray, name: str) -> np.ndarray:
    """A weight as a float array: ndarrays pass as they are, lists are converted and checked."""
    return a if isinstance(a, np.ndarray) else check_array(a, name)


def linear_backward(
    dout: np.ndarray, cache: LinearCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : ndarray, shape (..., d_out)
        Upstream gradient :math:`\\partial L / \\partial y`.
    cache : LinearCache

    Returns
    -------
    dx : ndarray, shape (..., d_in)
    dW : ndarray, shape (d_in, d_out)
    db : ndarray, shape (d_out,), or None when the forward pass had no bias
    """
    x, W, has_bias = cache
    dout = check_dout(dout, (*x.shape[:-1], W.shape[1]))
    x2 = x.reshape(-1, W.shape[0])  # (N, d_in)
    dout2 = dout.reshape(-1, W.shape[1])  # (N, d_out)
    dW = x2.T @ dout2
    db = dout2.sum(axis=0) if has_bias else None
    dx = (dout2 @ W.T).reshape(x.shape)  # (..., d_in)
    return dx, dW, db


def uniform_init(
    shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: type
) -> np.ndarray:
    """Draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for linear weights.

    Keeps the variance of ``x @ W`` near one third of that of ``x`` whatever ``fan_in`` is.
    """
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Linear(Module):
    """Fully connected layer ``y = x @ W + b``.

    ``forward(x)`` maps ``(..., d_in)`` to ``(..., d_out)`` by :func:`linear_forward`;
    ``backward(dout)`` accumulates ``W.grad`` (and ``b.grad``) and returns ``dx``.

    Parameters
    ----------
    d_in, d_out : int
        Input and output widths.
    bias : bool, default True
        Learn an additive bias ``b``.
    rng : None, int or numpy.random.Generator
        Initialisation randomness; ``W ~ U(-1/sqrt(d_in), 1/sqrt(d_in))``, ``b = 0``.
    dtype : numpy float dtype, default float32
        Dtype of the parameters; ``forward`` casts its input to it (float64 input to a
        float32 layer is computed in float32), and ``backward`` casts ``dout``.

    Attributes
    ----------
    W : Parameter, shape (d_in, d_out)
    b : Parameter, shape (d_out,) (only with ``bias=True``)

    Examples
    --------
    >>> layer = Linear(4, 2, rng=0)
    >>> layer
    Linear(d_in=4, d_out=2, bias=True, dtype=float32)
    >>> y = layer(np.ones((3, 4), dtype=np.float32))
    >>> dx = layer.backward(np.ones_like(y))
    >>> y.shape, dx.shape, layer.W.grad.shape, layer.b.grad
    ((3, 2), (3, 4), (4, 2), array([3., 3.], dtype=float32))
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        bias: bool = True,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        bias = check_bool(bias, "bias")
        check_scalar(d_in, "d_in", kind=int, low=1)
        check_scalar(d_out, "d_out", kind=int, low=1)
        rng = as_rng(rng)
        self.d_in, self.d_out = d_in, d_out
        self.W = Parameter(uniform_init((d_in, d_out), d_in, rng, dtype), decay=True)
        self.b = Parameter(np.zeros(d_out, dtype=dtype), decay=False) if bias else None
        self._cache: LinearCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to ``x`` of shape ``(..., d_in)``; returns ``(..., d_out)``."""
        b = None if self.b is None else self.b.data
        x = cast_input(x, "x", self.W.data.dtype)
        y, self._cache = linear_forward(x, self.W.data, b)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (and ``b.grad``); return ``dx`` of shape ``(..., d_in)``."""
        if self._cache is None:
            raise RuntimeError("Linear.backward called before forward")
        x, W = self._cache.x, self._cache.W
        dout = check_dout(dout, (*x.shape[:-1], W.shape[1])).astype(W.dtype, copy=False)
        dx, dW, db = linear_backward(dout, self._cache)
        self.W.accumulate(dW)
        if self.b is not None:
            self.b.accumulate(db)
        return dx
