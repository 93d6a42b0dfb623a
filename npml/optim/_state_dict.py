"""An optimizer's state as a flat dict of plain arrays, and reading it back with checks.

The format is flat so that it saves with :func:`npml.nn.save_npz` and loads with
``allow_pickle=False`` (no objects, no nesting); for parameter group ``i`` and parameter
position ``k``:

=============================  ==========================================================
``"optimizer"``                the class name (``"AdamW"``), checked on load
``"groups.{i}.n_params"``      number of parameters in the group
``"groups.{i}.step"``          steps the group has taken (Adam's :math:`t`)
``"groups.{i}.{hyper}"``       each hyperparameter (a tuple such as ``betas`` as an array)
``"state.{k}.{buffer}"``       each per-parameter buffer (``momentum_buffer``, ``m``, ...)
=============================  ==========================================================

Reading is all-or-nothing: :func:`from_flat` checks everything (types, shapes, ranges,
finiteness) and returns the new values, buffers copied into the parameters' dtypes,
without touching the optimizer, which applies them only when nothing was wrong. Restoring
the buffers and step counts exactly is what makes a resumed run continue bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    """A hyperparameter as a value ``np.savez`` stores without pickling."""
    if isinstance(value, tuple):
        return np.array(value, dtype=np.float64)
    return value


def to_flat(
    kind: str,
    groups: list[dict[str, Any]],
    steps: list[int],
    defaults: dict[str, Any],
    state: dict[int, dict[str, np.ndarray]],
) -> dict[str, Any]:
    """The flat dict of the module docstring (arrays are copies).

    Parameters
    ----------
    kind : str
        The optimizer's class name.
    groups : list of dict
        ``param_groups``; the keys of ``defaults`` are saved from each.
    steps : list of int
        Steps taken by each group.
    defaults : dict
        The optimizer's hyperparameters and their defaults (which keys to save).
    state : dict of int to dict of str to ndarray
        Per-parameter buffers keyed by position ``k``.
    """
    out: dict[str, Any] = {"optimizer": np.str_(kind)}
    for i, group in enumerate(groups):
        out[f"groups.{i}.n_params"] = len(group["params"])
        out[f"groups.{i}.step"] = steps[i]
        for key in defaults:
            out[f"groups.{i}.{key}"] = _plain(group[key])
    for k in sorted(state):
        for name, arr in state[k].items():
            out[f"state.{k}.{name}"] = arr.copy()
    return out


def _count(value: Any, key: str) -> int:
    """A step or parameter count from a state dict: an integer >= 0, nothing else."""
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "iu":
        raise TypeError(
            f"state[{key!r}] is {_describe(value)}; expected an integer (a count of steps or "
            "parameters)"
        )
    if arr < 0:
        raise ValueError(f"state[{key!r}]={int(arr)} is negative; expected an integer >= 0")
    return int(arr)


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{value!r} of dtype {arr.dtype}"
    return f"an array of shape {arr.shape} and dtype {arr.dtype}"


def _hyper(value: Any, current: Any, key: str) -> Any:
    """A hyperparameter read back with the type of its current (checked) value.

    ``current`` is the loading group's value, which its ``_check_group`` has made a float,
    a bool or a tuple of floats; nothing is coerced (``bool("no")`` would be True).
    """
    arr = np.asarray(value)
    if isinstance(current, tuple):
        if arr.shape != (len(current),) or arr.dtype.kind not in "iuf":
            raise TypeError(
                f"state[{key!r}] is {_describe(value)}; expected {len(current)} real numbers"
            )
        return tuple(float(x) for x in arr)
    if isinstance(current, (bool, np.bool_)):
        if arr.ndim != 0 or arr.dtype != np.bool_:
            raise TypeError(f"state[{key!r}] is {_describe(value)}; expected True or False")
        return bool(arr)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"state[{key!r}] is {_describe(value)}; expected a real number")
    return float(arr)


def _buffer(value: Any, key: str, like: np.ndarray) -> np.ndarray:
    """A state buffer: real, finite, of the parameter's shape; returned in its dtype."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"state[{key!r}] has dtype {arr.dtype}; expected real numbers")
    if arr.shape != like.shape:
        raise ValueError(f"state[{key!r}] has shape {arr.shape}; expected {like.shape}")
    if not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"state[{key!r}] contains {n_bad} non-finite value(s) (NaN or inf)")
    with np.errstate(over="ignore"):
        out = arr.astype(like.dtype)  # a copy, in the parameter's dtype (as torch does)
    if not np.isfinite(out).all():
        raise ValueError(f"state[{key!r}] has values too large for the parameter's {like.dtype}")
    return out


def from_flat(
    flat: dict[str, Any],
    kind: str,
    groups: list[dict[str, Any]],
    defaults: dict[str, Any],
    state_names: tuple[str, ...],
    check_group: Callable[[dict[str, Any]], None],
) -> tuple[list[dict[str, Any]], list[int], dict[int, dict[str, np.ndarray]]]:
    """Check a flat dict against the optimizer and return what loading it would set.

    Parameters
    ----------
    flat : dict
        As written by :func:`to_flat`.
    kind, groups, defaults :
        The loading optimizer's class name, ``param_groups`` and defaults (not modified).
    state_names : tuple of str
        The buffer names this optimizer keeps.
    check_group : callable
        The optimizer's ``_check_group``, run on each new group.

    Returns
    -------
    new_groups : list of dict
        Copies of ``groups`` with the loaded hyperparameters.
    new_steps : list of int
    per_param : dict of int to dict of str to ndarray
        The loaded buffers by position ``k`` (shapes checked against the parameters).

    Raises
    ------
    TypeError
        Naming the key whose value has the wrong type: a step count that is not an integer,
        a flag that is not a bool, a buffer that is not real numbers.
    ValueError
        Naming the mismatch: another optimizer class, other group sizes, missing or
        unexpected keys, wrong shapes, a negative step count, a hyperparameter out of range,
        a buffer with NaN or inf.
    """
    if not isinstance(flat, Mapping):
        raise TypeError(f"state is a {type(flat).__name__}; expected a dict from state_dict()")
    flat = dict(flat)
    got = str(np.asarray(flat.pop("optimizer", "")))
    if got != kind:
        raise ValueError(f"state is from optimizer {got!r}; this is {kind}")
    params = [p for g in groups for p in g["params"]]
    new_groups, new_steps = [], []
    for i, group in enumerate(groups):
        keys = ["n_params", "step", *defaults]
        missing = [f"groups.{i}.{key}" for key in keys if f"groups.{i}.{key}" not in flat]
        if missing:
            raise ValueError(f"state is missing {missing}")
        n = _count(flat.pop(f"groups.{i}.n_params"), f"groups.{i}.n_params")
        if n != len(group["params"]):
            raise ValueError(
                f"state's group {i} has {n} parameters; this optimizer's has {len(group['params'])}"
            )
        new_steps.append(_count(flat.pop(f"groups.{i}.step"), f"groups.{i}.step"))
        new = dict(group)
        for key in defaults:
            name = f"groups.{i}.{key}"
            new[key] = _hyper(flat.pop(name), group[key], name)
        try:
            check_group(new)
        except (TypeError, ValueError) as err:
            raise type(err)(f"state's group {i}: {err}") from None
        new_groups.append(new)
    per_param: dict[int, dict[str, np.ndarray]] = {}
    unexpected = []
    for key in sorted(flat):
        parts = key.split(".")
        ok = len(parts) == 3 and parts[0] == "state" and parts[1].isdigit()
        if not ok or int(parts[1]) >= len(params) or parts[2] not in state_names:
            unexpected.append(key)
            continue
        k = int(parts[1])
        per_param.setdefault(k, {})[parts[2]] = _buffer(flat[key], key, params[k].data)
    if unexpected:
        raise ValueError(f"state has unexpected key(s) {unexpected}")
    return new_groups, new_steps, per_param
