"""The complexity chapter of the report: counts come from the modules, fits are recorded."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _chapter():
    path = ROOT / "benchmarks" / "chapters" / "complexity.py"
    spec = importlib.util.spec_from_file_location("npml_bench_complexity_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("D", [8, 64, 96])
def test_parameter_counts_come_from_the_modules(D):
    counts = _chapter().count_parameters(D, n_heads=2)
    assert counts["mha"] == 4 * D * D
    assert counts["mha_bias"] == 4 * D * D + 4 * D
    assert counts["ffn"] == 8 * D * D + 5 * D
    assert counts["ffn_nobias"] == 8 * D * D


def test_changing_d_ff_changes_the_counted_parameters():
    D, d_ff = 16, 24
    counts = _chapter().count_parameters(D, d_ff=d_ff)
    assert counts["ffn"] == 2 * D * d_ff + d_ff + D
    assert counts["ffn"] != 8 * D * D + 5 * D


def test_tiny_complexity_report_records_fits(tiny_report):
    _, data, out = tiny_report
    rows = [r for r in data["rows"] if r["chapter"] == "complexity"]
    cases = [r["case"] for r in rows]
    for op in ("attention (plain)", "attention (fused)", "FFN", "encoder layer"):
        for var in ("T", "D"):
            assert any(c.startswith(f"{op}: exponent in {var}") for c in cases), (op, var)
    assert any("two-term model" in c for c in cases)
    assert sum("memory exponent" in c for c in cases) == 2
    fits = [r for r in rows if ": exponent in" in r["case"]]
    assert all(len(r["extra"]["ci"]) == 2 and r["extra"]["points"] for r in fits)
    params = [r for r in rows if r["case"].startswith("params ")]
    assert params and all(r["met"] for r in params)
    if any("complexity_" in p for p in data["plots"]):
        assert list(out.glob("complexity_*.png"))
