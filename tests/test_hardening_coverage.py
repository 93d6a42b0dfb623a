"""Issue 14, coverage: every public name of every npml subpackage is probed by a hardening
table (or exempt, with the reason and the test that covers it instead), and every boolean
flag of the public API is in a flag table.

Nothing here is a hand-kept list of covered names. A table is a module-level constant in
UPPER_CASE of a hardening test file (``tests/**/test_hardening_*.py``); each of its rows holds
a call (a lambda), and the row covers the **entry point it calls**: the first name its code
loads that is a public npml object, following the file's own helper functions (so
``lambda: ElasticNet(alpha=-1).fit(X, y)`` covers ``ElasticNet``, and
``lambda: _step_sgd(lr=-1)`` covers what ``_step_sgd`` calls first, ``SGD``). A public object
placed in a table itself (``SCHEDULES = {"StepDecay": ...}``) is covered too. The layer
registry (:mod:`npml.testing.npml_layers`) covers the names its entries list in ``covers``.

Flags are the parameters of public functions and methods whose default is a bool or whose
annotation is ``bool`` (or ``bool | None``). A flag table is a table whose name contains
``FLAG``; a row covers ``(entry point, name)`` for each string of the row (``("SGD",
"nesterov", call)``, or ``{"normalize_y": call}``). The registry adds each entry's forward
``flags`` and each :class:`~npml.testing.ErrorInput` that expects a ``TypeError``.

The test runs over every public submodule that ``pkgutil.iter_modules(npml.__path__)`` finds:
a new subpackage (``npml.rl``, ``npml.timeseries``) fails
:func:`test_every_public_name_is_in_a_hardening_table_or_exempt` until each of its names is in
a hardening table (or exempt here, with the reason), and one without ``__all__`` fails
:func:`test_every_subpackage_is_checked`. Only ``EXEMPT_MODULES`` are left out.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import inspect
import pkgutil
import types
from pathlib import Path

import numpy as np
import pytest

import npml
from npml.testing import registered
from npml.testing.npml_layers import EXEMPT as LAYER_EXEMPT

TESTS = Path(__file__).resolve().parent
HERE = Path(__file__).resolve()

# Whole modules that need no table, each with the reason.
EXEMPT_MODULES = {
    "npml.testing": "the test helpers and the registry itself; tests/testing/ and "
    "tests/test_testing.py test them, and their bad inputs are the registry's own tests",
    "npml.data": "package data (a text file), no code; tests/models/test_text.py",
}

# Public names that no hardening table probes, per module: why, and the test that covers
# them instead. Names of npml.nn and npml.models that are not layers are exempt in the layer
# registry's EXEMPT (npml/testing/npml_layers/__init__.py), unless a table probes them.
EXEMPT = {
    "npml": {
        "__version__": "the version string; takes no input",
        # the submodules in npml.__all__ are checked one by one (test_every_subpackage...)
    },
    "npml.exceptions": {
        "DataConversionWarning": "a warning class, no input; tests/test_sklearn_compat.py "
        "(a column-vector y warns with it)",
        "UndefinedMetricWarning": "a warning class, no input; tests/test_sklearn_compat.py "
        "(score on one sample warns with it)",
        "sklearn_flavoured": "makes npml's error classes also scikit-learn's when it is loaded; "
        "tests/test_sklearn_compat.py",
        "ConvergenceWarning": "a warning class, no input; tests/test_exceptions.py",
        "NotFittedError": "an error class, no input; raised and checked by "
        "tests/test_hardening_core_estimators.py::test_use_before_fit_raises_not_fitted_error",
    },
    "npml.preference": {
        "ConvergenceWarning": "npml.exceptions' warning, re-exported; tests/test_exceptions.py",
    },
    "npml.linear": {
        "ConvergenceWarning": "npml.exceptions' warning, re-exported; tests/test_exceptions.py",
        "EnetPath": "the NamedTuple enet_path returns, no input; tests/linear/test_elastic_net.py",
    },
    "npml.kernels": {
        "Kernel": "the abstract base class every kernel row runs through (its get_params, "
        "with_theta, __add__); tests/kernels/test_kernels.py",
        "HYPERPARAMETER_BOUNDS": "a constant, no input (the log-space bounds of "
        "GaussianProcessRegressor(optimize=True)); tests/gp/test_regression.py",
    },
    "npml.optim": {
        "Optimizer": "the base class whose step, state_dict and load_state_dict the SGD, Adam "
        "and AdamW rows run through; tests/optim/test_state.py",
    },
    "npml.ops": {
        "EinsumPath": "the NamedTuple einsum_path returns, no input; tests/ops/test_einsum.py",
    },
    "npml.analysis": {
        "ScalingResult": "the NamedTuple simulate_scaling returns, no input; "
        "tests/analysis/test_emergence.py",
    },
    "npml.rl": {
        "BanditHistory": "the NamedTuple the bandit algorithms return, no input; "
        "tests/rl/test_bandits.py",
        "Rollout": "the NamedTuple rollout returns, no input; tests/rl/test_tabular.py",
        "TabularResult": "the NamedTuple the tabular learners return, no input; "
        "tests/rl/test_tabular.py",
    },
    "npml.bench": {
        "MODES": "a constant, no input (Report's mode rows check against it)",
        "CostModelFit": "the NamedTuple fit_cost_model returns, no input; tests/bench/test_fit.py",
        "ExponentFit": "the NamedTuple fit_exponent returns, no input; tests/bench/test_fit.py",
        "Timing": "the record measure returns, no input; tests/bench/test_harness.py",
        "load_average": "takes no argument; tests/bench/test_report_smoke.py (the saved "
        "load averages)",
    },
}


# ---- the public modules -------------------------------------------------------------------
def public_modules() -> dict[str, types.ModuleType]:
    """npml and each of its public submodules (subpackage or module) that has ``__all__``."""
    out = {"npml": npml}
    for info in pkgutil.iter_modules(npml.__path__):
        if info.name.startswith("_"):
            continue
        name = f"npml.{info.name}"
        if name in EXEMPT_MODULES:
            out[name] = None
            continue
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            out[name] = module
    return out


MODULES = public_modules()


def public_objects() -> dict[int, object]:
    """Every object named in a public ``__all__``, by ``id`` (names are not unique: optim
    and kernels both have a ``Constant``)."""
    objs = {}
    for module in MODULES.values():
        if module is None:
            continue
        for name in module.__all__:
            obj = getattr(module, name)
            if not isinstance(obj, types.ModuleType):
                objs[id(obj)] = obj
    return objs


PUBLIC = public_objects()


# ---- what a table row calls -----------------------------------------------------------------
def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _globals_loaded(fn: types.FunctionType):
    """The global names ``fn``'s code loads, in the order of the code (nested lambdas too)."""
    for code in _code_objects(fn.__code__):
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                yield ins.argval


def entry_point(fn, module_globals: dict, _seen: frozenset = frozenset()):
    """The first public npml object that ``fn`` calls, through the file's own helpers."""
    for name in _globals_loaded(fn):
        obj = module_globals.get(name)
        if id(obj) in PUBLIC:
            return obj
        helper = isinstance(obj, types.FunctionType) and obj.__globals__ is module_globals
        if helper and obj not in _seen:
            found = entry_point(obj, module_globals, _seen | {obj})
            if found is not None:
                return found
    return None


def _rows(table):
    """The rows of a table: the items of a list or tuple, the (key, value) items of a dict."""
    if isinstance(table, dict):
        return list(table.items())
    if isinstance(table, (list, tuple)):
        return list(table)
    return []


def _leaves(row):
    """The leaves of a row (tuples, lists, dicts and pytest.param values flattened)."""
    if isinstance(row, dict):
        for k, v in row.items():
            yield from _leaves(k)
            yield from _leaves(v)
    elif isinstance(row, (list, tuple)):
        for item in row:
            yield from _leaves(item)
    elif type(row).__name__ == "ParameterSet":  # a pytest.param(...)
        yield from _leaves(row.values)
    else:
        yield row


def hardening_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_hardening_*.py") if p != HERE)


def _load(path: Path) -> types.ModuleType:
    name = "npml_hardening_" + "_".join(path.relative_to(TESTS).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_coverage():
    """``(covered objects, covered flags, where)`` over every hardening table.

    ``covered`` holds ids of public objects; ``flags`` pairs ``(id, flag name)``; ``where``
    maps an id to the first ``file:TABLE`` that covers it (for the messages).
    """
    covered, flags, where = set(), set(), {}
    for path in hardening_files():
        module = _load(path)
        g = vars(module)
        for table_name, table in g.items():
            if not table_name.isupper() or table_name.startswith("_"):
                continue
            for row in _rows(table):
                leaves = list(_leaves(row))
                targets = []
                for leaf in leaves:
                    if isinstance(leaf, types.FunctionType) and leaf.__globals__ is g:
                        targets.append(entry_point(leaf, g))
                    elif id(leaf) in PUBLIC:
                        targets.append(leaf)
                for target in targets:
                    if target is None:
                        continue
                    covered.add(id(target))
                    where.setdefault(id(target), f"{path.name}:{table_name}")
                    if "FLAG" in table_name:
                        for leaf in leaves:
                            if isinstance(leaf, str) and leaf.strip().isidentifier():
                                flags.add((id(target), leaf.strip()))
    return covered, flags, where


def registry_coverage():
    """``(covered ids, flags)`` from the layer registry: each entry's ``covers`` names (looked
    up in every public module), its forward ``flags``, and its declared bad inputs that expect
    a ``TypeError`` (constructor flags such as ``Linear(bias="yes")``)."""
    by_name: dict[str, list] = {}
    for module in MODULES.values():
        for n in getattr(module, "__all__", ()):
            by_name.setdefault(n, []).append(getattr(module, n))
    covered, flags = set(), set()
    for info in registered():
        objs = [o for n in info.covers for o in by_name.get(n, [])]
        covered |= {id(o) for o in objs}
        flags |= {(id(o), f) for o in objs for f in info.flags}
        for bad in info.error_inputs(np.random.default_rng(0), np.dtype(np.float64)):
            if bad.error is TypeError and isinstance(bad.call, types.FunctionType):
                target = entry_point(bad.call, bad.call.__globals__)
                if target is not None:
                    flags.add((id(target), bad.arg))
    return covered, flags


TABLE_COVERED, TABLE_FLAGS, WHERE = table_coverage()
REGISTRY_COVERED, REGISTRY_FLAGS = registry_coverage()
COVERED = TABLE_COVERED | REGISTRY_COVERED
FLAGS = TABLE_FLAGS | REGISTRY_FLAGS


# ---- the tests --------------------------------------------------------------------------------
def test_every_subpackage_is_checked():
    """A public subpackage without ``__all__`` would escape the coverage check: refuse it."""
    for info in pkgutil.iter_modules(npml.__path__):
        name = f"npml.{info.name}"
        if info.ispkg and not info.name.startswith("_") and name not in EXEMPT_MODULES:
            module = importlib.import_module(name)
            assert hasattr(module, "__all__"), f"{name} has no __all__ to check"
            assert name in MODULES
    submodules = {n for n in npml.__all__ if isinstance(getattr(npml, n), types.ModuleType)}
    assert {f"npml.{n}" for n in submodules} <= set(MODULES), "npml.__all__ names a module "
    "the coverage test does not see"


@pytest.mark.parametrize("name", [n for n, m in MODULES.items() if m is not None])
def test_every_public_name_is_in_a_hardening_table_or_exempt(name):
    module = MODULES[name]
    exempt = EXEMPT.get(name, {})
    # the layer registry's exemptions (not layers with a backward pass) hold for the names no
    # hardening table probes either
    layers_exempt = {
        n: why
        for n, why in LAYER_EXEMPT.items()
        if n in module.__all__ and id(getattr(module, n)) not in COVERED
    }
    public = [n for n in module.__all__ if not isinstance(getattr(module, n), types.ModuleType)]
    missing = [
        n
        for n in public
        if id(getattr(module, n)) not in COVERED and n not in exempt and n not in layers_exempt
    ]
    assert not missing, (
        f"{name}: {missing} are in no hardening table (tests/**/test_hardening_*.py, the layer "
        "registry) and not in EXEMPT; add bad-input rows for them (or an exemption with the "
        "reason and the test that covers them)"
    )
    stale = [n for n in exempt if n not in module.__all__]
    assert not stale, f"{name}: EXEMPT names that are not public: {stale}"
    both = {n: WHERE.get(id(getattr(module, n)), "the registry") for n in exempt}
    both = {n: w for n, w in both.items() if id(getattr(module, n)) in COVERED}
    assert not both, f"{name}: exempt but covered (drop the exemption): {both}"
    assert all(reason.strip() for reason in exempt.values())


def test_exempt_lists_name_known_modules():
    assert set(EXEMPT) <= set(MODULES), set(EXEMPT) - set(MODULES)


# ---- flags --------------------------------------------------------------------------------
def _is_flag(p: inspect.Parameter) -> bool:
    annotation = (
        p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
    )
    return isinstance(p.default, bool) or annotation in ("bool", "bool | None")


def public_flags():
    """``{(owner, method, flag): where}`` for every flag of the public API: ``owner`` is the
    function, or the npml class that defines the method (``__init__`` included)."""
    out = {}
    for mod_name, module in MODULES.items():
        if module is None or mod_name == "npml":
            continue
        for n in module.__all__:
            obj = getattr(module, n)
            if inspect.isfunction(obj):
                methods = [(obj, obj.__name__, obj)]
            elif inspect.isclass(obj):
                methods = []
                for attr in dir(obj):
                    if attr.startswith("_") and attr not in ("__init__", "__call__"):
                        continue
                    owner = next((c for c in obj.__mro__ if attr in vars(c)), None)
                    fn = vars(owner)[attr] if owner is not None else None
                    if inspect.isfunction(fn) and owner.__module__.startswith("npml"):
                        methods.append((owner, attr, fn))
            else:
                continue
            for owner, attr, fn in methods:
                for p in inspect.signature(fn).parameters.values():
                    if _is_flag(p):
                        out[(owner, attr, p.name)] = f"{mod_name}.{n}"
    return out


def _flag_covered(owner, attr, flag) -> bool:
    for target_id, name in FLAGS:
        if name != flag:
            continue
        target = PUBLIC.get(target_id)
        if target is owner:
            return True
        if inspect.isclass(target) and inspect.isclass(owner) and issubclass(target, owner):
            if inspect.getattr_static(target, attr) is vars(owner)[attr]:
                return True
    return False


def test_every_flag_of_the_public_api_is_in_a_flag_table():
    flags = public_flags()
    assert len(flags) > 30  # the enumeration finds them (a broken one would pass vacuously)
    missing = sorted(
        f"{where}: {owner.__qualname__}.{attr}({flag})"
        if inspect.isclass(owner)
        else f"{where}({flag})"
        for (owner, attr, flag), where in flags.items()
        if not _flag_covered(owner, attr, flag)
    )
    assert not missing, (
        f"flags in no flag table (a table named *FLAG* of a hardening file, or a registry entry's "
        f"flags / TypeError bad input): {missing}"
    )


def test_the_coverage_rule_follows_helpers_and_takes_the_first_entry_point():
    from npml.linear import ElasticNet, enet_path

    g = {"ElasticNet": ElasticNet, "enet_path": enet_path, "np": np}
    exec(
        "def helper():\n"
        "    return enet_path(None, None)\n"
        "first = lambda: ElasticNet(alpha=enet_path)\n"
        "through_helper = lambda: helper().fit(np.ones(2))\n"
        "nothing = lambda: np.ones(2)\n",
        g,
    )
    assert entry_point(g["first"], g) is ElasticNet
    assert entry_point(g["through_helper"], g) is enet_path
    assert entry_point(g["nothing"], g) is None
