"""Benchmark harness: timing with warm-up and alternation, power-law fits, the report.

Used by ``benchmarks/report.py`` and the pytest-benchmark suite in ``benchmarks/``; kept in
the package so that every chapter measures the same way.
"""

from npml.bench.fit import CostModelFit, ExponentFit, fit_cost_model, fit_exponent
from npml.bench.report import MODES, Report, Row, load_average, peer
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
