"""The benchmark report's runner: ``python -m npml.bench``, ``npml-bench`` or
``python benchmarks/report.py`` (the same program).

    python -m npml.bench               # quick (default, under 2 minutes on 2 cores)
    python -m npml.bench --full        # the complete sweeps
    python -m npml.bench --only ops    # one chapter (repeatable)
    python -m npml.bench --list        # the chapters, in the order they run

It finds the chapters of :mod:`npml.bench.chapters`, gives every library the same number
of threads, prints one table per chapter as rows complete and a summary of targets met and
missed, and writes ``results.json`` (and PNG plots when matplotlib is installed) under
``--out``. Ratios are npml's time over a peer's measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence
from types import ModuleType

from npml.bench.report import Report

CHAPTERS = "npml.bench.chapters"
DEFAULT_OUT = os.path.join("benchmarks", "results")

# Idle OpenMP workers (Numba's and torch's) spin for a while after each parallel region and
# slow whatever runs next, BLAS included: measured here, npml's MultiHeadAttention went from
# 1.4-1.9x torch to 0.8x with passive waiting, while torch's own times did not change. Both
# libraries run under the same setting, which the header prints; set it yourself to override.
OMP_WAIT_POLICY = "passive"


def discover(package: str = CHAPTERS) -> list[ModuleType]:
    """Import every chapter module of ``package``, ordered by ``(ORDER, NAME)``.

    Modules whose name starts with an underscore are a chapter's private parts, not
    chapters.
    """
    pkg = importlib.import_module(package)
    chapters = [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules(pkg.__path__)
        if not info.name.startswith("_")
    ]
    return sorted(chapters, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def set_threads() -> int:
    """Give every library the same number of threads (one per core); return that number."""
    n = os.cpu_count() or 1
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return n


def build_parser(default_out: str | os.PathLike[str] = DEFAULT_OUT) -> argparse.ArgumentParser:
    """The command line of the report (``--help`` describes every flag)."""
    parser = argparse.ArgumentParser(
        prog="npml-bench",
        description="The npml benchmark report: npml against PyTorch, scikit-learn and "
        "NumPy, measured in the same run, one table per chapter.",
        epilog=f"OMP_WAIT_POLICY defaults to {OMP_WAIT_POLICY!r} (idle OpenMP workers must "
        "not spin between contenders); set it in the environment to override. The load "
        "average is recorded during the run; when it rises above the core count, the "
        "summary warns that the ratios were measured under competition.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_const",
        dest="mode",
        const="quick",
        help="the default: every chapter at sizes that run in about 2 minutes on 2 cores",
    )
    size.add_argument(
        "--full",
        action="store_const",
        dest="mode",
        const="full",
        help="the complete sweeps and more repeats (tens of minutes)",
    )
    size.add_argument(
        "--tiny",
        action="store_const",
        dest="mode",
        const="tiny",
        help="smoke test: every chapter at toy sizes, size-dependent targets not judged "
        "(used by the test suite)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="CHAPTER",
        help="run only this chapter (repeatable; --list names them)",
    )
    parser.add_argument(
        "--out",
        default=str(default_out),
        metavar="DIR",
        help="directory for results.json and the plots (default: %(default)s)",
    )
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument(
        "--list", action="store_true", help="list the chapters in the order they run, and exit"
    )
    return parser


def main(
    argv: Sequence[str] | None = None, *, default_out: str | os.PathLike[str] = DEFAULT_OUT
) -> int:
    """Run the report; return the exit status (1 when a chapter raised).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).
    default_out : str or path, default ``"benchmarks/results"``
        The results directory when ``--out`` is not given (``benchmarks/report.py`` passes
        its own ``results/`` folder, so a clone writes there from any working directory).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)  # before torch or Numba load
    parser = build_parser(default_out)
    args = parser.parse_args(argv)

    chapters = discover()
    if args.list:
        for ch in chapters:
            print(f"{ch.NAME:12s} {ch.TITLE}")
        return 0
    if args.only:
        known = {ch.NAME for ch in chapters}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown chapter(s) {unknown}; choose from {sorted(known)}")
        chapters = [ch for ch in chapters if ch.NAME in args.only]

    report = Report(mode=args.mode or "quick", out_dir=args.out, plots=not args.no_plots)
    threads = set_threads()
    load = report.load_at_start
    print(
        f"# npml benchmark report ({report.mode} mode, {threads} threads per library, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average "
        f"{'unknown' if load is None else f'{load:.2f}'} on {os.cpu_count()} cores)"
    )
    print("# ratios are npml time / peer time measured in the same run (below 1 = npml faster)")
    failed = []
    for ch in chapters:
        t0 = time.time()
        report.chapter(ch.NAME, ch.TITLE)
        try:
            ch.run(report)
        except Exception:  # a broken chapter must not hide the others' results
            traceback.print_exc()
            failed.append(ch.NAME)
        print(f"({ch.NAME}: {time.time() - t0:.1f} s)", flush=True)
    report.summary()
    path = report.save()
    print(f"\nresults: {path}")
    for plot in report.plot_files:
        print(f"plot: {plot}")
    if failed:
        print(f"chapters that raised: {failed}", file=sys.stderr)
        return 1
    return 0
