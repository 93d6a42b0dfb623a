"""The ``>>>`` examples of npml's public modules run and show what they claim.

Public modules are those whose dotted name has no component starting with ``_`` (the
private kernel siblings carry no examples for users). Examples are written to be quick:
small shapes, fixed seeds, float64 where digits are printed.
"""

import doctest
import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import npml

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_modules():
    names = ["npml", "npml._module", "npml._progress"]  # Module, Progress: public classes
    for info in pkgutil.walk_packages(npml.__path__, prefix="npml."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "bench" and len(parts) > 2:
            continue  # private, or a benchmark chapter (run by the report, not here)
        names.append(info.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_module_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = [t for t in finder.find(module, name) if t.examples]
    report = []
    for test in tests:
        test.globs["np"] = np
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an example must not warn either
            runner.run(test, out=report.append)
    failed, _ = runner.summarize(verbose=False)
    if failed:
        pytest.fail("".join(report), pytrace=False)
