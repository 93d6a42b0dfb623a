"""Casting a module's input to the module's dtype (as torch modules compute in theirs).

A float32 module given float64 input computes in float32 rather than promoting every
activation, cache and gradient to float64; a float64 module given float32 input computes in
float64. The functional forward passes keep NumPy's promotion rules: only modules cast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import check_array


def cast_input(x: Any, name: str, dtype: np.dtype) -> Any:
    """``x`` as an array of ``dtype`` when it holds real numbers; anything else unchanged.

    Lists and tuples are converted (and checked) by ``check_array``; integer and boolean
    arrays are cast like floats. Other values (strings, ``None``, complex arrays) are passed
    through for the layer's own ``check_array`` to refuse with its usual message.
    """
    if isinstance(x, (list, tuple)):
        x = check_array(x, name)
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.dtype != dtype:
        return x.astype(dtype)
    return x
