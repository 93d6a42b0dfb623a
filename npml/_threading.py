"""Calling Numba ``parallel=True`` kernels safely from several Python threads.

Numba runs ``prange`` loops on one of three *threading layers*, chosen when the first
parallel kernel runs (``numba.threading_layer()`` names it afterwards): by default TBB if
it is installed, else OpenMP, else its own ``workqueue``. TBB and OpenMP accept parallel
regions launched from several Python threads at once; ``workqueue`` does not: a second
concurrent launch aborts the whole process ("the workqueue threading layer is not
threadsafe"). That is the layer a machine without TBB or an OpenMP runtime falls back to,
and the one ``NUMBA_THREADING_LAYER=workqueue`` forces (see Numba's "threading layer"
documentation for the layers' thread- and fork-safety).

npml changes no Numba setting (Numba's default order already prefers the thread-safe
layers). Instead every call of an npml parallel kernel goes through
:func:`parallel_region`, which serialises the calls with one process-wide lock when the
layer is not known to be thread-safe (``workqueue``, or not yet chosen: the first call),
and costs one flag test otherwise::

    from npml._threading import parallel_region

    with parallel_region():
        out = _my_parallel_kernel(x)

(:func:`serialised` is the same as a decorator for a Python function that calls a
parallel kernel.) Under ``workqueue`` parallel kernels then run one at a time, each still
on all cores; under TBB and OpenMP nothing changes. ``NUMBA_DISABLE_JIT=1`` runs kernels
as plain Python, which needs no lock.

GNU OpenMP (Numba's ``omp`` layer on Linux) is thread-safe but not fork-safe: a process
that forks after a parallel kernel ran should start its children with ``spawn`` (or set
``NUMBA_THREADING_LAYER=tbb`` / ``forksafe``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

THREADSAFE_LAYERS = frozenset({"tbb", "omp"})

# Re-entrant, so a guarded function may call another one.
_LOCK = threading.RLock()
_known_safe = False  # set once a thread-safe layer is seen: no lock from then on


def threading_layer() -> str | None:
    """The Numba threading layer in use, or ``None`` before any parallel kernel has run."""
    try:
        return numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized"
        return None


def needs_lock() -> bool:
    """Whether calls of parallel kernels must be serialised (see the module docstring)."""
    global _known_safe
    if _known_safe or numba.config.DISABLE_JIT:
        return False
    if threading_layer() in THREADSAFE_LAYERS:
        _known_safe = True
        return False
    return True


@contextlib.contextmanager
def parallel_region() -> Iterator[None]:
    """Context manager around one call of a ``parallel=True`` kernel (see module docstring)."""
    if needs_lock():
        with _LOCK:
            yield
    else:
        yield


def serialised(fn: F) -> F:
    """Decorator: run ``fn`` (a Python function that calls a parallel kernel) inside
    :func:`parallel_region`. Not for ``@njit`` functions themselves."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with parallel_region():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
