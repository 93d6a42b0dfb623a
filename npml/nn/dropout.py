"""Inverted dropout: zero each unit with probability p while training, rescale the rest.

Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting"
(JMLR 15). The *inverted* form rescales at training time so that evaluation is the identity:

.. math::

    y = \\frac{m \\odot x}{1 - p}, \\quad m_i \\sim \\operatorname{Bernoulli}(1 - p), \\qquad
    \\mathbb{E}[y] = x, \\qquad \\bar{x} = \\frac{m \\odot \\bar{y}}{1 - p}.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_dout, check_scalar
from npml._module import Module


class DropoutCache(NamedTuple):
    scale: np.ndarray | None  # (...) m / (1 - p); None when dropout was the identity
    shape: tuple[int, ...]  # shape of x (and of the output)


def dropout_forward(
    x: np.ndarray,
    p: float,
    rng: None | int | np.random.Generator,
    training: bool = True,
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout: zero each unit with probability ``p``, scale the rest by ``1/(1-p)``.

    The expected output equals ``x``, so evaluation needs no rescaling (the equation is in
    :mod:`npml.nn.dropout`).

    Parameters
    ----------
    x : ndarray, shape (...)
    p : float in [0, 1)
        Probability of zeroing a unit.
    rng : None, int or numpy.random.Generator
        Source of the mask.
    training : bool, default True
        When False (or ``p == 0``) the layer is the identity and draws no random numbers.

    Returns
    -------
    out : ndarray, shape of x
    cache : DropoutCache

    Examples
    --------
    >>> out, cache = dropout_forward(np.ones(8), p=0.5, rng=0)
    >>> sorted(set(out.tolist()))                     # kept units are scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> dropout_forward(np.ones(3), p=0.5, rng=0, training=False)[0]
    array([1., 1., 1.])
    """
    check_scalar(p, "p", low=0.0, high=1.0, high_inclusive=False)
    training = check_bool(training, "training")
    x = check_array(x, "x")
    if not training or p == 0:
        return x, DropoutCache(None, x.shape)
    keep = as_rng(rng).random(x.shape) >= p  # (...) True with probability 1 - p
    scale = keep.astype(x.dtype)
    scale *= 1.0 / (1.0 - p)
    return x * scale, DropoutCache(scale, x.shape)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Gradient of :func:`dropout_forward`: the same mask and scale applied to ``dout``.

    Parameters
    ----------
    dout : ndarray, shape of x
        Gradient of the loss with respect to the output.
    cache : DropoutCache
        From :func:`dropout_forward`.

    Returns
    -------
    dx : ndarray, shape of x
        ``dout * mask / (1 - p)``, or ``dout`` itself when dropout was the identity.

    Examples
    --------
    >>> out, cache = dropout_forward(np.ones(4), p=0.5, rng=0)
    >>> bool(np.all(dropout_backward(np.ones(4), cache) == out))
    True
    """
    dout = check_dout(dout, cache.shape)
    return dout if cache.scale is None else dout * cache.scale


class Dropout(Module):
    """Inverted dropout; the identity after ``module.eval()``.

    In training mode ``forward(x)`` zeroes each entry with probability ``p`` and scales the
    rest by ``1 / (1 - p)`` (:func:`dropout_forward`); after ``eval()`` it returns ``x``.
    ``backward(dout)`` applies the same mask and returns ``dx``.

    Parameters
    ----------
    p : float in [0, 1)
        Drop probability.
    rng : None, int or numpy.random.Generator
        Kept and reused for every mask.

    Examples
    --------
    >>> drop = Dropout(0.5, rng=0)
    >>> sorted(set(drop(np.ones(10)).tolist()))
    [0.0, 2.0]
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p: float, rng: None | int | np.random.Generator = None) -> None:
        self.p = check_scalar(p, "p", low=0.0, high=1.0, high_inclusive=False)
        self.rng = as_rng(rng)
        self._cache: DropoutCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Drop units of ``x`` while training (``self.training``); the identity otherwise."""
        out, self._cache = dropout_forward(x, self.p, self.rng, bool(self.training))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return ``dx``: ``dout`` through the mask of the last forward."""
        if self._cache is None:
            raise RuntimeError("Dropout.backward called before forward")
        return dropout_backward(dout, self._cache)
