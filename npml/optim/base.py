"""The optimizer base class: parameter groups, gradient checks before every step, state.

An optimizer moves the parameters against their gradients, in place:

.. math::

    \\theta_t = \\theta_{t-1} - \\eta_t\\, u_t(g_1, \\dots, g_t),

where the direction :math:`u_t` (the gradient itself, a momentum average, Adam's normalised
moment) is what tells SGD, Adam and AdamW apart. This module holds what they share, in the
shape of ``torch.optim.Optimizer`` so that results can be compared step for step:

* ``params`` is a :class:`~npml.nn.Module`, an iterable of :class:`~npml.nn.Parameter` or of
  ``(name, Parameter)`` pairs (what ``Module.named_parameters()`` yields), or a list of
  *parameter groups* (see :mod:`npml.optim._params`). Each group's hyperparameters live in
  ``param_groups[i]`` and may be changed between steps (that is how schedules work).
* ``step()`` checks every gradient first (present, right shape, finite) and only then
  updates, so a bad gradient raises ``ValueError`` naming the parameter (its dotted name when
  the optimizer got names, else ``params[k]`` with ``k`` its position) and leaves every
  parameter and every moment untouched.
* ``state_dict()`` is a flat ``dict`` of plain arrays and scalars (savable with
  :func:`npml.nn.save_npz`, loadable with ``allow_pickle=False``; the keys are listed in
  :mod:`npml.optim._state_dict`); ``load_state_dict`` restores it exactly, so a resumed run
  continues bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from npml._module import Parameter
from npml.optim import _state_dict
from npml.optim._params import ParamsLike, as_groups, label_params, parse_group

__all__ = ["Optimizer", "ParamsLike"]


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
        for group in as_groups(params):
            self.add_param_group(group)
        if not self._ids:
            raise ValueError("params holds no Parameter; expected at least one")

    # -- groups ----------------------------------------------------------------------------
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        where = f"param_groups[{len(self.param_groups)}]['params']"
        group, params, names = parse_group(group, self.defaults, where)
        self._check_group(group)
        labels, seen = label_params(params, names, self.n_params, self._ids)
        self._check_params(params, labels)
        self._ids = seen
        group["params"] = params
        group["param_names"] = labels
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

    @abstractmethod
    def _update(self, i: int, group: dict[str, Any], grads: list[np.ndarray], step: int) -> None:
        """Apply step number ``step`` (1-based) to group ``i`` with checked gradients."""

    # optional hooks below: empty by default, subclasses override what they need
    def _check_params(self, params: list[Parameter], names: list[str]) -> None:  # noqa: B027
        """Reject parameters this optimizer cannot handle (all are fine by default)."""

    def _init_group(self, i: int) -> None:  # noqa: B027 (optional hook)
        """Allocate state for the new group ``i`` (nothing by default)."""

    def _check_param_state(  # noqa: B027 (optional hook)
        self, groups: list[dict[str, Any]], per_param: dict[int, dict[str, np.ndarray]]
    ) -> None:
        """Reject loaded buffers that do not fit (nothing to check by default)."""

    def _load_param_state(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        """Replace parameter ``k``'s state with copies of ``arrays`` (shapes checked)."""
        self.state[k] = {name: np.array(a) for name, a in arrays.items()}

    # -- stepping --------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zeros (in place when allocated, so buffers are reused)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

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

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step counts and state buffers as a flat dict of plain values.

        Keys: ``"optimizer"`` (the class name), ``"groups.{i}.n_params"``,
        ``"groups.{i}.step"``, ``"groups.{i}.{hyperparameter}"`` and
        ``"state.{k}.{buffer}"`` for parameter position ``k``. Arrays are copies.
        """
        kind = type(self).__name__
        return _state_dict.to_flat(kind, self.param_groups, self._steps, self.defaults, self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyperparameters, step counts and buffers written by :meth:`state_dict`.

        Everything is checked before anything is changed; a mismatch (another optimizer
        class, other group sizes, missing or unexpected keys, wrong shapes) raises
        ``ValueError`` naming it.
        """
        groups, steps, per_param = _state_dict.from_flat(
            state, type(self).__name__, self.param_groups, self.defaults,
            self._state_names, self._check_group,
        )  # fmt: skip
        self._check_param_state(groups, per_param)
        for group, new in zip(self.param_groups, groups, strict=True):
            group.update(new)
        self._steps = steps
        self.state = {k: v for k, v in self.state.items() if k in per_param}
        for k in sorted(per_param):
            self._load_param_state(k, per_param[k])

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, g in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={g[k]!r}" for k in self.defaults)
            lines.append(f"  group {i}: {len(g['params'])} params, {hyper}")
        return "\n".join(lines) + "\n)"
