"""What an optimizer's ``params`` argument may be, and how it becomes parameter groups.

The conventions are ``torch.optim``'s, so that the same call works in both:

* a :class:`~npml.nn.Module` (its ``named_parameters()`` are taken, names included),
* a single :class:`~npml.nn.Parameter`,
* an iterable of Parameters or of ``(name, Parameter)`` pairs,
* a list of *parameter groups*: dicts ``{"params": <any of the above>, "lr": ..., ...}``
  whose keys other than ``"params"`` (and an optional ``"param_names"``) must be
  hyperparameters of the optimizer; the missing ones take its defaults.

Every parameter ends up with a name for error messages: its dotted name when one was given,
else ``params[k]`` with ``k`` its position among all the optimizer's parameters. A parameter
may appear only once in an optimizer (two updates per step would be a silent bug).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from npml._module import Module, Parameter

ParamsLike = Module | Parameter | Iterable[Any]


def parse_params(entries: Any, where: str) -> tuple[list[Parameter], list[str | None]]:
    """Parameters and their names (``None`` when unnamed) from one group's ``params``.

    Parameters
    ----------
    entries : Module, Parameter, or iterable of Parameter or (name, Parameter)
        One group's ``params``.
    where : str
        How to refer to ``entries`` in an error, e.g. ``"param_groups[1]['params']"``.
    """
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


def as_groups(params: ParamsLike) -> list[dict[str, Any]]:
    """Normalise the ``params`` argument to a list of group dicts (not yet parsed)."""
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


def parse_group(
    group: Any, defaults: dict[str, Any], where: str
) -> tuple[dict[str, Any], list[Parameter], list[str | None]]:
    """Split a group dict into its hyperparameters (defaults filled in), params and names.

    The returned dict is a new one without ``"params"``/``"param_names"``; its values are
    not validated yet (that is each optimizer's ``_check_group``).
    """
    if not isinstance(group, dict) or "params" not in group:
        raise TypeError(f"param group {group!r} must be a dict with a 'params' entry")
    hyper = dict(group)
    params, names = parse_params(hyper.pop("params"), where)
    given = hyper.pop("param_names", None)
    if given is not None:
        if len(given) != len(params):
            raise ValueError(f"param_names has {len(given)} names for {len(params)} params")
        names = [str(n) for n in given]
    unknown = sorted(set(hyper) - set(defaults))
    if unknown:
        raise ValueError(
            f"param group has unknown key(s) {unknown}; expected some of {sorted(defaults)}"
        )
    for key, value in defaults.items():
        hyper.setdefault(key, value)
    return hyper, params, names


def label_params(
    params: list[Parameter], names: list[str | None], start: int, seen: set[int]
) -> tuple[list[str], set[int]]:
    """Every parameter's name for errors (``params[k]`` when unnamed), rejecting repeats.

    Parameters
    ----------
    params, names : list
        One group's parameters and given names, from :func:`parse_group`.
    start : int
        Position ``k`` of the group's first parameter among all the optimizer's parameters.
    seen : set of int
        ``id`` of every parameter already in the optimizer (not modified).

    Returns
    -------
    labels : list of str
    seen : set of int
        ``seen`` with this group's parameters added (a new set).
    """
    seen = set(seen)
    labels = []
    for j, (p, name) in enumerate(zip(params, names, strict=True)):
        label = name if name is not None else f"params[{start + j}]"
        if id(p) in seen:
            raise ValueError(f"parameter {label!r} appears more than once in the optimizer")
        seen.add(id(p))
        labels.append(label)
    return labels, seen
