"""The ``axis`` argument of npml's reductions, checked before NumPy sees it.

NumPy's own messages for a bad axis ("'str' object cannot be interpreted as an integer")
name neither the argument nor the function; these name ``axis`` and the array's shape.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_axis(axis: Any, shape: tuple[int, ...], name: str = "axis") -> tuple[int, ...]:
    """Check ``axis`` (None, an int or a tuple of ints) against ``shape``.

    Returns the reduced axes as non-negative ints (all of them for ``None``).

    Raises
    ------
    TypeError
        If an axis is not an integer (a bool, a float, a string).
    numpy.exceptions.AxisError
        (a ``ValueError``) if an axis is out of range or repeated.
    """
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise TypeError(
                f"{name}={axis!r} of type {type(a).__name__}; expected None, an int or a "
                "tuple of ints"
            )
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(
                f"{name}={axis!r} is invalid for an array of shape {shape} (ndim={ndim})"
            )
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise np.exceptions.AxisError(f"{name}={axis!r} repeats an axis; expected distinct axes")
    return tuple(out)
