"""The optimizer base class: parameter groups, gradient checks and resumable state.

An optimizer moves the parameters against their gradients, in place:

.. math::

    \\theta_t = \\theta_{t-1} - \\eta_t\\, u_t(g_1, \\dots, g_t),

where the direction :math:`u_t` (the gradient itself, a momentum average, Adam's normalised
moment) is what tells SGD, Adam and AdamW apart. This module holds what they share, in the
shape of ``torch.optim.Optimizer`` so that results can be compared step for step:

* ``params`` is a :class:`~npml.nn.Module`, an iterable of :class:`~npml.nn.Parameter` or of
  ``(name, Parameter)`` pairs (what ``Module.named_parameters()`` yields), or a list of *parameter
  groups*: dicts ``{"params": ..., "lr": ..., "weight_decay": ...}`` whose missing keys take
  the optimizer's defaults. Each group's hyperparameters live in ``param_groups[i]`` and may
  be changed between steps (that is how schedules work).
* ``step()`` checks every gradient first (present, right shape, finite) and only then
  updates, so a bad gradient raises ``ValueError`` naming the parameter (its dotted name when
  the optimizer got names, else ``params[k]`` with ``k`` its position) and leaves every
  parameter and every moment untouched.
* ``state_dict()`` is a flat ``dict`` of plain arrays and scalars (savable with
  :func:`npml.nn.save_npz`, loadable with ``allow_pickle=False``); ``load_state_dict``
  restores it exactly, so a resumed run continues bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np

from npml._module import Module, Parameter

ParamsLike = Module | Parameter | Iterable[Any]


def _parse_params(entries: Any, where: str) -> tuple[list[Parameter], list[str | None]]:
    """Parameters and their names (``None`` when unnamed) from one group's ``params``."""
    if isinstance(entries, Module):
        entries = list(entries.named_parameters())
    elif isinstance(entries, Parameter):
        entries = [entries]
    elif isinstance(entries, (str, bytes, np.ndarray)) or not isinstance(entries, Iterable):
        raise TypeError(
            f"{where} is a {type(entries).__name__}; expected a Module or an iterable of "
            "Parameters or (name, Parameter) pairs"
        )
    params: list[Parameter] = []
    names: list[str | None] = []
    for e in entries:
        if isinstance(e, Parameter):
            params.append(e)
            names.append(None)
        elif (
            isinstance(e, tuple)
            and len(e) == 2
            and isinstance(e[0], str)
            and isinstance(e[1], Parameter)
        ):
            names.append(e[0])
            params.append(e[1])
        else:
            hint = " (wrap arrays in npml.nn.Parameter)" if isinstance(e, np.ndarray) else ""
            raise TypeError(
                f"{where} holds a {type(e).__name__}; expected a Parameter or a "
                f"(name, Parameter) pair{hint}"
            )
    return params, names


def _as_groups(params: ParamsLike) -> list[dict[str, Any]]:
    """Normalise the ``params`` argument to a list of group dicts."""
    if isinstance(params, (Module, Parameter)):
        return [{"params": params}]
    if isinstance(params, dict):
        return [params]
    if isinstance(params, (str, bytes, np.ndarray)) or not isinstance(params, Iterable):
        raise TypeError(
            f"params is a {type(params).__name__}; expected a Module, an iterable of "
            "Parameters or (name, Parameter) pairs, or a list of parameter-group dicts"
        )
    items = list(params)
    n_dicts = sum(isinstance(item, dict) for item in items)
    if n_dicts == 0:
        return [{"params": items}]
    if n_dicts != len(items):
        raise TypeError("params mixes parameter-group dicts with parameters; use one or the other")
    return items


def _plain(value: Any) -> Any:
    """A hyperparameter as a value ``np.savez`` stores without pickling."""
    if isinstance(value, tuple):
        return np.array(value, dtype=np.float64)
    return value


class Optimizer(ABC):
    """Base class of npml optimizers (see the module docstring).

    Subclasses set ``defaults`` and ``_state_names`` and implement ``_check_group``,
    ``_update`` and, when they keep state, ``_init_group`` / ``_load_param_state``.

    Attributes
    ----------
    param_groups : list of dict
        Each group's ``"params"`` (list of Parameter), ``"param_names"`` (list of str) and
        hyperparameters.
    state : dict of int to dict of str to ndarray
        Per-parameter buffers (momentum, moments) keyed by the parameter's position ``k``.
    """

    _state_names: tuple[str, ...] = ()

    def __init__(self, params: ParamsLike, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, np.ndarray]] = {}
        self._steps: list[int] = []  # steps taken by each group
        self._ids: set[int] = set()
        for group in _as_groups(params):
            self.add_param_group(group)
        if not self._ids:
            raise ValueError("params holds no Parameter; expected at least one")

    # -- groups ----------------------------------------------------------------------------
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"param group {group!r} must be a dict with a 'params' entry")
        where = f"param_groups[{len(self.param_groups)}]['params']"
        group = dict(group)
        params, names = _parse_params(group.pop("params"), where)
        given = group.pop("param_names", None)
        if given is not None:
            if len(given) != len(params):
                raise ValueError(f"param_names has {len(given)} names for {len(params)} params")
            names = [str(n) for n in given]
        unknown = sorted(set(group) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"param group has unknown key(s) {unknown}; expected some of "
                f"{sorted(self.defaults)}"
            )
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        start, seen = self.n_params, set(self._ids)
        for j, (p, name) in enumerate(zip(params, names, strict=True)):
            label = name if name is not None else f"params[{start + j}]"
            if id(p) in seen:
                raise ValueError(f"parameter {label!r} appears more than once in the optimizer")
            seen.add(id(p))
            names[j] = label
        self._check_params(params, names)
        self._ids = seen
        group["params"] = params
        group["param_names"] = names
        self.param_groups.append(group)
        self._steps.append(0)
        self._init_group(len(self.param_groups) - 1)

    @property
    def n_params(self) -> int:
        """Number of parameter tensors handled (the positions ``k`` run over 0..n_params-1)."""
        return sum(len(g["params"]) for g in self.param_groups)

    def _offset(self, i: int) -> int:
        """Position ``k`` of the first parameter of group ``i``."""
        return sum(len(g["params"]) for g in self.param_groups[:i])

    # -- hooks -----------------------------------------------------------------------------
    @abstractmethod
    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalise in place) a group's hyperparameters."""

    # optional hooks below: empty by default, subclasses override what they need
    def _check_params(self, params: list[Parameter], names: list[str]) -> None:  # noqa: B027
        """Reject parameters this optimizer cannot handle (all are fine by default)."""

    def _init_group(self, i: int) -> None:  # noqa: B027 (optional hook)
        """Allocate state for the new group ``i`` (nothing by default)."""

    @abstractmethod
    def _update(self, i: int, group: dict[str, Any], grads: list[np.ndarray], step: int) -> None:
        """Apply step number ``step`` (1-based) to group ``i`` with checked gradients."""

    def _load_param_state(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        """Replace parameter ``k``'s state with copies of ``arrays`` (shapes checked)."""
        self.state[k] = {name: np.array(a) for name, a in arrays.items()}

    # -- stepping --------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zeros (in place when allocated, so buffers are reused)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

    def _gradients(self) -> list[list[np.ndarray]]:
        """Every group's gradients, checked for presence, shape and dtype (not finiteness)."""
        out = []
        for group in self.param_groups:
            grads = []
            for p, name in zip(group["params"], group["param_names"], strict=True):
                data, g = p.data, p.grad
                if not data.flags.writeable:
                    raise ValueError(f"parameter {name!r} holds a read-only array; expected it "
                                     "writeable (the optimizer updates it in place)")  # fmt: skip
                if g is None:
                    raise ValueError(
                        f"parameter {name!r} has no gradient (grad is None); run a backward "
                        "pass before step(), or leave frozen parameters out of the optimizer"
                    )
                if type(g) is not np.ndarray:
                    g = np.asarray(g)
                if g.shape != data.shape:
                    raise ValueError(
                        f"gradient of parameter {name!r} has shape {g.shape}; expected the "
                        f"parameter's shape {data.shape}"
                    )
                if g.dtype != data.dtype:
                    if g.dtype.kind not in "fiu":
                        raise TypeError(
                            f"gradient of parameter {name!r} has dtype {g.dtype}; expected "
                            f"{data.dtype}"
                        )
                    g = g.astype(data.dtype)
                grads.append(g)
            out.append(grads)
        return out

    def _check_finite(self, grads: list[list[np.ndarray]]) -> None:
        """Raise ``ValueError`` naming the first parameter whose gradient has NaN or inf."""
        for group, gs in zip(self.param_groups, grads, strict=True):
            for name, g in zip(group["param_names"], gs, strict=True):
                if not np.isfinite(g).all():
                    self._raise_nonfinite(name, int(g.size - np.count_nonzero(np.isfinite(g))))

    @staticmethod
    def _raise_nonfinite(name: str, n_bad: int) -> None:
        raise ValueError(
            f"gradient of parameter {name!r} contains {n_bad} non-finite value(s) (NaN or "
            "inf); no parameter was updated. Lower the learning rate, clip the gradients "
            "(npml.optim.clip_grad_norm) or find where the loss overflows"
        )

    def step(self) -> None:
        """Take one optimisation step with the current gradients.

        Raises
        ------
        ValueError
            If a hyperparameter is out of range, or a gradient is missing, misshapen or not
            finite (nothing is updated then).
        """
        for group in self.param_groups:
            self._check_group(group)
        grads = self._gradients()
        self._check_finite(grads)
        for i, group in enumerate(self.param_groups):
            self._steps[i] += 1
            self._update(i, group, grads[i], self._steps[i])

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step counts and state buffers as a flat dict of plain values.

        Keys: ``"optimizer"`` (the class name), ``"groups.{i}.n_params"``,
        ``"groups.{i}.step"``, ``"groups.{i}.{hyperparameter}"`` and
        ``"state.{k}.{buffer}"`` for parameter position ``k``. Arrays are copies.
        """
        out: dict[str, Any] = {"optimizer": np.str_(type(self).__name__)}
        for i, group in enumerate(self.param_groups):
            out[f"groups.{i}.n_params"] = len(group["params"])
            out[f"groups.{i}.step"] = self._steps[i]
            for key in self.defaults:
                out[f"groups.{i}.{key}"] = _plain(group[key])
        for k in sorted(self.state):
            for name, arr in self.state[k].items():
                out[f"state.{k}.{name}"] = arr.copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyperparameters, step counts and buffers written by :meth:`state_dict`.

        Everything is checked before anything is changed; a mismatch (another optimizer
        class, other group sizes, missing or unexpected keys, wrong shapes) raises
        ``ValueError`` naming it.
        """
        state = dict(state)
        kind = str(np.asarray(state.pop("optimizer", "")))
        if kind != type(self).__name__:
            raise ValueError(f"state is from optimizer {kind!r}; this is {type(self).__name__}")
        params = [p for g in self.param_groups for p in g["params"]]
        new_groups, new_steps = [], []
        for i, group in enumerate(self.param_groups):
            keys = ["n_params", "step", *self.defaults]
            missing = [f"groups.{i}.{key}" for key in keys if f"groups.{i}.{key}" not in state]
            if missing:
                raise ValueError(f"state is missing {missing}")
            n = int(state.pop(f"groups.{i}.n_params"))
            if n != len(group["params"]):
                raise ValueError(
                    f"state's group {i} has {n} parameters; this optimizer's has "
                    f"{len(group['params'])}"
                )
            new_steps.append(int(state.pop(f"groups.{i}.step")))
            new = dict(group)
            for key, default in self.defaults.items():
                value = np.asarray(state.pop(f"groups.{i}.{key}"))
                if isinstance(default, tuple):
                    new[key] = tuple(float(x) for x in value.ravel())
                else:
                    new[key] = type(default)(value.item())
            self._check_group(new)
            new_groups.append(new)
        per_param: dict[int, dict[str, np.ndarray]] = {}
        unexpected = []
        for key in sorted(state):
            parts = key.split(".")
            ok = len(parts) == 3 and parts[0] == "state" and parts[1].isdigit()
            if not ok or int(parts[1]) >= len(params) or parts[2] not in self._state_names:
                unexpected.append(key)
                continue
            k, value = int(parts[1]), np.asarray(state[key])
            if value.shape != params[k].data.shape:
                raise ValueError(
                    f"state[{key!r}] has shape {value.shape}; expected {params[k].data.shape}"
                )
            per_param.setdefault(k, {})[parts[2]] = value
        if unexpected:
            raise ValueError(f"state has unexpected key(s) {unexpected}")
        self._check_param_state(new_groups, per_param)
        for group, new in zip(self.param_groups, new_groups, strict=True):
            group.update(new)
        self._steps = new_steps
        self.state = {k: v for k, v in self.state.items() if k in per_param}
        for k in sorted(per_param):
            self._load_param_state(k, per_param[k])

    def _check_param_state(  # noqa: B027 (optional hook)
        self, groups: list[dict[str, Any]], per_param: dict[int, dict[str, np.ndarray]]
    ) -> None:
        """Subclasses reject loaded buffers that do not fit (nothing to check by default)."""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, g in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={g[k]!r}" for k in self.defaults)
            lines.append(f"  group {i}: {len(g['params'])} params, {hyper}")
        return "\n".join(lines) + "\n)"
