"""The report's runner: chapters are found by import, with no optional peer installed."""

import subprocess
import sys

import pytest

from npml.bench.cli import build_parser, discover, main

# Blocks the optional peers (an entry of None in sys.modules makes `import x` raise
# ImportError), then imports every chapter the way the runner does.
WITHOUT_PEERS = """
import sys
for name in ("torch", "sklearn", "matplotlib", "choix", "opt_einsum", "threadpoolctl"):
    sys.modules[name] = None
from npml.bench.cli import discover
print(" ".join(ch.NAME for ch in discover()))
"""


def test_discover_orders_chapters_and_skips_private_modules():
    chapters = discover()
    names = [ch.NAME for ch in chapters]
    assert {"ops", "complexity", "attention", "optim", "gp", "linear", "preference"} <= set(names)
    assert [ch.ORDER for ch in chapters] == sorted(ch.ORDER for ch in chapters)
    assert all(not ch.__name__.rsplit(".", 1)[1].startswith("_") for ch in chapters)
    assert all(callable(ch.run) and ch.TITLE for ch in chapters)


def test_chapters_import_without_optional_peers():
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_PEERS], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "complexity" in out.stdout.split()


def test_list_and_unknown_chapter(capsys, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # main() sets it when it is unset
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert "complexity" in listed and "ops" in listed
    with pytest.raises(SystemExit):
        main(["--only", "no_such_chapter"])
    assert "no_such_chapter" in capsys.readouterr().err


def test_every_flag_has_help():
    parser = build_parser()
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {f for a in flags for f in a.option_strings} >= {
        "--quick", "--full", "--tiny", "--only", "--out", "--no-plots", "--list"
    }  # fmt: skip
    assert all(a.help for a in flags)


def test_python_dash_m_lists_chapters():
    out = subprocess.run(
        [sys.executable, "-m", "npml.bench", "--list"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == "ops"
