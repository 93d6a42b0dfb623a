"""The complexity chapter of the report: counts come from the modules, fits are recorded."""

import numpy as np
import pytest

from npml.bench.chapters import _complexity_fits, _complexity_sweeps
from npml.bench.chapters.complexity import count_parameters


@pytest.mark.parametrize("D", [8, 64, 96])
def test_parameter_counts_come_from_the_modules(D):
    counts = count_parameters(D, n_heads=2)
    assert counts["mha"] == 4 * D * D
    assert counts["mha_bias"] == 4 * D * D + 4 * D
    assert counts["ffn"] == 8 * D * D + 5 * D
    assert counts["ffn_nobias"] == 8 * D * D


def test_changing_d_ff_changes_the_counted_parameters():
    D, d_ff = 16, 24
    counts = count_parameters(D, d_ff=d_ff)
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
    ladder = _complexity_sweeps.ladder
    assert ladder(256, 4096) == [256, 362, 512, 724, 1024, 1448, 2048, 2896, 4096]
    assert ladder(64, 1472, 64) == [64, 128, 192, 256, 384, 512, 704, 1024, 1472]


def _encoder_times(sweep, a=2e-11, b_attn=1e-10, b_ffn=2e-10, c=3e-9):
    """Synthetic best times of the encoder's parts and of the layer (their sum) on a sweep."""
    T, D = np.asarray([sweep.shape(n) for n in sweep.sizes], dtype=float).T
    parts = {
        "part: self-attention": a * T * T * D + b_attn * T * D * D,
        "part: FFN": b_ffn * T * D * D,
        "part: norms and residuals": c * T * D,
    }
    best = {name: list(t) for name, t in parts.items()}
    best["encoder layer"] = list(sum(parts.values()))
    return best


def test_encoder_slope_is_predicted_from_the_other_sweep_only(tmp_path):
    import io

    from npml.bench import Report, fit_exponent

    ladder = _complexity_sweeps.ladder
    sweep_T = _complexity_sweeps.Sweep("encoder layer", "T", 128, ladder(128, 2896), 724)
    sweep_D = _complexity_sweeps.Sweep("encoder layer", "D", 256, ladder(64, 1472, 64), 384)
    best_T, best_D = _encoder_times(sweep_T), _encoder_times(sweep_D)

    expected, note = _complexity_fits.parts_slope(sweep_T, sweep_D, best_D)
    truth = fit_exponent(sweep_T.fitted, best_T["encoder layer"][-len(sweep_T.fitted) :])
    assert expected == pytest.approx(truth.slope, abs=1e-6)  # exact parts: exact prediction
    assert "D sweep" in note
    expected_D, _ = _complexity_fits.parts_slope(sweep_D, sweep_T, best_T)
    truth_D = fit_exponent(sweep_D.fitted, best_D["encoder layer"][-len(sweep_D.fitted) :])
    assert expected_D == pytest.approx(truth_D.slope, abs=1e-6)

    # The expectation never reads the judged timings (a layer growing as T^3 misses it), and
    # a machine slower throughout the other sweep leaves it unchanged.
    cubic = dict(best_T, **{"encoder layer": [1e-12 * n**3 for n in sweep_T.sizes]})
    slower = {name: [3.0 * t for t in times] for name, times in best_D.items()}
    assert _complexity_fits.parts_slope(sweep_T, sweep_D, slower)[0] == pytest.approx(expected)
    report = Report(mode="quick", out_dir=tmp_path, plots=False, stream=io.StringIO())
    report.chapter("complexity", "test")
    _complexity_fits.fit_rows(report, sweep_T, cubic, expected, "basis")
    (row,) = [r for r in report.rows if r.case.startswith("encoder layer: exponent in T")]
    assert row.value == pytest.approx(3.0) and row.met is False
    report.rows.clear()
    _complexity_fits.fit_rows(report, sweep_T, best_T, expected, "basis")
    assert report.rows[0].met is True


def test_encoder_slope_needs_every_part():
    sweep = _complexity_sweeps.Sweep("encoder layer", "T", 64, [32, 64, 128], 32)
    other = _complexity_sweeps.Sweep("encoder layer", "D", 64, [64, 128], 64)
    best_other = _encoder_times(other)
    del best_other["part: FFN"]
    assert _complexity_fits.parts_slope(sweep, other, best_other) == (None, "")
    # tiny sizes: two points per part are enough to predict a slope
    expected, _ = _complexity_fits.parts_slope(sweep, other, _encoder_times(other))
    assert 1.0 <= expected <= 2.0
