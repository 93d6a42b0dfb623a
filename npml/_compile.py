"""The one-time notice that npml's Numba kernels are being compiled, and where they are cached.

npml's hot loops are Numba functions (``@njit(cache=True)``). The first call of each one in
a fresh environment compiles it for this machine, which takes a few seconds per kernel (a
training run's first step can take 10-20 s); Numba then writes the machine code to an
on-disk cache and later processes load it in milliseconds. So that this pause is not a
mystery, the first compilation of an npml kernel in a process says once::

    npml: compiling kernels for this machine (first use only; cached in ...)

through ``logging.getLogger("npml")`` (level INFO) always, and on standard error too when
a person is watching (a terminal or a Jupyter notebook). A kernel loaded from the cache is
not compiled and says nothing.

Where the cache is
------------------
Numba keeps the cache of a function defined in ``npml/nn/_activation_kernels.py`` in
``npml/nn/__pycache__/`` (files ``*.nbi``, the index, and ``*.nbc``, the code), beside the
source, when that folder is writable; otherwise (a read-only install) in a per-user folder
(``~/.cache/numba`` on Linux, from ``numba.misc.appdirs``). The environment variable
``NUMBA_CACHE_DIR`` moves all of it to one folder of your choice. Deleting the cache is
safe: the next call compiles again. A cache entry is keyed by the function's source file
(and its modification time), the argument types and the CPU, so an upgrade of npml or a new
machine compiles afresh.

How it is detected
------------------
Numba broadcasts a ``"numba:compile"`` event (``numba.core.event``) around every real
compilation, and not when a dispatcher loads a function from its cache; :class:`CompileNotice`
listens for it and speaks at the first one whose function lives in an ``npml`` module.
:func:`install` registers it. It runs, with Numba already imported, through the
``numba_extensions`` entry point declared in ``setup.cfg`` (Numba calls those before its
first compilation), so ``import npml`` still imports no Numba; calling it again is harmless.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any

from npml._progress import _in_notebook, _is_terminal

logger = logging.getLogger("npml")

MESSAGE = "npml: compiling kernels for this machine (first use only; cached in {where})"


def cache_location(dispatcher: Any = None) -> str:
    """Where Numba caches npml's compiled kernels, as a phrase for the notice.

    Parameters
    ----------
    dispatcher : numba Dispatcher, optional
        The kernel being compiled; its own cache folder is named when it is not inside
        npml's package folder.

    Returns
    -------
    str
        ``NUMBA_CACHE_DIR`` when it is set; otherwise ``"the __pycache__ folders under
        <npml folder>"``, or the dispatcher's own cache folder (a per-user folder when the
        package folder is read-only), or ``"nowhere: this kernel is not cached"``.
    """
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    package = os.path.dirname(os.path.abspath(__file__))
    path = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    if dispatcher is not None and path is None:
        return "nowhere: this kernel is not cached"
    if path is None or os.path.abspath(path).startswith(package + os.sep):
        return f"the __pycache__ folders under {package}"
    return str(path)


def _interactive() -> bool:
    """Whether a person is probably watching standard error (a terminal or a notebook)."""
    return _in_notebook() or _is_terminal(sys.stderr)


@functools.cache
def _make_listener_class() -> type:
    from numba.core import event  # Numba is loaded by now: install() runs inside it

    class CompileNotice(event.Listener):
        """Announce, once, the first compilation of a function from ``prefixes``' modules.

        Parameters
        ----------
        prefixes : tuple of str, default ("npml",)
            Top-level module names whose functions count (``"npml"`` matches ``npml`` and
            ``npml.nn._activation_kernels``, not ``npml_extra``).

        Attributes
        ----------
        announced : str or None
            The message once it has been given.
        """

        def __init__(self, prefixes: tuple[str, ...] = ("npml",)) -> None:
            self.prefixes = tuple(prefixes)
            self.announced: str | None = None

        def _watched(self, dispatcher: Any) -> bool:
            module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
            return any(module == p or module.startswith(p + ".") for p in self.prefixes)

        def on_start(self, ev: Any) -> None:
            if self.announced is not None:
                return
            dispatcher = (ev.data or {}).get("dispatcher")
            if not self._watched(dispatcher):
                return
            self.announced = MESSAGE.format(where=cache_location(dispatcher))
            logger.info(self.announced)
            if _interactive():
                print(self.announced, file=sys.stderr, flush=True)

        def on_end(self, ev: Any) -> None:
            pass

        def register(self) -> None:
            """Start listening (``numba.core.event.register``)."""
            event.register("numba:compile", self)

        def unregister(self) -> None:
            """Stop listening."""
            event.unregister("numba:compile", self)

    return CompileNotice


_notice: Any = None


def compile_notice_class() -> type:
    """The :class:`CompileNotice` listener class (importing Numba; for tests and tools)."""
    return _make_listener_class()


def install() -> None:
    """Register the process-wide notice for npml's kernels (once; later calls do nothing).

    Called by Numba through the ``numba_extensions`` entry point before its first
    compilation; importing Numba first is therefore free here.
    """
    global _notice
    if _notice is None:
        _notice = compile_notice_class()()
        _notice.register()
