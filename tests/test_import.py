import subprocess
import sys

CODE = """
import sys, time
t0 = time.perf_counter()
import npml
dt = time.perf_counter() - t0
print(dt, 'numba' in sys.modules, 'scipy' in sys.modules)
"""


def test_import_npml_is_fast_and_loads_no_numba():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    seconds, numba_loaded, _ = out.stdout.split()
    assert numba_loaded == "False"
    # Not a speed benchmark: a guard against eager imports (numba alone costs 0.3-0.7 s).
    assert float(seconds) < 1.0


def test_subpackages_load_lazily():
    import npml

    assert npml.ops.softmax is not None
    assert "ops" in dir(npml)
