"""What ``import npml`` must not do: load Numba (and so compile any kernel).

How long the import takes is measured in the benchmark report (the ``ops`` chapter's
``import npml`` row, a ratio against ``import numpy`` timed in the same run), not asserted
here with a wall-clock limit.
"""

import subprocess
import sys

import pytest

CODE = """
import sys
import {module}
print('numba' in sys.modules)
"""


@pytest.mark.parametrize("module", ["npml", "npml.bench", "npml.bench.cli"])
def test_import_loads_no_numba(module):
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False"], f"import {module} loaded numba"


def test_subpackages_load_lazily():
    import npml

    assert npml.ops.softmax is not None
    assert "ops" in dir(npml)
