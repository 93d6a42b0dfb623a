"""The npml benchmark report: the project's main job.

    python benchmarks/report.py            # quick (default, under 2 minutes on 2 cores)
    python benchmarks/report.py --full     # the complete sweeps
    python benchmarks/report.py --only ops # one chapter
    python benchmarks/report.py --list     # the chapters

The same program as ``python -m npml.bench`` and ``npml-bench`` (:mod:`npml.bench.cli`;
the chapters are the modules of :mod:`npml.bench.chapters`), run from a clone without
installing; results go to ``benchmarks/results/`` unless ``--out`` says otherwise.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a clone without installing

from npml.bench.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(default_out=HERE / "results"))
