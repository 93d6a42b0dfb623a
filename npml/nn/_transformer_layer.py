"""The shared base of the transformer layers (``transformer.py``): input checks and constructor.

The encoder and decoder layers differ only in their forward/backward steps; what they share
(building the sub-layers from ``rng`` in a fixed order, checking ``x`` and ``dy``) lives here
so that ``transformer.py`` reads as the equations and the steps.
"""

from __future__ import annotations

import numpy as np

from npml._checks import (
    as_rng,
    check_array,
    check_bool,
    check_dout,
    check_scalar,
)
from npml._module import Module
from npml.nn._dtype import cast_input
from npml.nn.dropout import Dropout
from npml.nn.ffn import FeedForward
from npml.nn.layer_norm import LayerNorm
from npml.nn.multihead import MultiHeadAttention, MultiHeadCrossAttention


def _check_input(x: np.ndarray, name: str, d_model: int, dtype: np.dtype) -> np.ndarray:
    """``x`` (B, T, d_model) cast to the layer's dtype and checked (NaN included)."""
    x = check_array(cast_input(x, name, dtype), name, ndim=3)
    if x.shape[-1] != d_model:
        raise ValueError(f"{name} has shape {x.shape}; expected (B, T, d_model={d_model})")
    return x


class _TransformerLayer(Module):
    """The constructor the encoder and decoder layers share (their ``cross`` flag differs).

    It builds, drawing from ``rng`` in this order, the self-attention, the decoder's
    cross-attention, the FFN, then one LayerNorm and one Dropout per sublayer (``norm1``,
    ``norm2``, ... and ``dropout1``, ``dropout2``, ...); the dropouts keep ``rng`` for their
    masks.
    """

    cross = False  # True: a cross-attention sublayer between self-attention and the FFN

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
        *,
        activation: str = "relu",
        rope_base: float | None = None,
        attn_impl: str = "auto",
    ) -> None:
        check_scalar(d_model, "d_model", kind=int, low=1)
        check_scalar(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        norm_first = check_bool(norm_first, "norm_first")
        rng = as_rng(rng)
        self.d_model = d_model
        self.dtype = np.dtype(dtype)
        self._out_shape: tuple[int, ...] | None = None  # (B, T, d_model) of the last forward
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, n_heads, rope_base=rope_base, attn_impl=attn_impl, rng=rng, dtype=dtype
        )
        if self.cross:
            self.cross_attn = MultiHeadCrossAttention(
                d_model, n_heads, attn_impl=attn_impl, rng=rng, dtype=dtype
            )
        self.ffn = FeedForward(d_model, d_ff, activation=activation, rng=rng, dtype=dtype)
        n_sublayers = 3 if self.cross else 2
        for i in range(1, n_sublayers + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, dtype=dtype))
        for i in range(1, n_sublayers + 1):
            setattr(self, f"dropout{i}", Dropout(dropout, rng=rng))

    def extra_repr(self) -> str:
        """The constructor's arguments, with ``d_ff`` as built (``4 * d_model`` for None)."""
        return self._config_repr(d_ff=self.ffn.W_1.shape[1])

    def _check_dy(self, dy: np.ndarray) -> np.ndarray:
        """``dy`` checked against the last forward's output shape, cast to the layer's dtype."""
        if self._out_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return check_dout(dy, self._out_shape, "dy").astype(self.dtype, copy=False)
