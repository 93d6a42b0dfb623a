"""``python -m npml.bench``: run the benchmark report (see :mod:`npml.bench.cli`)."""

from npml.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
