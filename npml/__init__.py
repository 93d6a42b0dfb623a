"""npml: modern machine learning from scratch in NumPy.

Every concept of the study notes is plain NumPy next to its equation, with forward and
backward passes written by hand, Numba kernels for the hot loops, and tests that check
each gradient against finite differences and each result against an independent reference.

Subpackages are imported on first use (``npml.nn``, ``npml.ops``, ...), so ``import npml``
stays fast and compiles no Numba kernel.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "analysis",
    "bench",
    "exceptions",
    "gp",
    "kernels",
    "linear",
    "models",
    "nn",
    "ops",
    "optim",
    "preference",
    "rl",
    "testing",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    # PEP 562: `npml.nn` imports npml/nn on first access instead of at `import npml`.
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"npml.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'npml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
