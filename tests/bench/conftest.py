"""The report's tiniest mode, run once per test session and shared by the report tests."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory):
    """Run ``benchmarks/report.py --tiny``; return (completed process, parsed results.json)."""
    out = tmp_path_factory.mktemp("report")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "report.py"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads((out / "results.json").read_text()), out
