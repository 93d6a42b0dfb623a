"""The fast path of the convolutions (placeholder: the reference runs everywhere for now)."""

from __future__ import annotations

from typing import Any


def use_kernel(cache: Any) -> bool:
    """Whether :func:`npml.nn.conv.conv2d_forward` runs the kernel path for this call."""
    return False
