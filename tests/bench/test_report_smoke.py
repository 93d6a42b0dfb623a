"""The report's tiniest mode runs end to end and writes the JSON fields it promises."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_report_tiny_mode_writes_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "report.py"), "--tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "## Summary" in proc.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["mode"] == "tiny"
    assert data["rows"], "the report produced no rows"
    for row in data["rows"]:
        assert {"chapter", "case", "value", "unit", "peer", "ratio", "target", "met"} <= set(row)
    chapters = {row["chapter"] for row in data["rows"]}
    assert chapters, chapters
