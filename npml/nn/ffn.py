"""The position-wise feed-forward network of the Transformer.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), Eq. 2: the same
two-layer MLP is applied to every position independently,

.. math::

    \\operatorname{FFN}(x) = \\phi(x W_1 + b_1)\\, W_2 + b_2,

with :math:`\\phi` = ReLU (the paper) or GELU, :math:`W_1 \\in \\mathbb{R}^{d \\times d_{ff}}`,
:math:`W_2 \\in \\mathbb{R}^{d_{ff} \\times d}` and :math:`d_{ff} = 4d` by default, so the layer
holds :math:`8 d^2` weights (+ :math:`d_{ff} + d = 5d` biases). Backward walks the three steps
in reverse: :math:`\\bar{W}_2 = h^\\top \\bar{y}`, :math:`\\bar{h} = \\bar{y} W_2^\\top`,
:math:`\\bar{a} = \\phi'(a) \\odot \\bar{h}`, :math:`\\bar{W}_1 = x^\\top \\bar{a}`,
:math:`\\bar{x} = \\bar{a} W_1^\\top`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_choice,
    check_dout,
    check_last_dim,
    check_scalar,
)
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input
from npml.nn.activations import GELUCache, _bias_gelu_backward, _bias_gelu_forward
from npml.nn.linear import uniform_init

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


class FFNCache(NamedTuple):
    x: np.ndarray  # (..., d)
    W_1: np.ndarray  # (d, d_ff)
    W_2: np.ndarray  # (d_ff, d)
    gelu: GELUCache | None  # GELU's cache (holds the pre-activation); None for ReLU
    h: np.ndarray  # (..., d_ff) activation
    activation: str
    has_bias: bool


def ffn_forward(
    x: np.ndarray,
    W_1: np.ndarray,
    b_1: np.ndarray | None,
    W_2: np.ndarray,
    b_2: np.ndarray | None,
    activation: str = "relu",
) -> tuple[np.ndarray, FFNCache]:
    """The position-wise feed-forward network ``phi(x @ W_1 + b_1) @ W_2 + b_2``.

    Applied to every position (row of the last axis) alike; ``phi`` is ReLU or GELU. The
    backward pass is :func:`ffn_backward` (steps in :mod:`npml.nn.ffn`).

    Parameters
    ----------
    x : ndarray, shape (..., d)
    W_1 : ndarray, shape (d, d_ff)
    b_1 : ndarray, shape (d_ff,), or None
    W_2 : ndarray, shape (d_ff, d)
    b_2 : ndarray, shape (d,), or None
        Both biases or neither.
    activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
        ``"gelu"`` is the exact erf form, ``"gelu_tanh"`` its tanh approximation.

    Returns
    -------
    y : ndarray, shape (..., d)
    cache : FFNCache

    Examples
    --------
    >>> x = np.array([[1.0, -1.0]])                    # (N=1, d=2)
    >>> W_1 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (d=2, d_ff=3)
    >>> y, cache = ffn_forward(x, W_1, None, W_1.T, None)
    >>> y                                              # relu([1, -1, 0]) @ W_1.T
    array([[1., 0.]])
    >>> dx, dW_1, db_1, dW_2, db_2 = ffn_backward(np.ones_like(y), cache)
    >>> dx.shape, dW_1.shape, db_1
    ((1, 2), (2, 3), None)
    """
    check_choice(activation, "activation", ACTIVATIONS)
    x = check_array(x, "x")
    check_last_dim(x, "x", W_1.shape[0])
    if W_2.shape != (W_1.shape[1], W_1.shape[0]):
        raise ValueError(f"W_2 has shape {W_2.shape}; expected {(W_1.shape[1], W_1.shape[0])}")
    if (b_1 is None) != (b_2 is None):
        raise ValueError("b_1 and b_2 must both be arrays or both be None")
    # 1. a = x W_1 + b_1, as one (N, d) x (d, d_ff) product: NumPy's matmul on a stack of
    #    matrices calls BLAS once per matrix (measured: 10x slower for (16, 128, 256) @ W).
    d, d_ff = W_1.shape
    a = (x.reshape(-1, d) @ W_1).reshape(*x.shape[:-1], d_ff)  # (..., d_ff)
    # 2. h = phi(a)
    if activation == "relu":
        if b_1 is not None:
            a += b_1
        h = np.maximum(a, 0, out=a)  # in place: a is not needed for ReLU's backward
        gelu = None
    else:  # steps 1 and 2 fused: one pass adds b_1 to a (in place) and applies GELU
        h, gelu = _bias_gelu_forward(a, b_1, "none" if activation == "gelu" else "tanh")
    # 3. y = h W_2 + b_2
    y = (h.reshape(-1, d_ff) @ W_2).reshape(x.shape)  # (..., d)
    if b_2 is not None:
        y += b_2
    return y, FFNCache(x, W_1, W_2, gelu, h, activation, b_1 is not None)


def ffn_backward(
    dout: np.ndarray, cache: FFNCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`ffn_forward`.

    Parameters
    ----------
    dout : ndarray, shape (..., d)
    cache : FFNCache

    Returns
    -------
    dx : ndarray, shape (..., d)
    dW_1 : ndarray, shape (d, d_ff)
    db_1 : ndarray, shape (d_ff,), or None without biases
    dW_2 : ndarray, shape (d_ff, d)
    db_2 : ndarray, shape (d,), or None without biases
    """
    x, W_1, W_2, gelu, h, activation, has_bias = cache
    d, d_ff = W_1.shape
    dout = check_dout(dout, x.shape)
    dout2 = dout.reshape(-1, d)  # (N, d)
    # 3. y = h W_2 + b_2
    dW_2 = h.reshape(-1, d_ff).T @ dout2
    db_2 = dout2.sum(axis=0) if has_bias else None
    dh = dout2 @ W_2.T  # (N, d_ff)
    # 2. h = phi(a), and the b_1 of step 1
    if activation == "relu":
        dh *= h.reshape(-1, d_ff) > 0
        da = dh
        db_1 = da.sum(axis=0) if has_bias else None
    else:  # one pass: da = dh * phi'(a) and db_1 = sum_n da_n
        da, db_1 = _bias_gelu_backward(dh.reshape(h.shape), gelu, has_bias)
        da = da.reshape(-1, d_ff)  # (N, d_ff)
    # 1. a = x W_1 + b_1
    dW_1 = x.reshape(-1, d).T @ da
    dx = (da @ W_1.T).reshape(x.shape)
    return dx, dW_1, db_1, dW_2, db_2


class FeedForward(Module):
    """Position-wise feed-forward network as a module: two linear maps around ``phi``.

    ``forward(x)`` maps ``(..., d_model)`` to ``(..., d_model)`` by :func:`ffn_forward`;
    ``backward(dout)`` accumulates the four parameter gradients and returns ``dx``.

    Parameters
    ----------
    d_model : int
        Input and output width.
    d_ff : int, optional
        Hidden width; defaults to ``4 * d_model``.
    bias : bool, default True
    activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
    rng : None, int or numpy.random.Generator
        Initialisation: ``W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, biases zero.
    dtype : numpy float dtype, default float32
        Input of another float dtype is cast to it (as torch modules compute in theirs).

    Attributes
    ----------
    W_1 : Parameter, shape (d_model, d_ff)
    b_1 : Parameter, shape (d_ff,) (with ``bias=True``)
    W_2 : Parameter, shape (d_ff, d_model)
    b_2 : Parameter, shape (d_model,) (with ``bias=True``)

    Examples
    --------
    >>> ffn = FeedForward(d_model=4, d_ff=16, activation="gelu", rng=0)
    >>> y = ffn(np.ones((2, 3, 4), dtype=np.float32))
    >>> dx = ffn.backward(np.ones_like(y))
    >>> y.shape, dx.shape, ffn.n_params()
    ((2, 3, 4), (2, 3, 4), 148)
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int | None = None,
        bias: bool = True,
        activation: str = "relu",
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        check_scalar(d_model, "d_model", kind=int, low=1)
        bias = check_bool(bias, "bias")
        d_ff = 4 * d_model if d_ff is None else check_scalar(d_ff, "d_ff", kind=int, low=1)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        rng = as_rng(rng)
        self.d_model, self.d_ff = d_model, d_ff
        self.W_1 = Parameter(uniform_init((d_model, d_ff), d_model, rng, dtype), decay=True)
        self.b_1 = Parameter(np.zeros(d_ff, dtype=dtype), decay=False) if bias else None
        self.W_2 = Parameter(uniform_init((d_ff, d_model), d_ff, rng, dtype), decay=True)
        self.b_2 = Parameter(np.zeros(d_model, dtype=dtype), decay=False) if bias else None
        self._cache: FFNCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the FFN to ``x`` of shape ``(..., d_model)`` (cast to the module's dtype)."""
        x = cast_input(x, "x", self.W_1.data.dtype)
        b_1 = None if self.b_1 is None else self.b_1.data
        b_2 = None if self.b_2 is None else self.b_2.data
        y, self._cache = ffn_forward(x, self.W_1.data, b_1, self.W_2.data, b_2, self.activation)
        return y

    def extra_repr(self) -> str:
        """The constructor's arguments, with ``d_ff`` as built (``4 * d_model`` for None)."""
        return self._config_repr(d_ff=self.W_1.shape[1])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate the four parameter gradients; return ``dx``."""
        if self._cache is None:
            raise RuntimeError("FeedForward.backward called before forward")
        dout = cast_input(dout, "dout", self.W_1.data.dtype)
        dx, dW_1, db_1, dW_2, db_2 = ffn_backward(dout, self._cache)
        self.W_1.accumulate(dW_1)
        self.W_2.accumulate(dW_2)
        if self.b_1 is not None:
            self.b_1.accumulate(db_1)
            self.b_2.accumulate(db_2)
        return dx
