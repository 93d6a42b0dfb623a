"""Element-wise activations: ReLU and GELU (exact and tanh forms), with backward passes.

.. math::

    \\operatorname{ReLU}(x) = \\max(0, x), \\qquad
    \\operatorname{GELU}(x) = x\\,\\Phi(x)
    = \\tfrac{x}{2}\\bigl(1 + \\operatorname{erf}(x/\\sqrt{2})\\bigr),

    \\operatorname{GELU}_{\\tanh}(x)
    = \\tfrac{x}{2}\\Bigl(1 + \\tanh\\bigl(\\sqrt{2/\\pi}\\,(x + 0.044715\\,x^3)\\bigr)\\Bigr).

GELU weights its input by the probability :math:`\\Phi(x)` that a standard normal is below
it (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415);
the tanh form is their cheap approximation, used by GPT-2 and BERT. The derivatives are

.. math::

    \\operatorname{GELU}'(x) = \\Phi(x) + x\\,\\varphi(x), \\qquad
    \\operatorname{GELU}_{\\tanh}'(x) = \\tfrac{1}{2}(1 + t)
      + \\tfrac{x}{2}(1 - t^2)\\sqrt{2/\\pi}\\,(1 + 3 \\cdot 0.044715\\,x^2),

with :math:`\\varphi` the standard normal density and :math:`t` the tanh above.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import erf

from npml._checks import check_array, check_choice
from npml._module import Module

# Python floats (not NumPy scalars) so float32 inputs stay float32 under NumPy 2 promotion.
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


class ReLUCache(NamedTuple):
    out: np.ndarray  # (...) max(0, x); positive exactly where the gradient passes


class GELUCache(NamedTuple):
    x: np.ndarray  # (...)
    approximate: str
    t: np.ndarray | None  # (...) the tanh term (tanh form only)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ReLUCache]:
    """``max(0, x)`` element-wise.

    Parameters
    ----------
    x : ndarray, shape (...)

    Returns
    -------
    out : ndarray, shape of x
    cache : ReLUCache
    """
    x = check_array(x, "x")
    out = np.maximum(x, 0)
    return out, ReLUCache(out)


def relu_backward(dout: np.ndarray, cache: ReLUCache) -> np.ndarray:
    """Gradient of :func:`relu_forward`: ``dout`` where ``x > 0``, else 0 (also at 0)."""
    return dout * (cache.out > 0)


def gelu_forward(x: np.ndarray, approximate: str = "none") -> tuple[np.ndarray, GELUCache]:
    """GELU, exact (``approximate="none"``) or tanh form (``"tanh"``), module docstring.

    Parameters
    ----------
    x : ndarray, shape (...)
    approximate : {"none", "tanh"}, default "none"

    Returns
    -------
    out : ndarray, shape of x
    cache : GELUCache
    """
    check_choice(approximate, "approximate", ("none", "tanh"))
    x = check_array(x, "x")
    if approximate == "none":
        out = 0.5 * x * (1.0 + erf(x / _SQRT_2))
        return out, GELUCache(x, approximate, None)
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
    return 0.5 * x * (1.0 + t), GELUCache(x, approximate, t)


def gelu_backward(dout: np.ndarray, cache: GELUCache) -> np.ndarray:
    """Gradient of :func:`gelu_forward` with respect to ``x`` (derivatives in module docstring)."""
    x, approximate, t = cache
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf(x / _SQRT_2))  # Phi(x)
        pdf = np.exp(-0.5 * x * x) / _SQRT_2PI  # phi(x)
        return dout * (cdf + x * pdf)
    dt = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)  # d/dx of the tanh argument
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dt)


class ReLU(Module):
    """ReLU as a module (no parameters); ``backward`` returns ``dx``."""

    def __init__(self) -> None:
        self._cache: ReLUCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("ReLU.backward called before forward")
        return relu_backward(dout, self._cache)


class GELU(Module):
    """GELU as a module (no parameters).

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        Exact erf form or the tanh approximation (module docstring).
    """

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = check_choice(approximate, "approximate", ("none", "tanh"))
        self._cache: GELUCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = gelu_forward(x, self.approximate)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("GELU.backward called before forward")
        return gelu_backward(dout, self._cache)
