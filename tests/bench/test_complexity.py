"""The complexity chapter of the report: counts come from the modules, fits are recorded."""

import importlib

import pytest


def _chapter():
    return importlib.import_module("npml.bench.chapters.complexity")


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
    model = [r for r in rows if r["case"].startswith("encoder layer: cost model")]
    assert len(model) == 1 and set(model[0]["extra"]) >= {"a", "b", "c"}
    assert sum("memory exponent" in c for c in cases) == 2
    fits = [r for r in rows if ": exponent in" in r["case"]]
    assert all(len(r["extra"]["ci"]) == 2 and r["extra"]["points"] for r in fits)
    params = [r for r in rows if r["case"].startswith("params ")]
    assert params and all(r["met"] for r in params)
    if any("complexity_" in p for p in data["plots"]):
        assert list(out.glob("complexity_*.png"))


def test_sweep_ladder_steps_by_root_two():
    ladder = _chapter()._ladder
    assert ladder(256, 4096) == [256, 362, 512, 724, 1024, 1448, 2048, 2896, 4096]
    assert ladder(64, 1472, 64) == [64, 128, 192, 256, 384, 512, 704, 1024, 1472]
