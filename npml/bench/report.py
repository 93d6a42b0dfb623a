"""The benchmark report: tables that print as rows complete, the summary, JSON and plots.

The runner (:mod:`npml.bench.cli`) builds a :class:`Report` and hands it to each chapter
of :mod:`npml.bench.chapters`; a chapter calls :meth:`Report.row` once per measured case
(what a row holds and how its verdict is reached: :mod:`npml.bench.row`). Adding a chapter
never touches the runner.
"""

from __future__ import annotations

import importlib
import json
import numbers
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import numpy as np

from npml._checks import check_bool
from npml.bench.row import Row, format_value, jsonable, judge

MODES = ("tiny", "quick", "full")


def peer(module_name: str) -> ModuleType | None:
    """Import an optional peer library, or return ``None`` when it is not installed."""
    if not isinstance(module_name, str):
        raise TypeError(f"module_name={module_name!r}; expected a module name (a str)")
    if not module_name or module_name.startswith("."):
        raise ValueError(f"module_name={module_name!r}; expected an absolute module name")
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


def load_average() -> float | None:
    """The 1-minute load average, or ``None`` where the platform has none.

    Saved with the results: on a shared 2-core machine a load above 2 means another process
    was competing for the cores, and ratios measured then are not comparable.
    """
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class Report:
    """Collects rows, prints them as they complete and writes the results.

    Parameters
    ----------
    mode : {"tiny", "quick", "full"}
        How much to measure: ``tiny`` is a smoke test (seconds), ``quick`` the default
        (under ~2 minutes on 2 cores), ``full`` the complete sweeps.
    out_dir : str or Path
        Where ``results.json`` and plots go.
    plots : bool
        Write PNG plots when matplotlib is installed.
    stream : file
        Where tables are printed.
    """

    COLUMNS = ("case", "npml", "peer", "peer value", "ratio", "target", "verdict")

    def __init__(
        self,
        mode: str = "quick",
        out_dir: str | os.PathLike[str] = "benchmarks/results",
        plots: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; expected one of {MODES}")
        if not isinstance(out_dir, (str, os.PathLike)):
            kind = type(out_dir).__name__
            raise TypeError(f"out_dir={out_dir!r} of type {kind}; expected a path")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream={stream!r} has no write method; expected a text file")
        self.mode = mode
        self.out_dir = Path(out_dir)
        self.plots = check_bool(plots, "plots")
        self.stream = stream if stream is not None else sys.stdout
        self.rows: list[Row] = []
        self.plot_files: list[str] = []
        self.chapter_name = ""
        self.started = time.time()
        self.load_at_start = load_average()

    # -- sizes by mode ---------------------------------------------------------------------
    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        """Return the argument that matches the report's mode."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.mode]

    @property
    def repeats(self) -> int:
        """Timed repeats per case for this mode."""
        return self.pick(2, 5, 11)

    @property
    def pause(self) -> float:
        """Seconds of sleep between contenders' calls (``compare(..., pause=)``) in this mode.

        After a multi-threaded call, idle BLAS and OpenMP workers spin for a while and slow
        whatever runs next; 0.1 s lets them settle (0.2 s in full mode, to be sure; none in
        the tiny smoke test).
        """
        return self.pick(0.0, 0.1, 0.2)

    # -- output ----------------------------------------------------------------------------
    def _print(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def chapter(self, name: str, title: str) -> None:
        """Start a chapter's table."""
        self.chapter_name = name
        self._print()
        self._print(f"## {title}  [{name}]")
        self._print(" | ".join(self.COLUMNS))
        self._print(" | ".join("-" * len(c) for c in self.COLUMNS))

    def row(
        self,
        case: str,
        value: float | None,
        *,
        unit: str = "s",
        peer: str | None = None,
        peer_value: float | None = None,
        target: float | str | None = None,
        met: bool | None = None,
        note: str = "",
        **extra: Any,
    ) -> Row:
        """Record and print one case.

        Parameters
        ----------
        case : str
            What was measured (``"einsum bhqd,bhkd->bhqk (4,8,256,64)"``).
        value : float or None
            npml's measurement in ``unit`` (``"s"``, ``"B"``, ``""`` for counts, ...).
        peer, peer_value : str and float, optional
            The peer's name and its measurement from the same run; ``peer_value=None`` with
            a peer name prints "not installed".
        target : float or str, optional
            A float is a ceiling on ``value / peer_value`` (the verdict is computed); a string
            describes a target whose verdict the caller passes as ``met``.
        met : bool, optional
            The verdict for string targets.
        note : str
            Anything the reader needs (points used in a fit, why a target is missed, ...).
        extra : dict
            More fields for the JSON (GFLOP/s, fitted intervals, ...).
        """
        if not isinstance(case, str):
            raise TypeError(f"case={case!r} of type {type(case).__name__}; expected a str")
        for name, v in (("value", value), ("peer_value", peer_value), ("target", target)):
            real = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
            if v is not None and not real and not (name == "target" and isinstance(v, str)):
                expected = "a number, a str or None" if name == "target" else "a number or None"
                raise TypeError(f"{name}={v!r} of type {type(v).__name__}; expected {expected}")
        if met is not None:
            met = check_bool(met, "met")
        ratio, target_text, met = judge(value, peer, peer_value, target, met)
        r = Row(
            chapter=self.chapter_name,
            case=case,
            value=value,
            unit=unit,
            peer=peer,
            peer_value=peer_value,
            ratio=ratio,
            target=target_text,
            met=met,
            note=note,
            extra={k: jsonable(v) for k, v in extra.items()},
        )
        self.rows.append(r)
        peer_text = "-" if peer is None else peer
        peer_val = (
            "not installed"
            if peer is not None and peer_value is None
            else format_value(peer_value, unit)
        )
        verdict = "-" if met is None else ("met" if met else "MISSED")
        cells = [
            case,
            format_value(value, unit),
            peer_text,
            peer_val,
            "-" if ratio is None else f"{ratio:.2f}x",
            target_text or "-",
            verdict,
        ]
        self._print(" | ".join(cells) + (f"  ({note})" if note else ""))
        return r

    def plot(self, name: str, draw: Callable[[Any], None]) -> str | None:
        """Save a figure drawn by ``draw(ax)`` as ``<out_dir>/<name>.png``.

        Returns the file path, or ``None`` when plots are off or matplotlib is missing.
        """
        if not self.plots:
            return None
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4))
        try:
            draw(ax)
            fig.tight_layout()
            path = self.out_dir / f"{name}.png"
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)
        self.plot_files.append(str(path))
        return str(path)

    def summary(self) -> tuple[int, int]:
        """Print the targets met and missed; return ``(met, missed)``."""
        judged = [r for r in self.rows if r.met is not None]
        missed = [r for r in judged if not r.met]
        self._print()
        self._print(f"## Summary: {len(judged) - len(missed)} of {len(judged)} targets met")
        for r in missed:
            ratio = "" if r.ratio is None else f" (measured {r.ratio:.2f}x)"
            self._print(f"  MISSED [{r.chapter}] {r.case}: target {r.target}{ratio}")
        return len(judged) - len(missed), len(missed)

    def save(self) -> Path:
        """Write ``results.json`` atomically and return its path."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "mode": self.mode,
            "seconds": time.time() - self.started,
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "load_average_at_start": self.load_at_start,
                "load_average_at_end": load_average(),
            },
            "plots": self.plot_files,
            "rows": [jsonable(asdict(r)) for r in self.rows],
        }
        path = self.out_dir / "results.json"
        fd, tmp = tempfile.mkstemp(dir=self.out_dir, prefix=".results.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(payload, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:  # never leave a half-written temporary file behind
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path
