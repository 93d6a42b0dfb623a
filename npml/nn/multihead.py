"""Multi-head attention modules: thin owners of ``W_q, W_k, W_v, W_o`` calling ``mha.py``.

The equations, the forward/backward pair (:func:`~npml.nn.mha.mha_forward`,
:func:`~npml.nn.mha.mha_backward`) and its cache live in ``mha.py``. Each module here has one
``backward`` rule:

* :class:`MultiHeadAttention`, self-attention (optionally causal, optionally with RoPE):
  ``forward(x)``, ``backward(dout) -> dx``;
* :class:`MultiHeadCrossAttention`, queries from ``x``, keys and values from ``context``:
  ``forward(x, context)``, ``backward(dout) -> (dx, dcontext)``.

Both have the same parameters (names, shapes, and order of draws from ``rng``), so weights
move between them with ``load_state_dict``. For decoding token by token, pass a
:class:`~npml.nn.kv_cache.KVCache` to ``forward`` (inference only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npml._checks import as_rng, check_bool, check_choice, check_dout, check_scalar
from npml._module import Module, Parameter
from npml.nn._dtype import cast_input
from npml.nn.kv_cache import KVCache
from npml.nn.mha import ATTN_IMPLS, MHACache, MHAGrads, check_heads, mha_backward, mha_forward


class _AttentionModule(Module):
    """Parameters, initialisation and gradient bookkeeping of the two attention modules."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool,
        rope_base: float | None,
        attn_impl: str,
        rng: None | int | np.random.Generator,
        dtype: type,
    ) -> None:
        check_scalar(d_model, "d_model", kind=int, low=1)
        check_heads(d_model, n_heads, rope_base)
        bias = check_bool(bias, "bias")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.rope_base = rope_base
        self.attn_impl = check_choice(attn_impl, "attn_impl", ATTN_IMPLS)
        rng = as_rng(rng)
        self.dtype = np.dtype(dtype)
        bound = math.sqrt(3.0 / d_model)  # Glorot uniform: sqrt(6 / (fan_in + fan_out))
        for name in ("W_q", "W_k", "W_v", "W_o"):
            w = rng.uniform(-bound, bound, size=(d_model, d_model)).astype(dtype)
            setattr(self, name, Parameter(w, decay=True))
        for name in ("b_q", "b_k", "b_v", "b_o"):
            b = Parameter(np.zeros(d_model, dtype=dtype), decay=False) if bias else None
            setattr(self, name, b)
        self._cache: MHACache | None = None

    def _forward(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Call :func:`mha_forward` with this module's parameters; keep the cache."""
        arrays = [None if p is None else p.data for p in self._params()]
        if kwargs.get("context") is not None:
            kwargs["context"] = cast_input(kwargs["context"], "context", self.dtype)
        y, self._cache = mha_forward(
            cast_input(x, "x", self.dtype),
            *arrays,
            n_heads=self.n_heads,
            rope_base=self.rope_base,
            attn_impl=self.attn_impl,
            **kwargs,
        )
        return y

    def _params(self) -> tuple[Parameter | None, ...]:
        return self.W_q, self.W_k, self.W_v, self.W_o, self.b_q, self.b_k, self.b_v, self.b_o

    def _backward(self, dout: np.ndarray) -> MHAGrads:
        """Call :func:`mha_backward`, accumulate the parameter gradients, return them all."""
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward needs a forward without kv_cache "
                "(there was no forward yet, or the last one was given a kv_cache)"
            )
        B, T, _, _ = self._cache.shape
        dout = check_dout(dout, (B, T, self.d_model)).astype(self.dtype, copy=False)
        grads = mha_backward(dout, self._cache)
        for p, g in zip(self._params(), grads[2:], strict=True):
            if p is not None:
                p.accumulate(g)
        return grads


class MultiHeadAttention(_AttentionModule):
    """Multi-head self-attention with its parameters: ``forward(x)``, ``backward(dout) -> dx``.

    ``forward(x, mask=None, causal=False, positions=None, kv_cache=None)`` maps ``x`` of
    shape ``(B, T, d_model)`` to the same shape through :func:`~npml.nn.mha_forward` (the
    equations are in :mod:`npml.nn.mha`); ``backward`` accumulates the parameters'
    gradients and returns ``dx``.

    Parameters
    ----------
    d_model : int
        Model width; must be divisible by ``n_heads``.
    n_heads : int
        Number of heads ``H``; each has ``head_dim = d_model // n_heads``.
    bias : bool, default False
        Add biases ``b_q, b_k, b_v, b_o``.
    rope_base : float, optional
        Rotate queries and keys with RoPE of this base (``head_dim`` must be even).
    attn_impl : {"auto", "naive", "fused"}, default "auto"
        ``"naive"`` uses ``attention.py``, ``"fused"`` ``flash_attention.py``; ``"auto"`` uses
        the fused kernel when its ``use_fused`` rule says so.
    rng : None, int or numpy.random.Generator
        Initialisation: every ``W ~ U(-sqrt(3/d_model), sqrt(3/d_model))`` (Glorot), biases 0,
        drawn in the order ``W_q, W_k, W_v, W_o``.
    dtype : numpy float dtype, default float32
        Dtype of the parameters. ``forward`` casts ``x`` (and ``context``) to it, so float64
        input to a float32 module is computed in float32 (and float32 input to a float64
        module in float64); ``backward`` casts ``dout`` likewise.

    Attributes
    ----------
    W_q, W_k, W_v, W_o : Parameter, shape (d_model, d_model)
    b_q, b_k, b_v, b_o : Parameter, shape (d_model,) (with ``bias=True``, else None)

    See Also
    --------
    MultiHeadCrossAttention : the same parameters, keys and values from a ``context``.

    Examples
    --------
    >>> attn = MultiHeadAttention(d_model=8, n_heads=2, rng=0)
    >>> x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    >>> y = attn(x, causal=True)
    >>> dx = attn.backward(np.ones_like(y))
    >>> y.shape, dx.shape, attn.W_q.grad.shape
    ((2, 5, 8), (2, 5, 8), (8, 8))
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool = False,
        rope_base: float | None = None,
        attn_impl: str = "auto",
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        super().__init__(d_model, n_heads, bias, rope_base, attn_impl, rng, dtype)

    def forward(
        self,
        x: np.ndarray,
        mask: np.ndarray | None = None,
        causal: bool = False,
        positions: np.ndarray | None = None,
        kv_cache: KVCache | None = None,
    ) -> np.ndarray:
        """Attend from ``x`` to itself.

        Parameters
        ----------
        x : ndarray, shape (B, T, d_model)
        mask : ndarray of bool, optional
            True = may attend; broadcastable to ``(B, H, T, S)`` (``S = T`` plus any cached
            keys).
        causal : bool, default False
            Bottom-right aligned causal mask (``attention.py``).
        positions : array_like of int, shape (T,) or (B, T), optional
            RoPE positions; default ``0..T-1``, continuing after the cached length when
            ``kv_cache`` is given. Only with ``rope_base``.
        kv_cache : KVCache, optional
            Inference only: the new keys/values are appended to it and attention runs over
            all of them; ``backward`` then raises.

        Returns
        -------
        ndarray, shape (B, T, d_model)
        """
        return self._forward(x, mask=mask, causal=causal, positions=positions, kv_cache=kv_cache)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate the parameter gradients; return ``dx``.

        Parameters
        ----------
        dout : ndarray, shape (B, T, d_model)

        Returns
        -------
        dx : ndarray, shape (B, T, d_model)
            The sum of the query, key and value paths (``x`` feeds all three).

        Raises
        ------
        RuntimeError
            Before any forward, or after a forward with ``kv_cache`` (inference only: the
            cached keys and values came from earlier calls, whose inputs are gone).
        """
        return self._backward(dout).dx


class MultiHeadCrossAttention(_AttentionModule):
    """Multi-head cross-attention: ``forward(x, context)``, ``backward(dout) -> (dx, dcontext)``.

    Queries come from ``x``, keys and values from ``context`` (the encoder output in an
    encoder-decoder Transformer). No RoPE: the two sequences are not on one position axis.

    Parameters
    ----------
    d_model, n_heads, bias, attn_impl, rng, dtype
        As for :class:`MultiHeadAttention`: the same parameters (names, shapes and order of
        draws from ``rng``), so a state dict moves between the two.

    Attributes
    ----------
    W_q, W_k, W_v, W_o : Parameter, shape (d_model, d_model)
    b_q, b_k, b_v, b_o : Parameter, shape (d_model,) (with ``bias=True``, else None)

    Examples
    --------
    >>> cross = MultiHeadCrossAttention(d_model=8, n_heads=2, rng=0)
    >>> rng = np.random.default_rng(1)
    >>> x = rng.standard_normal((2, 3, 8)).astype(np.float32)      # (B, T, D) queries
    >>> memory = rng.standard_normal((2, 7, 8)).astype(np.float32)  # (B, S, D) keys and values
    >>> y = cross(x, memory)
    >>> dx, dmemory = cross.backward(np.ones_like(y))
    >>> y.shape, dx.shape, dmemory.shape
    ((2, 3, 8), (2, 3, 8), (2, 7, 8))
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool = False,
        attn_impl: str = "auto",
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        super().__init__(d_model, n_heads, bias, None, attn_impl, rng, dtype)

    def forward(
        self,
        x: np.ndarray,
        context: np.ndarray,
        mask: np.ndarray | None = None,
        kv_cache: KVCache | None = None,
    ) -> np.ndarray:
        """Attend from ``x`` to ``context``.

        Parameters
        ----------
        x : ndarray, shape (B, T, d_model)
        context : ndarray, shape (B, S, d_model)
        mask : ndarray of bool, optional
            True = may attend; broadcastable to ``(B, H, T, S)`` (e.g. source padding).
        kv_cache : KVCache, optional
            Inference only: the first call stores the projected context, later calls reuse
            it (``context`` is then only checked); ``backward`` then raises.

        Returns
        -------
        ndarray, shape (B, T, d_model)
        """
        if context is None:
            raise TypeError("context is None; MultiHeadCrossAttention needs the keys' input")
        return self._forward(x, context=context, mask=mask, kv_cache=kv_cache)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accumulate the parameter gradients; return ``(dx, dcontext)``.

        Parameters
        ----------
        dout : ndarray, shape (B, T, d_model)

        Returns
        -------
        dx : ndarray, shape (B, T, d_model)
            Through the queries.
        dcontext : ndarray, shape (B, S, d_model)
            Through the keys and values.

        Raises
        ------
        RuntimeError
            Before any forward, or after a forward with ``kv_cache`` (inference only).
        """
        grads = self._backward(dout)
        return grads.dx, grads.dcontext
