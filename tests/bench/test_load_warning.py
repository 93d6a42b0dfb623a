"""The summary warns when other processes competed for the cores during a run."""

import json
import subprocess
import sys

import pytest

import npml.bench.report as report_module
from npml.bench import Report


def _run(tmp_path, monkeypatch, loads):
    """A two-row report whose load-average readings come from ``loads``, on 2 cores."""
    readings = iter(loads)
    last = [loads[-1]]

    def fake_load():
        last[0] = next(readings, last[0])
        return last[0]

    monkeypatch.setattr(report_module, "load_average", fake_load)
    monkeypatch.setattr(report_module.os, "cpu_count", lambda: 2)
    r = Report(mode="tiny", out_dir=tmp_path, plots=False)
    r.chapter("demo", "Demo")
    r.row("a", 1.0, peer="peer", peer_value=2.0, target=1.2)
    r.row("b", 3.0, peer="peer", peer_value=2.0, target=1.2)
    return r


@pytest.mark.parametrize(
    "loads",
    [
        [0.5, 0.7, 3.4, 0.8, 0.6],  # a burst in the middle of the run
        [4.0, 1.0, 1.0, 1.0, 1.0],  # busy at the start only
        [0.5, 0.5, 0.5, 0.5, 2.5],  # busy by the summary
    ],
)
def test_summary_warns_when_load_exceeds_cores(tmp_path, monkeypatch, capsys, loads):
    r = _run(tmp_path, monkeypatch, loads)
    assert r.summary() == (1, 1)  # the verdicts themselves are unchanged
    out = capsys.readouterr().out
    summary = out[out.index("## Summary") :]
    assert "WARNING" in summary and "under competition" in summary
    assert f"{max(loads):.2f} on 2 cores" in summary
    machine = json.loads(r.save().read_text())["machine"]
    assert machine["contended"] is True and machine["load_average_max"] == max(loads)


@pytest.mark.parametrize("loads", [[0.5, 1.9, 2.0, 1.0, 0.3], [None]])
def test_no_warning_on_a_quiet_or_unknown_load(tmp_path, monkeypatch, capsys, loads):
    r = _run(tmp_path, monkeypatch, loads)  # a load equal to the core count is not above it
    r.summary()
    assert "WARNING" not in capsys.readouterr().out
    machine = json.loads(r.save().read_text())["machine"]
    assert machine["contended"] is False


def test_help_describes_every_flag_and_the_warning():
    out = subprocess.run(
        [sys.executable, "-m", "npml.bench", "--help"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    for flag in ("--quick", "--full", "--tiny", "--only", "--out", "--no-plots", "--list"):
        assert flag in text
    assert "under competition" in text
