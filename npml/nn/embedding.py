"""Token embedding: a lookup table whose rows are learned.

.. math::

    y_{\\ldots} = W_{\\mathrm{ids}_{\\ldots}}, \\qquad
    \\frac{\\partial L}{\\partial W_r} = \\sum_{n:\\ \\mathrm{ids}_n = r} \\bar{y}_n .

Looking up row :math:`r` equals multiplying the one-hot vector :math:`e_r` by :math:`W`, so
the gradient of a row is the sum of the upstream gradients of every position that used it
(a scatter-add); rows that were not used get zero. Ids are integers and get no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_dout, check_scalar
from npml._module import Module, Parameter


class EmbeddingCache(NamedTuple):
    ids: np.ndarray  # (...) int
    n: int  # rows of W
    d: int  # columns of W
    dtype: np.dtype


def check_ids(ids: np.ndarray, name: str, n: int) -> np.ndarray:
    """Convert ``ids`` to an int array and raise ``ValueError`` unless all are in ``[0, n)``.

    Whole-valued floats are accepted; they are range-checked before the conversion, so that
    ``1e20`` is reported as out of range rather than wrapped around to a negative integer.
    """
    raw = np.asarray(ids) if isinstance(ids, (np.ndarray, list, tuple)) else ids
    if isinstance(raw, np.ndarray) and raw.dtype.kind == "f" and raw.size:
        out = np.isfinite(raw) & ((raw < 0) | (raw >= n))
        if out.any():
            bad = raw[out]
            raise ValueError(
                f"{name} contains {bad.size} value(s) outside [0, {n}) (e.g. {bad[0]:.6g}); "
                f"expected ids below the vocabulary size {n}"
            )
    ids = check_array(ids, name, dtype="int")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n:
            bad = ids[(ids < 0) | (ids >= n)]
            raise ValueError(
                f"{name} contains {bad.size} value(s) outside [0, {n}) (e.g. {int(bad[0])}; "
                f"min {lo}, max {hi}); expected ids below the vocabulary size {n}"
            )
    return ids


def embedding_forward(ids: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, EmbeddingCache]:
    """Look up the rows ``W[ids]``.

    Parameters
    ----------
    ids : ndarray of int, shape (...)
        Row indices in ``[0, n)``; others raise ``ValueError`` naming them.
    W : ndarray, shape (n, d)

    Returns
    -------
    out : ndarray, shape (..., d)
    cache : EmbeddingCache
        Holds references to the ``ids`` (no copies, as torch's autograd keeps its saved
        tensors): overwriting them in place before the backward pass changes the
        gradients. torch detects that with version counters; npml documents it instead.
    """
    if not isinstance(W, np.ndarray):
        W = check_array(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W has shape {W.shape}; expected (n, d)")
    ids = check_ids(ids, "ids", W.shape[0])
    return W[ids], EmbeddingCache(ids, W.shape[0], W.shape[1], W.dtype)


def embedding_backward(dout: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """Scatter-add ``dout`` into the rows that were looked up.

    Parameters
    ----------
    dout : ndarray, shape (..., d)
    cache : EmbeddingCache

    Returns
    -------
    dW : ndarray, shape (n, d)
    """
    ids, n, d, dtype = cache
    dout = check_dout(dout, (*ids.shape, d))
    dW = np.zeros((n, d), dtype=np.result_type(dtype, dout.dtype))
    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, d))
    return dW


class Embedding(Module):
    """Lookup table of ``n`` learned vectors of size ``d``.

    ``forward(ids)`` returns ``W[ids]`` of shape ``ids.shape + (d,)``; ``backward(dout)``
    scatter-adds ``dout`` into ``W.grad`` (repeated ids add up) and returns None: ids have no
    gradient (see :mod:`npml.nn.embedding`).

    Parameters
    ----------
    n : int
        Number of rows (the vocabulary size).
    d : int
        Width of each vector.
    rng : None, int or numpy.random.Generator
        Initialisation randomness.
    dtype : numpy float dtype, default float32
        Dtype of the table (and so of the output); ``backward`` casts ``dout`` to it.
    std : float, default 1.0
        Initial rows are drawn from N(0, std^2) (1.0 as in PyTorch; language models with tied
        input/output embeddings often use 0.02).

    Attributes
    ----------
    W : Parameter, shape (n, d)

    Examples
    --------
    >>> emb = Embedding(5, 3, rng=0)
    >>> emb
    Embedding(n=5, d=3, dtype=float32, std=1.0)
    >>> out = emb(np.array([[1, 1, 4]]))               # (B=1, T=3) -> (1, 3, 3)
    >>> emb.backward(np.ones_like(out))
    >>> emb.W.grad[:, 0]                                # row 1 was used twice
    array([0., 2., 0., 0., 1.], dtype=float32)
    """

    def __init__(
        self,
        n: int,
        d: int,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
        std: float = 1.0,
    ) -> None:
        check_scalar(n, "n", kind=int, low=1)
        check_scalar(d, "d", kind=int, low=1)
        check_scalar(std, "std", low=0.0)
        self.n, self.d = n, d
        self.W = Parameter(
            (std * as_rng(rng).standard_normal((n, d))).astype(dtype), decay=False, embedding=True
        )
        self._cache: EmbeddingCache | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``W`` for ``ids`` of shape ``(...)``; returns ``(..., d)``."""
        out, self._cache = embedding_forward(ids, self.W.data)
        return out

    def backward(self, dout: np.ndarray) -> None:
        """Accumulate ``W.grad``; ids get no gradient, so this returns ``None``."""
        if self._cache is None:
            raise RuntimeError("Embedding.backward called before forward")
        c = self._cache
        dout = check_dout(dout, (*c.ids.shape, c.d)).astype(c.dtype, copy=False)
        self.W.accumulate(embedding_backward(dout, c))
        return None
