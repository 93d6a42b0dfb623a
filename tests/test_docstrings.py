"""Every public name has its own docstring: enough to use it without the module's.

``help(npml.nn.MultiHeadAttention)`` must show what the class does, its arguments with
their shapes and an example; the module docstring keeps the derivation, and a docstring
points to it by name rather than saying only "(module docstring)".
"""

import importlib
import inspect

import pytest

import npml

# Files another helper edits this session; their gaps are listed in the report of the
# docstring work and are expected to fail here until that helper's branch lands.
OWNED_ELSEWHERE = (
    "npml.gp",
    "npml.kernels",
    "npml.linear.elastic_net",
    "npml.preference.bradley_terry",
    "npml.bench",
)


def _public_names():
    for pkg_name in npml._SUBPACKAGES:
        pkg = importlib.import_module(f"npml.{pkg_name}")
        for name in getattr(pkg, "__all__", ()):
            obj = getattr(pkg, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                yield pytest.param(obj, id=f"{pkg_name}.{name}")


def _gap(obj):
    doc = inspect.getdoc(obj) or ""
    lines = [line for line in doc.splitlines() if line.strip()]
    if len(lines) <= 1:
        return f"a docstring of {len(lines)} line(s)"
    if "(module docstring)" in doc:
        return 'a docstring that says only "(module docstring)"'
    return None


@pytest.mark.parametrize("obj", _public_names())
def test_public_name_has_its_own_docstring(obj):
    gap = _gap(obj)
    if gap is not None and obj.__module__.startswith(OWNED_ELSEWHERE):
        pytest.xfail(f"{obj.__module__} is edited by another helper: {gap}")
    assert gap is None, f"{obj.__module__}.{obj.__qualname__} has {gap}"
