"""Sinusoidal embedding of a (diffusion) timestep, and the small MLP the U-Nets put after it.

The position code of Vaswani et al. 2017 ("Attention Is All You Need", arXiv:1706.03762,
Section 3.5) applied to a scalar :math:`t` instead of a token position, as the DDPM U-Net does
(Ho et al. 2020, arXiv:2006.11239). With :math:`h = \\lfloor d / 2 \\rfloor` frequencies

.. math::

    \\omega_i = P^{-i / h}, \\quad i = 0, \\dots, h - 1, \\qquad
    e(t) = \\bigl[\\sin(t\\,\\omega_0), \\dots, \\sin(t\\,\\omega_{h-1}),\\;
                 \\cos(t\\,\\omega_0), \\dots, \\cos(t\\,\\omega_{h-1})\\bigr],

with ``max_period`` :math:`P = 10000`. The exact convention, since implementations differ:

* **Frequencies** :math:`P^{-i/h}` are Vaswani's :math:`10000^{-2i/d}` (for even :math:`d`),
  as in GLIDE / guided-diffusion's ``timestep_embedding`` and diffusers'
  ``get_timestep_embedding(..., downscale_freq_shift=0)``. The original DDPM code divides by
  :math:`h - 1` instead (its slowest frequency is exactly :math:`1/P`); that is not offered.
* **Layout**: half sines then half cosines (not Vaswani's interleaving: the columns of
  :func:`npml.nn.sinusoidal_positions` permuted). ``flip_sin_to_cos=True`` puts the cosines
  first, which is exactly GLIDE / guided-diffusion's layout.
* **Odd** :math:`d`: a last column of zeros.
* :math:`t` may be fractional (continuous-time samplers); it is computed in float64, since
  :math:`t \\omega_0` reaches 1000 and float32 would lose three digits of the phase.

The embedding has no parameters and no gradient is needed with respect to :math:`t`.
:class:`TimeEmbedding` follows it with ``Linear -> SiLU -> Linear`` (the DDPM U-Net's
``temb`` MLP, whose width is four times the base channel count there), which does learn.
"""

from __future__ import annotations

import math

import numpy as np

from npml._checks import as_rng, check_array, check_bool, check_scalar
from npml._module import Module
from npml.nn.activations import SiLU
from npml.nn.linear import Linear


def timestep_embedding(
    t: np.ndarray | float,
    dim: int,
    max_period: float = 10000,
    flip_sin_to_cos: bool = False,
) -> np.ndarray:
    """The sinusoidal code ``e(t)`` of every timestep (module docstring).

    Parameters
    ----------
    t : float or ndarray, shape (...)
        Timesteps, integer or fractional.
    dim : int
        :math:`d`, the width of the code.
    max_period : float, default 10000
        :math:`P`; the slowest sinusoid's period is about :math:`2\\pi P`.
    flip_sin_to_cos : bool, default False
        Put the cosines first (GLIDE's layout).

    Returns
    -------
    e : ndarray, shape (\\*t.shape, dim), float64
    """
    t = check_array(t, "t", dtype=np.float64)
    check_scalar(dim, "dim", kind=int, low=1)
    check_scalar(max_period, "max_period", low=0.0, low_inclusive=False)
    flip_sin_to_cos = check_bool(flip_sin_to_cos, "flip_sin_to_cos")
    h = dim // 2
    omega = np.exp(-math.log(max_period) * np.arange(h) / max(h, 1))  # (h,)
    phase = t[..., None] * omega  # (..., h)
    halves = (np.cos(phase), np.sin(phase)) if flip_sin_to_cos else (np.sin(phase), np.cos(phase))
    e = np.zeros((*t.shape, dim))
    e[..., :h], e[..., h : 2 * h] = halves  # an odd dim leaves the last column 0
    return e


class TimeEmbedding(Module):
    """``Linear(SiLU(Linear(e(t))))``: the timestep code of a diffusion U-Net.

    Parameters
    ----------
    dim : int
        Width of the sinusoidal code :math:`e(t)`.
    d_hidden : int
        Width of the first linear layer.
    d_out : int, optional
        Width of the output; default ``d_hidden`` (as the DDPM U-Net).
    max_period : float, default 10000
    flip_sin_to_cos : bool, default False
        As :func:`timestep_embedding`.
    rng : None, int or numpy.random.Generator
        Initialisation of the two linear layers.
    dtype : numpy float dtype, default float32
        The code is computed in float64 and cast to it.

    Attributes
    ----------
    lin1 : Linear, (dim, d_hidden)
    act : SiLU
    lin2 : Linear, (d_hidden, d_out)
    """

    def __init__(
        self,
        dim: int,
        d_hidden: int,
        d_out: int | None = None,
        max_period: float = 10000,
        flip_sin_to_cos: bool = False,
        rng: None | int | np.random.Generator = None,
        dtype: type = np.float32,
    ) -> None:
        check_scalar(dim, "dim", kind=int, low=1)
        check_scalar(d_hidden, "d_hidden", kind=int, low=1)
        d_out = d_hidden if d_out is None else check_scalar(d_out, "d_out", kind=int, low=1)
        self.max_period = check_scalar(max_period, "max_period", low=0.0, low_inclusive=False)
        self.flip_sin_to_cos = check_bool(flip_sin_to_cos, "flip_sin_to_cos")
        self.dim, self.dtype = dim, np.dtype(dtype)
        rng = as_rng(rng)
        self.lin1 = Linear(dim, d_hidden, rng=rng, dtype=dtype)
        self.act = SiLU()
        self.lin2 = Linear(d_hidden, d_out, rng=rng, dtype=dtype)
        self._ran = False

    def forward(self, t: np.ndarray | float) -> np.ndarray:
        """Embed timesteps ``t`` of shape ``(...)``; returns ``(..., d_out)``."""
        e = timestep_embedding(t, self.dim, self.max_period, self.flip_sin_to_cos)
        h = self.act(self.lin1(e.astype(self.dtype)))
        self._ran = True
        return self.lin2(h)

    def backward(self, dout: np.ndarray) -> None:
        """Accumulate the linear layers' gradients; returns None (no gradient w.r.t. ``t``)."""
        if not self._ran:
            raise RuntimeError("TimeEmbedding.backward called before forward")
        self.lin1.backward(self.act.backward(self.lin2.backward(dout)))
