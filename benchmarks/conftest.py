"""pytest-benchmark suite: ``python -m pytest benchmarks --benchmark-only``.

Each file groups npml and its peer with ``@pytest.mark.benchmark(group=...)`` so they sit
next to each other in pytest-benchmark's table.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
