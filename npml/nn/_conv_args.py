"""Argument checks shared by the convolutions: ints or pairs, padding, sizes, groups.

Every check raises an error that names the argument, as the rest of npml does; the public
functions of :mod:`npml.nn.conv`, :mod:`npml.nn.conv1d` and :mod:`npml.nn.conv_transpose`
call these before any array work, so their kernels never see a user error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import check_array, check_scalar


def int_pair(value: Any, name: str, low: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each ``>= low``) as a pair of Python ints."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name}={value!r}; expected an int or a pair of ints")
    for v in items:
        check_scalar(v, name, kind=int, low=low)
    return int(items[0]), int(items[1])


def weight(W: Any, name: str, ndim: int) -> np.ndarray:
    """A convolution weight: a finite float array of ``ndim`` dimensions, none of them 0."""
    W = W if isinstance(W, np.ndarray) and W.dtype.kind == "f" else check_array(W, name)
    if W.ndim != ndim or 0 in W.shape:
        want = {3: "(C_out, C_in, K)", 4: "(C_out, C_in / groups, K_h, K_w)"}[ndim]
        raise ValueError(f"{name} has shape {W.shape}; expected {want}")
    return W


def bias(b: Any, n: int) -> np.ndarray | None:
    """``b`` as an array of shape ``(n,)``, or None."""
    if b is None:
        return None
    b = b if isinstance(b, np.ndarray) and b.dtype.kind == "f" else check_array(b, "b")
    if b.shape != (n,):
        raise ValueError(f"b has shape {b.shape}; expected ({n},)")
    return b


def groups_of(groups: Any, C_in: int, C_out: int) -> int:
    """``groups`` checked: a positive int dividing both channel counts."""
    check_scalar(groups, "groups", kind=int, low=1)
    if C_in % groups or C_out % groups:
        raise ValueError(
            f"groups={groups} does not divide the channels: C_in={C_in}, C_out={C_out}"
        )
    return int(groups)


def out_size(n: int, pad: tuple[int, int], k: int, stride: int, dilation: int, axis: str) -> int:
    """Output length of a convolution along one axis, or a ``ValueError`` naming ``W`` and ``x``.

    ``floor((n + pad_lo + pad_hi - dilation (k - 1) - 1) / stride) + 1``.
    """
    span = dilation * (k - 1) + 1  # the kernel's extent on the input
    padded = n + pad[0] + pad[1]
    if span > padded:
        raise ValueError(
            f"W's kernel spans {span} {axis} (dilation*(K-1)+1) but the padded input x has "
            f"{padded}; expected a kernel no larger than the padded input"
        )
    return (padded - span) // stride + 1
