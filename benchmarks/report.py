"""The npml benchmark report: the project's main job.

    python benchmarks/report.py            # quick (default, under 2 minutes on 2 cores)
    python benchmarks/report.py --full     # the complete sweeps
    python benchmarks/report.py --only ops # one chapter

Each chapter is a module in ``benchmarks/chapters/`` that defines ``NAME``, ``TITLE``,
``ORDER`` and ``run(report)``; this runner finds them, prints one table per chapter as rows
complete, a summary of targets met and missed, and writes ``results.json`` (and PNG plots
when matplotlib is installed) under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a clone without installing

# Idle OpenMP workers (Numba's and torch's) spin for a while after each parallel region and
# slow whatever runs next, BLAS included: measured here, npml's MultiHeadAttention went from
# 1.4-1.9x torch to 0.8x with passive waiting, while torch's own times did not change. Both
# libraries run under the same setting, which the header prints; set it yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from npml.bench import Report  # noqa: E402


def discover() -> list[ModuleType]:
    """Import every chapter module in ``benchmarks/chapters``, ordered by ``ORDER``."""
    chapters = []
    for path in sorted((HERE / "chapters").glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"npml_bench_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as an import would (dataclasses look it up)
        spec.loader.exec_module(module)
        chapters.append(module)
    return sorted(chapters, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def set_threads() -> int:
    """Give every library the same number of threads (one per core)."""
    n = os.cpu_count() or 1
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const="quick")
    size.add_argument("--full", action="store_const", dest="mode", const="full")
    size.add_argument(
        "--tiny",
        action="store_const",
        dest="mode",
        const="tiny",
        help="smoke test: every chapter at toy sizes (used by the test suite)",
    )
    parser.add_argument(
        "--only", action="append", metavar="CHAPTER", help="run only this chapter (repeatable)"
    )
    parser.add_argument("--out", default=str(HERE / "results"), help="results directory")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument("--list", action="store_true", help="list the chapters and exit")
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


if __name__ == "__main__":
    raise SystemExit(main())
