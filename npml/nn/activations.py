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

**Implementation.** ``_gelu_forward_reference`` / ``_gelu_backward_reference`` are the plain
NumPy definitions; for float32/float64 C-contiguous arrays of at least ``KERNEL_MIN_SIZE``
elements the public functions call the Numba kernels of :mod:`npml.nn._activation_kernels`
instead (one parallel pass each, own float32 erf/exp; tested equal to the twins). Their
backward recomputes :math:`\\Phi, \\varphi` (or :math:`t`) from ``x`` rather than saving
them, which measured faster than reading a saved array. ``_bias_gelu_forward`` /
``_bias_gelu_backward`` fuse the bias add in front of GELU (used by the feed-forward layer):
:math:`h = \\operatorname{GELU}(a + b)` in one pass, and :math:`\\bar a` with
:math:`\\bar b = \\sum_n \\bar a_n` in one pass back.
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
KERNEL_MIN_SIZE = 4096  # elements; below it the NumPy twin is as fast (measured, 2 cores)


class ReLUCache(NamedTuple):
    out: np.ndarray  # (...) max(0, x); positive exactly where the gradient passes


class GELUCache(NamedTuple):
    x: np.ndarray  # (...) the input (with a fused bias: the pre-activation a + b)
    approximate: str
    t: np.ndarray | None  # (...) the tanh term (tanh form of the NumPy path), else None


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
    out : ndarray, shape and dtype of x
    cache : GELUCache
    """
    check_choice(approximate, "approximate", ("none", "tanh"))
    x = check_array(x, "x")
    if _use_kernel(x):
        return _gelu_forward_numba(x, None, approximate)
    return _gelu_forward_reference(x, approximate)


def gelu_backward(dout: np.ndarray, cache: GELUCache) -> np.ndarray:
    """Gradient of :func:`gelu_forward` with respect to ``x`` (derivatives in module docstring)."""
    if _use_kernel(cache.x, dout):
        return _gelu_backward_numba(dout, cache, False)[0]
    return _gelu_backward_reference(dout, cache)


def _gelu_forward_reference(x: np.ndarray, approximate: str) -> tuple[np.ndarray, GELUCache]:
    """NumPy twin of the forward kernel."""
    if approximate == "none":
        out = 0.5 * x * (1.0 + erf(x / _SQRT_2))
        return out, GELUCache(x, approximate, None)
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
    return 0.5 * x * (1.0 + t), GELUCache(x, approximate, t)


def _gelu_backward_reference(dout: np.ndarray, cache: GELUCache) -> np.ndarray:
    """NumPy twin of the backward kernel."""
    x, approximate, t = cache
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf(x / _SQRT_2))  # Phi(x)
        pdf = np.exp(-0.5 * x * x) / _SQRT_2PI  # phi(x)
        return dout * (cdf + x * pdf)
    if t is None:  # the kernel's forward does not save it
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
    dt = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)  # d/dx of the tanh argument
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dt)


def _bias_gelu_forward(
    a: np.ndarray, b: np.ndarray | None, approximate: str
) -> tuple[np.ndarray, GELUCache]:
    """``GELU(a + b)`` with ``a`` of shape (..., D) and ``b`` of shape (D,) or None.

    ``a`` must be a fresh array the caller gives up: it is overwritten with ``a + b``, which
    the cache keeps as the pre-activation. Inputs are not checked (internal helper).
    """
    if _use_kernel(a) and (b is None or (b.dtype == a.dtype and b.shape == a.shape[-1:])):
        return _gelu_forward_numba(a, b, approximate)
    if b is not None:
        a += b
    return _gelu_forward_reference(a, approximate)


def _bias_gelu_backward(
    dh: np.ndarray, cache: GELUCache, has_bias: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(da, db)`` of :func:`_bias_gelu_forward`: ``da = dh * GELU'(a)``, ``db = sum_n da_n``.

    ``dh`` (same shape as the pre-activation) may be overwritten with ``da``.
    """
    if _use_kernel(cache.x, dh):
        return _gelu_backward_numba(dh, cache, has_bias)
    da = _gelu_backward_reference(dh, cache)
    db = da.reshape(-1, da.shape[-1]).sum(axis=0) if has_bias else None
    return da, db


def _use_kernel(x: np.ndarray, dout: np.ndarray | None = None) -> bool:
    """Whether the Numba kernels take this call (dtype, layout and size rule)."""
    ok = x.dtype in (np.float32, np.float64) and x.flags.c_contiguous
    ok = ok and x.size >= KERNEL_MIN_SIZE and x.ndim >= 1
    if dout is not None:
        dout = np.asarray(dout)
        ok = ok and dout.dtype == x.dtype and dout.shape == x.shape and dout.flags.c_contiguous
    return ok


def _gelu_forward_numba(
    x: np.ndarray, b: np.ndarray | None, approximate: str
) -> tuple[np.ndarray, GELUCache]:
    """Kernel path of the forward (``x`` is overwritten with ``x + b`` when ``b`` is given)."""
    from npml.nn import _activation_kernels as kern

    D = x.shape[-1] if b is not None else max(x.size // 64, 1024)  # bias rows, else chunks
    bias = np.zeros(0, x.dtype) if b is None else np.ascontiguousarray(b)
    out = np.empty_like(x)
    kern._gelu_forward_kernel(x.reshape(-1), bias, out.reshape(-1), D, approximate == "tanh")
    return out, GELUCache(x, approximate, None)


def _gelu_backward_numba(
    dout: np.ndarray, cache: GELUCache, has_bias: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Kernel path of the backward; with ``has_bias``, also the bias gradient (and ``dout`` is
    overwritten with the result)."""
    import numba

    from npml.nn import _activation_kernels as kern

    x = cache.x
    if has_bias:
        D = x.shape[-1]
        db = np.zeros((numba.get_num_threads(), D), x.dtype)  # one partial sum per worker
        dx = dout
    else:
        D = max(x.size // 64, 1024)
        db = np.zeros((0, D), x.dtype)
        dx = np.empty_like(x)
    tanh = cache.approximate == "tanh"
    kern._gelu_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1), db, D, tanh)
    return dx, (db.sum(axis=0) if has_bias else None)


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
