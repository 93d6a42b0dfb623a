"""Absolute position embeddings: fixed sinusoids and a learned table, added to the input.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), Section 3.5:

.. math::

    PE_{t, 2i} = \\sin\\bigl(t / 10000^{2i/d}\\bigr), \\qquad
    PE_{t, 2i+1} = \\cos\\bigl(t / 10000^{2i/d}\\bigr), \\qquad y_t = x_t + PE_t .

Each pair of columns is a clock of its own frequency, so :math:`PE_{t+k}` is a fixed
rotation of :math:`PE_t`. The learned variant (as in BERT and GPT-2) replaces :math:`PE` by
a trainable ``(max_len, d)`` table :math:`W`; its gradient is the upstream gradient summed
over the batch, :math:`\\bar{W}_t = \\sum_b \\bar{y}_{b,t}`. Both are additive, so
:math:`\\bar{x} = \\bar{y}`.
"""

from __future__ import annotations

import numpy as np

from npml._checks import as_rng, check_array, check_dout, check_scalar
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input


def sinusoidal_positions(T: int, d: int) -> np.ndarray:
    """The sinusoidal position table ``PE`` of shape ``(T, d)`` (Vaswani et al. 2017).

    ``PE[t, 2i] = sin(t / 10000^(2i/d))`` and ``PE[t, 2i+1] = cos(t / 10000^(2i/d))``; an odd
    ``d`` drops the last cos. The equation and its properties are in :mod:`npml.nn.positional`.

    Parameters
    ----------
    T : int
        Number of positions (rows), ``>= 0``.
    d : int
        Width of the table, ``>= 1``.

    Returns
    -------
    ndarray, shape (T, d), float64

    Examples
    --------
    >>> pe = sinusoidal_positions(3, 4)
    >>> pe.shape
    (3, 4)
    >>> pe[0]                                   # position 0: sin 0 = 0, cos 0 = 1
    array([0., 1., 0., 1.])
    """
    check_scalar(T, "T", kind=int, low=0)
    check_scalar(d, "d", kind=int, low=1)
    t = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (ceil(d/2),)
    pe = np.empty((T, d))
    pe[:, 0::2] = np.sin(t * freq)
    pe[:, 1::2] = np.cos(t * freq[: d // 2])
    return pe


def _check_input(x: np.ndarray, max_len: int, d: int, offset: int, dtype: np.dtype) -> np.ndarray:
    """Validate ``x`` (B, T, d), cast to ``dtype``, and check that positions exist."""
    x = check_array(cast_input(x, "x", dtype), "x", ndim=3)
    if x.shape[-1] != d:
        raise ValueError(f"x has shape {x.shape}; expected last dimension d={d}")
    check_scalar(offset, "offset", kind=(int, np.integer), low=0)
    T = x.shape[1]
    if offset + T > max_len:
        raise ValueError(
            f"sequence length T={T} (from position offset={offset}) exceeds max_len={max_len}"
        )
    return x


class SinusoidalPositionalEmbedding(Module):
    """Add the fixed sinusoidal table (no parameters).

    ``forward(x, offset=0)`` returns ``x + PE[offset : offset + T]`` for ``x`` of shape
    ``(B, T, d)`` (the table of :func:`sinusoidal_positions`); ``backward(dout)`` returns
    ``dout``.

    Parameters
    ----------
    max_len : int
        Longest sequence (table rows).
    d : int
        Model width.
    dtype : numpy float dtype, default float32
        Dtype of the table; ``forward`` casts its input to it (float64 input to a float32
        module is computed in float32), ``backward`` casts ``dout``.

    Examples
    --------
    >>> pos = SinusoidalPositionalEmbedding(max_len=16, d=4)
    >>> pos(np.zeros((1, 2, 4)))[0]
    array([[0.        , 1.        , 0.        , 1.        ],
           [0.84147096, 0.5403023 , 0.00999983, 0.99995   ]], dtype=float32)
    """

    def __init__(self, max_len: int, d: int, dtype: type = np.float32) -> None:
        check_scalar(max_len, "max_len", kind=int, low=1)
        self.max_len, self.d = max_len, d
        self.dtype = np.dtype(dtype)
        self.table = sinusoidal_positions(max_len, d).astype(dtype)  # (max_len, d), no Parameter
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        """Return ``x + PE[offset : offset + T]`` for ``x`` of shape ``(B, T, d)``.

        ``offset`` is the position of the first row (decoding with a key/value cache).
        """
        x = _check_input(x, self.max_len, self.d, offset, self.dtype)
        self._shape = x.shape
        return x + self.table[offset : offset + x.shape[1]]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """The gradient passes through unchanged: ``dx = dout`` (shape ``(B, T, d)``)."""
        if self._shape is None:
            raise RuntimeError("SinusoidalPositionalEmbedding.backward called before forward")
        return check_dout(dout, self._shape).astype(self.dtype, copy=False)


class LearnedPositionalEmbedding(Module):
    """Add a learned position table.

    ``forward(x, offset=0)`` returns ``x + W[offset : offset + T]`` for ``x`` of shape
    ``(B, T, d)``; ``backward(dout)`` adds ``dout`` summed over the batch to those rows of
    ``W.grad`` and returns ``dout``.

    Parameters
    ----------
    max_len : int
        Longest sequence (table rows).
    d : int
        Model width.
    rng : None, int or numpy.random.Generator
        Initialisation: ``W ~ N(0, 0.02^2)`` (GPT-2's choice).
    dtype : numpy float dtype, default float32
        Dtype of the table; ``forward`` casts its input to it, ``backward`` casts ``dout``.

    Attributes
    ----------
    W : Parameter, shape (max_len, d)

    Examples
    --------
    >>> pos = LearnedPositionalEmbedding(max_len=8, d=4, rng=0)
    >>> y = pos(np.zeros((2, 3, 4), dtype=np.float32))
    >>> dx = pos.backward(np.ones_like(y))
    >>> pos.W.grad[:4, 0]                               # rows 0..2 used by both sequences
    array([2., 2., 2., 0.], dtype=float32)
    """

    def __init__(
        self,
        max_len: int,
        d: int,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        check_scalar(max_len, "max_len", kind=int, low=1)
        check_scalar(d, "d", kind=int, low=1)
        self.max_len, self.d = max_len, d
        self.W = Parameter(
            (0.02 * as_rng(rng).standard_normal((max_len, d))).astype(dtype),
            decay=False,
            embedding=True,
        )
        self._span: tuple[int, int] | None = None
        self._shape: tuple[int, ...] | None = None  # (B, T, d) of the last forward

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        """Return ``x + W[offset : offset + T]`` for ``x`` of shape ``(B, T, d)``."""
        x = _check_input(x, self.max_len, self.d, offset, self.W.data.dtype)
        self._span = (int(offset), int(offset) + x.shape[1])
        self._shape = x.shape
        return x + self.W.data[self._span[0] : self._span[1]]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (rows used, summed over the batch); return ``dx = dout``."""
        if self._span is None:
            raise RuntimeError("LearnedPositionalEmbedding.backward called before forward")
        dout = check_dout(dout, self._shape).astype(self.W.data.dtype, copy=False)
        dW = np.zeros_like(self.W.data)
        dW[self._span[0] : self._span[1]] = dout.sum(axis=0)
        self.W.accumulate(dW)
        return dout
