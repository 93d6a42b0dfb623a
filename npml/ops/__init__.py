"""Math primitives used everywhere: norms, statistics, the softmax family, einsum.

The statistics (``variance``, ``std``, ``RunningStats``) load on first use, because their
module imports Numba; the rest of ``npml.ops`` stays a light import for every other layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from npml.ops.einsum import EinsumPath, einsum, einsum_path
from npml.ops.norms import l2_norm
from npml.ops.softmax import log_softmax, logsumexp, softmax

_LAZY = {"RunningStats": "npml.ops.stats", "std": "npml.ops.stats", "variance": "npml.ops.stats"}

__all__ = [
    "EinsumPath",
    "RunningStats",
    "einsum",
    "einsum_path",
    "l2_norm",
    "log_softmax",
    "logsumexp",
    "softmax",
    "std",
    "variance",
]


def __getattr__(name: str) -> Any:
    # PEP 562: `from npml.ops import RunningStats` imports npml.ops.stats (and Numba) now.
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'npml.ops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
