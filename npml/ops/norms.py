"""The L2 norm, safe from overflow and underflow.

.. math::

    \\|x\\|_2 = \\sqrt{\\sum_i x_i^2} = s \\sqrt{\\sum_i (x_i / s)^2}, \\qquad s = \\max_i |x_i|.

Squaring first overflows for :math:`|x_i| > 10^{154}` (``1e200**2`` is ``inf``) and
underflows to 0 for :math:`|x_i| < 10^{-162}`. Dividing by the largest magnitude first, as
the reference BLAS ``nrm2`` does, keeps every squared term in :math:`[0, 1]`, so the sum is
exact to rounding and the result is representable whenever the norm itself is.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_array, check_bool
from npml.ops._axes import check_axis


def l2_norm(
    x: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> np.ndarray | float:
    """Euclidean norm of ``x`` over ``axis``, scaled to avoid overflow and underflow.

    Parameters
    ----------
    x : array_like, shape (...)
        Real numbers; NaN and infinity raise ``ValueError``.
    axis : int, tuple of int or None, default None
        Axes to reduce; ``None`` treats ``x`` as one flat vector.
    keepdims : bool, default False
        Keep reduced axes with size 1.

    Returns
    -------
    float or ndarray
        A Python float when every axis is reduced and ``keepdims`` is False.

    Examples
    --------
    >>> l2_norm([1e200, 1e200])  # naive sqrt(sum(x**2)) gives inf
    1.414213562373095e+200
    """
    x = check_array(x, "x")
    check_axis(axis, x.shape)
    keepdims = check_bool(keepdims, "keepdims")
    a = np.abs(x)
    if a.size == 0:
        s = np.zeros(np.sum(a, axis=axis, keepdims=True).shape, dtype=a.dtype)
    else:
        s = np.max(a, axis=axis, keepdims=True)  # the scale s of the docstring
    safe = np.where(s == 0, 1, s)  # an all-zero slice has norm 0: avoid 0/0
    out = s * np.sqrt(np.sum((a / safe) ** 2, axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return float(out) if out.ndim == 0 else out
