"""The first real compilation of an npml kernel says so once; a cache hit says nothing."""

import configparser
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest

import npml._compile as compile_notice
from npml._compile import MESSAGE, cache_location, compile_notice_class

KERNELS = """
from numba import njit


@njit(cache=True)
def double(x):
    return 2.0 * x


@njit(cache=True)
def triple(x):
    return 3.0 * x
"""

SCRIPT = """
import logging
logging.basicConfig(level=logging.INFO, format="LOG %(name)s: %(message)s")
from npml._compile import compile_notice_class
compile_notice_class()(prefixes=("tinykernels",)).register()
import tinykernels
print(tinykernels.double(1.5), tinykernels.triple(1.0), tinykernels.double(2.0))
"""


def _run(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(npml_root()))])
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["3.0", "3.0", "4.0"]
    return [line for line in out.stderr.splitlines() if line.startswith("LOG npml")]


def npml_root():
    return Path(compile_notice.__file__).parents[1]


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles")
def test_notice_once_on_compilation_and_silence_on_a_cache_hit(tmp_path):
    (tmp_path / "tinykernels.py").write_text(KERNELS)
    expected = "LOG npml: " + MESSAGE.format(where=tmp_path / "cache")
    assert _run(tmp_path) == [expected]  # two kernels compiled, one notice
    assert _run(tmp_path) == []  # both loaded from the on-disk cache


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles")
def test_notice_goes_to_the_log_always_and_to_stderr_when_watched(caplog, capsys, monkeypatch):
    notice = compile_notice_class()(prefixes=(__name__,))
    monkeypatch.setattr(compile_notice, "_interactive", lambda: True)
    notice.register()
    try:
        with caplog.at_level(logging.INFO, logger="npml"):

            @numba.njit
            def fresh(x):
                return x + 1

            @numba.njit
            def other(x):
                return x - 1

            assert fresh(1) == 2 and other(1) == 0 and fresh(2.5) == 3.5
    finally:
        notice.unregister()
    messages = [r.getMessage() for r in caplog.records if r.name == "npml"]
    assert messages == [notice.announced]
    assert notice.announced.startswith("npml: compiling kernels for this machine (first use")
    assert capsys.readouterr().err == notice.announced + "\n"


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles")
def test_other_modules_functions_and_non_interactive_runs_stay_quiet(capsys, monkeypatch):
    notice = compile_notice_class()(prefixes=("npml",))  # this test module is not npml
    notice.register()
    try:

        @numba.njit
        def users_own(x):
            return x * 2

        assert users_own(3) == 6
    finally:
        notice.unregister()
    assert notice.announced is None
    watched = compile_notice_class()(prefixes=(__name__,))
    watched.register()
    try:

        @numba.njit
        def quiet(x):
            return x * 3

        assert quiet(3) == 9
    finally:
        watched.unregister()
    assert watched.announced is not None  # logged, but stderr is captured: not a terminal
    assert capsys.readouterr().err == ""


def test_install_registers_one_listener():
    from numba.core import event

    compile_notice.install()
    compile_notice.install()
    listeners = [x for x in event._registered["numba:compile"] if x is compile_notice._notice]
    assert len(listeners) == 1 and compile_notice._notice.prefixes == ("npml",)


def test_cache_location(monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/cache")
    assert cache_location() == "/somewhere/cache"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    package = str(Path(compile_notice.__file__).parent)
    assert cache_location() == f"the __pycache__ folders under {package}"


def test_numba_calls_install_through_its_entry_point():
    setup_cfg = npml_root() / "setup.cfg"
    if not setup_cfg.is_file():
        pytest.skip("npml is imported from an installed copy: no setup.cfg beside it")
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    entry = config["options.entry_points"]["numba_extensions"].strip()
    assert entry == "init = npml._compile:install"


def test_importing_the_notice_loads_no_numba():
    code = textwrap.dedent(
        """
        import sys
        import npml._compile
        print('numba' in sys.modules)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(npml_root()))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False"]
