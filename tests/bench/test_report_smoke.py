"""The report's tiniest mode runs end to end and writes the JSON fields it promises."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import npml.bench.chapters


def test_report_tiny_mode_writes_json(tiny_report):
    proc, data, _ = tiny_report
    assert "## Summary" in proc.stdout
    assert data["mode"] == "tiny"
    # the load average frames every ratio: above the core count, another process competed
    assert {"load_average_at_start", "load_average_at_end", "cpu_count"} <= set(data["machine"])
    assert "load average" in proc.stdout.splitlines()[0]
    assert data["rows"], "the report produced no rows"
    for row in data["rows"]:
        assert {"chapter", "case", "value", "unit", "peer", "ratio", "target", "met"} <= set(row)
    chapters = {row["chapter"] for row in data["rows"]}
    # every chapter module of npml.bench.chapters contributed rows
    expected = {"ops", "complexity", "attention", "optim", "gp", "linear", "preference", "train"}
    assert expected <= chapters


def test_pytest_benchmark_suite_collects_every_file():
    """``python -m pytest benchmarks --benchmark-only`` finds a case file per chapter."""
    pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is in the test extra")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    chapters = {
        m.name for m in pkgutil.iter_modules(npml.bench.chapters.__path__) if m.name[0] != "_"
    }
    assert chapters, "no chapter modules found"

    for chapter in chapters:
        assert f"test_bench_{chapter}.py::" in proc.stdout, chapter


def test_import_time_is_a_row_against_numpy(tiny_report):
    _, data, _ = tiny_report
    (row,) = [r for r in data["rows"] if r["case"].startswith("import npml")]
    assert row["chapter"] == "ops" and row["peer"] == "import numpy"
    assert row["value"] > 0 and row["ratio"] > 0 and row["target"] and row["met"] is not None
