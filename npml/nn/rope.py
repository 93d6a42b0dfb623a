"""Rotary position embedding (RoPE): encode position m by rotating pairs of dimensions.

Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding"
(arXiv:2104.09864). View a vector :math:`x \\in \\mathbb{R}^{d}` (``d`` even) as
:math:`d/2` complex numbers :math:`z_i = x_{2i} + \\mathrm{i}\\,x_{2i+1}` and rotate each by
an angle proportional to the position :math:`m`:

.. math::

    \\operatorname{RoPE}(x, m)_i = z_i\\, e^{\\mathrm{i} m \\theta_i}, \\qquad
    \\theta_i = \\text{base}^{-2i/d}, \\quad i = 0, \\ldots, d/2 - 1,

that is :math:`(x_{2i}, x_{2i+1}) \\mapsto (x_{2i}\\cos m\\theta_i - x_{2i+1}\\sin m\\theta_i,\\;
x_{2i}\\sin m\\theta_i + x_{2i+1}\\cos m\\theta_i)`. Rotations preserve norms, and because
:math:`\\operatorname{Re}(z e^{\\mathrm{i}m\\theta}\\, \\overline{w e^{\\mathrm{i}n\\theta}})
= \\operatorname{Re}(z \\bar{w}\\, e^{\\mathrm{i}(m-n)\\theta})`, the score between a query
rotated at :math:`m` and a key rotated at :math:`n` depends on the positions only through
:math:`m - n`. The backward pass rotates the gradient back by :math:`-m\\theta_i`.

The notes' single-frequency form uses one angle step :math:`\\epsilon` for every pair,
:math:`\\operatorname{RoPE}(x, m) = x\\, e^{\\mathrm{i} m \\epsilon}` with
:math:`\\epsilon \\in (0, \\pi / (2N)]` and :math:`N` the sequence length, so that every angle
:math:`m\\epsilon` stays below :math:`\\pi/2`. It is exactly the general form with all
frequencies equal, :math:`\\theta_i = \\epsilon` for every :math:`i`: each pair
:math:`(x_{2i}, x_{2i+1})`, read as the complex number :math:`x_{2i} + \\mathrm{i} x_{2i+1}`,
is multiplied by :math:`e^{\\mathrm{i} m \\epsilon}`. With ``d = 2`` (one pair, one
frequency :math:`\\theta_0 = \\text{base}^0 = 1`) it also equals the general form at the
scaled positions :math:`m\\epsilon`. :func:`rope_single_frequency` is implemented that way,
through ``rope_forward(x, positions, theta=...)``.

**Two layouts.** npml pairs the features *interleaved*, :math:`(x_0, x_1), (x_2, x_3), \\ldots`,
as RoFormer and Meta's LLaMA reference code do. Hugging Face's implementation
(``rotate_half``) rotates the *halves* instead: pair :math:`i` is :math:`(x_i, x_{i + d/2})`,
with the same angle :math:`m\\theta_i`. The two agree once the features are reordered,
:math:`x^{\\text{interleaved}}_{2i} = x^{\\text{halves}}_i` and
:math:`x^{\\text{interleaved}}_{2i+1} = x^{\\text{halves}}_{i+d/2}`. Applied to the output
columns of :math:`W_q` and :math:`W_k` of every head, this permutation changes no attention
score, because a score :math:`q \\cdot k` is unchanged when :math:`q` and :math:`k` are
permuted alike; :func:`rope_permute` converts weights between the layouts.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from npml._checks import check_array, check_choice, check_dout, check_scalar
from npml._module import Module


class RoPECache(NamedTuple):
    cos: np.ndarray  # (..., T, d/2) cos(m theta_i)
    sin: np.ndarray  # (..., T, d/2) sin(m theta_i)
    shape: tuple[int, ...]  # (..., T, d) shape of the output


def rope_frequencies(head_dim: int, base: float = 10000.0) -> np.ndarray:
    """The frequencies ``theta_i = base**(-2i/head_dim)``, shape ``(head_dim // 2,)``.

    ``head_dim`` must be a positive even integer and ``base > 1`` (as for
    :func:`rope_forward`), else ``ValueError``/``TypeError`` naming the argument.
    """
    check_scalar(head_dim, "head_dim", kind=int, low=2)
    if head_dim % 2:
        raise ValueError(f"head_dim={head_dim} is odd; RoPE rotates pairs, expected even")
    check_scalar(base, "base", low=1.0, low_inclusive=False)
    return base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Multiply each pair (x[2i], x[2i+1]) by cos + i sin; ``sin`` negated rotates back."""
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., T, d/2) views
    out = np.empty(np.broadcast_shapes(x.shape, (*cos.shape[:-1], x.shape[-1])), dtype=x.dtype)
    out[..., 0::2] = x_even * cos - x_odd * sin
    out[..., 1::2] = x_even * sin + x_odd * cos
    return out


def rope_forward(
    x: np.ndarray,
    positions: np.ndarray,
    base: float = 10000.0,
    theta: np.ndarray | None = None,
) -> tuple[np.ndarray, RoPECache]:
    """Rotate pairs of dimensions of ``x`` by the angles ``positions * theta_i`` (RoPE).

    Pair ``i`` of row ``m``, ``(x[2i], x[2i+1])``, is rotated by the angle ``m theta_i``, so the
    dot product of a rotated query and key depends only on ``m - n`` (derivation in
    :mod:`npml.nn.rope`; gradient: :func:`rope_backward`).

    Parameters
    ----------
    x : ndarray, shape (..., T, d)
        ``d`` must be even.
    positions : array_like, shape (T,) or broadcastable to x.shape[:-1]
        Position :math:`m` of each row (integers or reals).
    base : float, default 10000.0
        Frequency base: ``theta_i = base**(-2i/d)``.
    theta : array_like, shape (d/2,), optional
        Explicit frequencies, overriding ``base`` (the single-frequency form passes a
        constant).

    Returns
    -------
    out : ndarray, shape of x
    cache : RoPECache

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0]])     # (T=2, d=2): one pair per row
    >>> out, cache = rope_forward(x, positions=np.arange(2), theta=np.array([np.pi / 2]))
    >>> out.round(6) + 0.0                          # row 1 rotated by 90 degrees
    array([[1., 0.],
           [0., 1.]])
    """
    x = check_array(x, "x")
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x has shape {x.shape}; expected (..., T, d) with d even")
    d = x.shape[-1]
    positions = check_array(positions, "positions", dtype=np.float64)
    try:
        np.broadcast_shapes(positions.shape, x.shape[:-1])
    except ValueError:
        raise ValueError(
            f"positions has shape {positions.shape}; expected one position per row of x, "
            f"broadcastable to {x.shape[:-1]}"
        ) from None
    if theta is None:
        check_scalar(base, "base", low=1.0, low_inclusive=False)
        theta = rope_frequencies(d, base)
    else:
        theta = check_array(theta, "theta", ndim=1, dtype=np.float64)
        if theta.shape != (d // 2,):
            raise ValueError(f"theta has shape {theta.shape}; expected ({d // 2},)")
    angle = positions[..., None] * theta  # (..., T, d/2), computed in float64
    cos = np.cos(angle).astype(x.dtype, copy=False)
    sin = np.sin(angle).astype(x.dtype, copy=False)
    out = _rotate(x, cos, sin)
    return out, RoPECache(cos, sin, out.shape)


def rope_backward(dout: np.ndarray, cache: RoPECache) -> np.ndarray:
    """Gradient of :func:`rope_forward` with respect to ``x``: rotate ``dout`` back.

    The rotation matrix is orthogonal, so its transpose (the rotation by :math:`-m\\theta_i`)
    maps the output gradient to the input gradient. Positions get no gradient.

    Returns
    -------
    dx : ndarray, shape of dout
    """
    dout = check_dout(dout, cache.shape)
    return _rotate(dout, cache.cos, -cache.sin)


def rope_single_frequency(x: np.ndarray, positions: np.ndarray, epsilon: float) -> np.ndarray:
    """The notes' single-frequency RoPE: multiply every pair by ``exp(i m epsilon)``.

    Parameters
    ----------
    x : ndarray, shape (..., T, d)
        ``d`` even; pair ``(x[2i], x[2i+1])`` is the complex number ``x[2i] + i x[2i+1]``.
    positions : array_like, shape (T,) or broadcastable to x.shape[:-1]
    epsilon : float
        Angle step, in ``(0, pi / (2N)]`` with ``N = 1 + max |m|`` (the sequence length for
        positions ``0..N-1``), so that every angle ``m epsilon`` is below ``pi/2``.

    Returns
    -------
    ndarray, shape of x
        Equal to ``rope_forward(x, positions, theta=np.full(d // 2, epsilon))[0]``
        (:mod:`npml.nn.rope`); its gradient is therefore :func:`rope_backward`'s.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> rope_single_frequency(x, np.arange(2), epsilon=0.5).round(4)
    array([[1.    , 0.    ],
           [0.8776, 0.4794]])
    """
    x = check_array(x, "x")
    positions = check_array(positions, "positions", dtype=np.float64)
    N = 1 + (int(np.ceil(np.abs(positions).max())) if positions.size else 0)
    check_scalar(epsilon, "epsilon", low=0.0, low_inclusive=False, high=math.pi / (2 * N))
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x has shape {x.shape}; expected (..., T, d) with d even")
    return rope_forward(x, positions, theta=np.full(x.shape[-1] // 2, float(epsilon)))[0]


def rope_permute(W: np.ndarray, n_heads: int, to: str = "interleaved") -> np.ndarray:
    """Reorder the last axis of ``W`` (per head) between the two RoPE pair layouts.

    npml pairs dimensions ``(2i, 2i+1)`` (interleaved, as in the paper and
    :mod:`npml.nn.rope`); Hugging Face models pair ``(i, i + head_dim/2)`` (halves). Use it
    on the query and key weights (and biases) of a model trained with the other
    layout, e.g. ``rope_permute(W_q_hf, n_heads, to="interleaved")`` for npml's
    :func:`rope_forward` on weights from a Hugging Face checkpoint; ``W_v`` and ``W_o`` are
    left as they are. The attention scores, and so the layer's output, are unchanged.

    Parameters
    ----------
    W : ndarray, shape (..., n_heads * head_dim)
        Columns ``h * head_dim .. (h + 1) * head_dim - 1`` belong to head ``h`` (``W_q`` or
        ``W_k`` of shape ``(d_model, n_heads * head_dim)``, or the bias ``b_q``/``b_k``).
    n_heads : int
        Heads in ``W``'s last axis (for grouped keys, the number of key heads).
    to : {"interleaved", "halves"}, default "interleaved"
        The layout to convert to: ``"interleaved"`` takes ``W`` in the halves layout and
        moves column ``i + head_dim/2`` next to column ``i``; ``"halves"`` undoes that.

    Returns
    -------
    ndarray, shape of W
        A permuted copy; ``rope_permute(rope_permute(W, H, to="halves"), H)`` equals ``W``.

    Examples
    --------
    >>> W = np.arange(4.0)[None, :]                 # one head of head_dim 4, halves layout
    >>> rope_permute(W, n_heads=1)                  # columns 0, 2, 1, 3
    array([[0., 2., 1., 3.]])
    >>> rope_permute(rope_permute(W, 1, to="halves"), 1)
    array([[0., 1., 2., 3.]])
    """
    check_choice(to, "to", ("interleaved", "halves"))
    check_scalar(n_heads, "n_heads", kind=int, low=1)
    W = check_array(W, "W")
    if W.ndim < 1 or W.shape[-1] % n_heads or (W.shape[-1] // n_heads) % 2:
        raise ValueError(
            f"W has shape {W.shape}; expected a last axis of n_heads={n_heads} heads of even "
            "size (RoPE rotates pairs)"
        )
    d = W.shape[-1] // n_heads
    half = np.arange(d // 2)
    halves_to_interleaved = np.stack([half, half + d // 2], axis=1).ravel()  # 0, d/2, 1, ...
    perm = halves_to_interleaved if to == "interleaved" else np.argsort(halves_to_interleaved)
    columns = (np.arange(n_heads)[:, None] * d + perm).ravel()  # (n_heads * d,)
    return W[..., columns]


class RotaryEmbedding(Module):
    """Rotary position embedding (RoPE) as a module, with no parameters.

    ``forward(x, positions=None)`` rotates ``x`` of shape ``(..., T, head_dim)`` by
    :func:`rope_forward` (positions default to ``0..T-1``; the rotation is derived in
    :mod:`npml.nn.rope`); ``backward(dout)`` rotates back and returns ``dx``.

    Parameters
    ----------
    head_dim : int
        Size ``d`` of the rotated vectors; must be even.
    base : float, default 10000.0
        Frequency base: pair ``i`` turns by ``base**(-2i/head_dim)`` per position.

    Examples
    --------
    >>> rope = RotaryEmbedding(head_dim=4)
    >>> q = np.ones((1, 3, 4))                          # (B, T, head_dim)
    >>> out = rope(q)
    >>> bool(np.allclose(np.linalg.norm(out, axis=-1), 2.0))   # rotations keep the norm
    True
    >>> rope.backward(out).round(6) + 0.0               # the transpose rotation undoes it
    array([[[1., 1., 1., 1.],
            [1., 1., 1., 1.],
            [1., 1., 1., 1.]]])
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        check_scalar(head_dim, "head_dim", kind=int, low=2)
        if head_dim % 2:
            raise ValueError(f"head_dim={head_dim} is odd; RoPE rotates pairs, expected even")
        self.head_dim = head_dim
        self.base = check_scalar(base, "base", low=1.0, low_inclusive=False)
        self._cache: RoPECache | None = None

    def forward(self, x: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """Rotate ``x`` of shape ``(..., T, head_dim)``; positions default to ``0..T-1``."""
        x = check_array(x, "x")
        if x.ndim < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"x has shape {x.shape}; expected (..., T, {self.head_dim})")
        if positions is None:
            positions = np.arange(x.shape[-2])
        out, self._cache = rope_forward(x, positions, self.base)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return ``dx`` (rotate ``dout`` back)."""
        if self._cache is None:
            raise RuntimeError("RotaryEmbedding.backward called before forward")
        return rope_backward(dout, self._cache)
