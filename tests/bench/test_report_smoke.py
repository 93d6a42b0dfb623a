"""The report's tiniest mode runs end to end and writes the JSON fields it promises."""


def test_report_tiny_mode_writes_json(tiny_report):
    proc, data, _ = tiny_report
    assert "## Summary" in proc.stdout
    assert data["mode"] == "tiny"
    assert data["rows"], "the report produced no rows"
    for row in data["rows"]:
        assert {"chapter", "case", "value", "unit", "peer", "ratio", "target", "met"} <= set(row)
    chapters = {row["chapter"] for row in data["rows"]}
    # every chapter module under benchmarks/chapters contributed rows
    assert {"ops", "complexity", "attention", "optim", "gp", "linear", "preference"} <= chapters
