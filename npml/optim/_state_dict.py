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

Reading is all-or-nothing: :func:`from_flat` checks everything and returns the new values
without touching the optimizer, which applies them only when nothing was wrong. Restoring
the buffers and step counts exactly is what makes a resumed run continue bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
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
    ValueError
        Naming the mismatch: another optimizer class, other group sizes, missing or
        unexpected keys, wrong shapes.
    """
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
        n = int(flat.pop(f"groups.{i}.n_params"))
        if n != len(group["params"]):
            raise ValueError(
                f"state's group {i} has {n} parameters; this optimizer's has {len(group['params'])}"
            )
        new_steps.append(int(flat.pop(f"groups.{i}.step")))
        new = dict(group)
        for key, default in defaults.items():
            value = np.asarray(flat.pop(f"groups.{i}.{key}"))
            if isinstance(default, tuple):
                new[key] = tuple(float(x) for x in value.ravel())
            else:
                new[key] = type(default)(value.item())
        check_group(new)
        new_groups.append(new)
    per_param: dict[int, dict[str, np.ndarray]] = {}
    unexpected = []
    for key in sorted(flat):
        parts = key.split(".")
        ok = len(parts) == 3 and parts[0] == "state" and parts[1].isdigit()
        if not ok or int(parts[1]) >= len(params) or parts[2] not in state_names:
            unexpected.append(key)
            continue
        k, value = int(parts[1]), np.asarray(flat[key])
        if value.shape != params[k].data.shape:
            raise ValueError(
                f"state[{key!r}] has shape {value.shape}; expected {params[k].data.shape}"
            )
        per_param.setdefault(k, {})[parts[2]] = value
    if unexpected:
        raise ValueError(f"state has unexpected key(s) {unexpected}")
    return new_groups, new_steps, per_param
