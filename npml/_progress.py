"""Progress of long work (training loops): step, loss, steps per second and time left.

A loop creates one :class:`Progress` for its ``total`` steps, calls
:meth:`Progress.update` after each step with the step's loss, and closes it at the end
(``with`` does that). Where the report goes depends on ``enabled``, the ``progress``
argument of the loop:

* ``None`` (the default): shown only when someone is watching: a Jupyter notebook, or a
  terminal on ``stream`` (standard error by default). Output captured by pytest, piped to
  a file or run under CI is not a terminal, so it stays silent there.
* ``True``: always shown on ``stream``, terminal or not.
* ``False``: never.

When shown, it is a `tqdm <https://tqdm.github.io>`_ bar if tqdm is installed
(``pip install "npml[progress]"``; ``tqdm.auto`` in a notebook), otherwise one plain line
rewritten in place with a carriage return::

    step 120/500  loss 2.314  41.3 steps/s  ETA 0:09

The rate is measured from the creation of the reporter, so the first step, which may compile
Numba kernels, counts in it; the time left is ``(total - step) / rate``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any

import numpy as np

_MIN_INTERVAL = 0.1  # seconds between two redraws of the plain line


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell), without importing
    IPython when it is not already loaded."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # a half-initialised IPython: treat as no notebook
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _load_tqdm(notebook: bool) -> Any:
    """tqdm's bar class (the notebook-aware one in a notebook), or None if not installed."""
    try:
        if notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def check_progress(progress: Any) -> bool | None:
    """Validate a loop's ``progress`` argument: None, True or False."""
    if progress is None:
        return None
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress={progress!r}; expected None (automatic), True or False")
    return bool(progress)


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour) of a non-negative number of seconds."""
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Report the progress of ``total`` steps on ``stream`` (see the module docstring).

    Parameters
    ----------
    total : int
        Number of steps the loop will run.
    enabled : bool or None, default None
        ``None`` shows it in a terminal or notebook only; ``True`` always; ``False`` never.
    desc : str, default ""
        A prefix, e.g. ``"train"``.
    unit : str, default "step"
        What one step is called (``"step"``, ``"epoch"``).
    stream : text stream, optional
        Where to write; default ``sys.stderr`` at the time of the call.
    use_tqdm : bool, default True
        Use a tqdm bar when tqdm is installed; False always draws the plain line.

    Attributes
    ----------
    mode : {"tqdm", "plain", "off"}
        How the progress is shown.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(3, enabled=True, stream=out, use_tqdm=False) as bar:
    ...     for loss in [2.0, 1.5, 1.25]:
    ...         bar.update(loss=loss)
    >>> out.getvalue().rstrip().rsplit("\\r", 1)[-1].split("  ")[:2]
    ['step 3/3', 'loss 1.250']
    """

    def __init__(
        self,
        total: int,
        enabled: bool | None = None,
        *,
        desc: str = "",
        unit: str = "step",
        stream: IO[str] | None = None,
        use_tqdm: bool = True,
    ) -> None:
        enabled = check_progress(enabled)
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self.loss: float | None = None
        self._start = time.perf_counter()
        self._last_draw = -float("inf")
        self._last_len = 0  # characters of the plain line on screen
        self._drawn_n = -1  # the step count the plain line last showed
        self._bar: Any = None
        notebook = _in_notebook()
        if enabled is False or (enabled is None and not (notebook or _is_terminal(self.stream))):
            self.mode = "off"
            return
        tqdm = _load_tqdm(notebook) if use_tqdm else None
        if tqdm is not None:
            self.mode = "tqdm"
            self._bar = tqdm(
                total=self.total, desc=desc or None, unit=unit, file=self.stream, leave=True
            )
        else:
            self.mode = "plain"
            self._draw(force=True)

    def update(self, n: int = 1, loss: float | None = None) -> None:
        """Count ``n`` more steps done, the last with training loss ``loss``."""
        self.n += n
        if loss is not None:
            self.loss = float(loss)
        if self.mode == "tqdm":
            if self.loss is not None:
                self._bar.set_postfix(loss=f"{self.loss:.4g}", refresh=False)
            self._bar.update(n)
        elif self.mode == "plain":
            self._draw(force=self.n >= self.total)

    def line(self) -> str:
        """The plain progress line: ``step n/total  loss L  R steps/s  ETA m:ss``."""
        elapsed = time.perf_counter() - self._start
        parts = [f"{self.desc}: " if self.desc else ""]
        parts[0] += f"{self.unit} {self.n}/{self.total}"
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.n > 0 and elapsed > 0:
            rate = self.n / elapsed
            parts.append(f"{rate:.3g} {self.unit}s/s")
            parts.append(f"ETA {format_duration(max(self.total - self.n, 0) / rate)}")
        return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < _MIN_INTERVAL:
            return
        self._last_draw = now
        self._drawn_n = self.n
        text = self.line()
        self.stream.write("\r" + text + " " * max(self._last_len - len(text), 0))
        self.stream.flush()
        self._last_len = len(text)

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Clear the bar or line while other output is printed (a loop's ``log`` lines),
        then draw it again below."""
        if self.mode == "plain":
            self.stream.write("\r" + " " * self._last_len + "\r")
            self.stream.flush()
        elif self.mode == "tqdm":
            self._bar.clear()
        try:
            yield
        finally:
            if self.mode == "plain":
                self._draw(force=True)
            elif self.mode == "tqdm":
                self._bar.refresh()

    def close(self) -> None:
        """Finish the report (the bar stays, the line ends with a newline)."""
        if self.mode == "tqdm":
            self._bar.close()
        elif self.mode == "plain":
            if self._drawn_n != self.n:  # the last step is not on screen yet
                self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        self.mode = "off"

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
