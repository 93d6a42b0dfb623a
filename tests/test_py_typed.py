"""npml ships the PEP 561 marker, so type checkers read its annotations.

Checked by hand with mypy (not part of CI): with npml installed (non-editable) and the
marker present, ``mypy -c "import npml"`` succeeds; without it mypy reports "module is
installed, but missing library stubs or py.typed marker".
"""

import configparser
from importlib import resources
from pathlib import Path

import pytest

import npml


def test_py_typed_marker_is_in_the_package():
    assert resources.files(npml).joinpath("py.typed").is_file()


def test_py_typed_is_package_data():
    setup_cfg = Path(npml.__file__).parents[1] / "setup.cfg"
    if not setup_cfg.is_file():
        pytest.skip("npml is imported from an installed copy: no setup.cfg beside it")
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    data = [p.strip() for p in config["options.package_data"]["npml"].split(",")]
    assert "py.typed" in data
