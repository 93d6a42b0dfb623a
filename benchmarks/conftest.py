"""pytest-benchmark suite: ``python -m pytest benchmarks --benchmark-only``.

Each file groups npml and its peer with ``@pytest.mark.benchmark(group=...)`` so they sit
next to each other in pytest-benchmark's table.
"""

import os
import sys
from pathlib import Path

# The same setting as the report (npml/bench/cli.py says why): idle OpenMP workers must not
# spin.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # npml from a clone
