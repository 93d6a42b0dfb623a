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

from npml._checks import as_rng, check_array, check_scalar
from npml._module import Module, Parameter


def sinusoidal_positions(T: int, d: int) -> np.ndarray:
    """The table ``PE`` of shape ``(T, d)`` (module docstring); odd ``d`` drops the last cos."""
    check_scalar(T, "T", kind=int, low=0)
    check_scalar(d, "d", kind=int, low=1)
    t = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (ceil(d/2),)
    pe = np.empty((T, d))
    pe[:, 0::2] = np.sin(t * freq)
    pe[:, 1::2] = np.cos(t * freq[: d // 2])
    return pe


def _check_input(x: np.ndarray, max_len: int, d: int, offset: int) -> np.ndarray:
    """Validate ``x`` (B, T, d) and that positions ``offset .. offset+T-1`` exist."""
    x = check_array(x, "x", ndim=3)
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

    Parameters
    ----------
    max_len : int
        Longest sequence (table rows).
    d : int
        Model width.
    """

    def __init__(self, max_len: int, d: int) -> None:
        check_scalar(max_len, "max_len", kind=int, low=1)
        self.max_len, self.d = max_len, d
        self.table = sinusoidal_positions(max_len, d)  # (max_len, d), not a Parameter

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        """Return ``x + PE[offset : offset + T]`` for ``x`` of shape ``(B, T, d)``.

        ``offset`` is the position of the first row (decoding with a key/value cache).
        """
        x = _check_input(x, self.max_len, self.d, offset)
        return x + self.table[offset : offset + x.shape[1]].astype(x.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """The gradient passes through unchanged: ``dx = dout``."""
        return dout


class LearnedPositionalEmbedding(Module):
    """Add a learned position table.

    Parameters
    ----------
    max_len : int
        Longest sequence (table rows).
    d : int
        Model width.
    rng : None, int or numpy.random.Generator
        Initialisation: ``W ~ N(0, 0.02^2)`` (GPT-2's choice).
    dtype : numpy float dtype, default float64

    Attributes
    ----------
    W : Parameter, shape (max_len, d)
    """

    def __init__(
        self,
        max_len: int,
        d: int,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float64,
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

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        """Return ``x + W[offset : offset + T]`` for ``x`` of shape ``(B, T, d)``."""
        x = _check_input(x, self.max_len, self.d, offset)
        self._span = (int(offset), int(offset) + x.shape[1])
        return x + self.W.data[self._span[0] : self._span[1]]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``W.grad`` (rows used, summed over the batch); return ``dx = dout``."""
        if self._span is None:
            raise RuntimeError("LearnedPositionalEmbedding.backward called before forward")
        dW = np.zeros_like(self.W.data)
        dW[self._span[0] : self._span[1]] = dout.sum(axis=0)
        self.W.accumulate(dW)
        return dout
