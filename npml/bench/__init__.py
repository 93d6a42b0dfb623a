"""Benchmark harness: timing with warm-up and alternation, power-law fits, the report.

The report's chapters are the modules of :mod:`npml.bench.chapters`; its runner is
:mod:`npml.bench.cli` (``python -m npml.bench``, ``npml-bench`` or
``python benchmarks/report.py``). The pytest-benchmark suite in ``benchmarks/`` times the
chapters' cases with the same helpers, so every measurement is taken the same way.
Importing this package loads neither Numba nor a chapter.
"""

from npml.bench.fit import CostModelFit, ExponentFit, fit_cost_model, fit_exponent
from npml.bench.report import MODES, Report, load_average, peer
from npml.bench.row import Row
from npml.bench.timing import Timing, compare, matmul_peak_gflops, measure, peak_memory

__all__ = [
    "MODES",
    "CostModelFit",
    "ExponentFit",
    "Report",
    "Row",
    "Timing",
    "compare",
    "fit_cost_model",
    "fit_exponent",
    "load_average",
    "matmul_peak_gflops",
    "measure",
    "peak_memory",
    "peer",
]
