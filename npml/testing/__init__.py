"""Testing helpers for hand-written backward passes (public: test your own layers with them).

* :func:`numerical_gradient`, :func:`check_gradient`, :func:`relative_error`: centred finite
  differences against an analytic gradient (``_gradient.py``);
* :class:`LayerInfo`, :class:`Sample`, :class:`ErrorInput`, :func:`register`,
  :func:`registered`: one registry of layers with their sample inputs, oracles, dtypes and
  refused inputs, after torch's ``OpInfo`` (``_registry.py``); the generic checks that run
  over it are in :mod:`npml.testing.checks`, and npml's own entries in
  :mod:`npml.testing.npml_layers`.

Importing this package loads neither Numba nor torch, nor any layer.
"""

from npml.testing._gradient import check_gradient, numerical_gradient, relative_error
from npml.testing._registry import ErrorInput, LayerInfo, Sample, register, registered

__all__ = [
    "ErrorInput",
    "LayerInfo",
    "Sample",
    "check_gradient",
    "numerical_gradient",
    "register",
    "registered",
    "relative_error",
]
