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
    """npml's public modules, and the private ones that define a public name (``Module``
    in ``npml._module``, ``register`` in ``npml.testing._registry``)."""
    names = ["npml", "npml._progress"]
    for info in pkgutil.walk_packages(npml.__path__, prefix="npml."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "bench" and len(parts) > 2:
            continue  # private, or a benchmark chapter (run by the report, not here)
        names.append(info.name)
    for pkg_name in npml._SUBPACKAGES:
        pkg = importlib.import_module(f"npml.{pkg_name}")
        for name in getattr(pkg, "__all__", ()):
            module = getattr(getattr(pkg, name), "__module__", None)
            if isinstance(module, str) and module.startswith("npml") and module not in names:
                names.append(module)
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
