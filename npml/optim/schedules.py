"""Learning-rate schedules: the learning rate of step :math:`t` as a multiple of the base rate.

.. math::

    \\eta_t = \\eta_0\\, f(t), \\qquad t = 0, 1, 2, \\dots \\text{ (optimizer steps taken)}

* constant: :math:`f(t) = 1`;
* linear warm-up then cosine decay (warm-up: Goyal et al., 2017, "Accurate, Large Minibatch
  SGD"; cosine: Loshchilov & Hutter, 2017, "SGDR"), with :math:`W` warm-up steps, :math:`T`
  total steps and floor :math:`f_{\\min}`:

  .. math::

      f(t) = \\begin{cases}
          \\dfrac{t + 1}{W + 1} & t < W \\\\[4pt]
          f_{\\min} + (1 - f_{\\min})\\, \\dfrac{1 + \\cos(\\pi (t - W) / (T - W))}{2}
              & W \\le t \\le T \\\\[4pt]
          f_{\\min} & t > T
      \\end{cases}

  so the first step already moves (:math:`f(0) = 1/(W+1)`), the peak :math:`f(W) = 1` is
  reached after the warm-up and :math:`f(T) = f_{\\min}`;
* step decay: :math:`f(t) = \\gamma^{\\lfloor t / s \\rfloor}`.

A schedule is a plain callable ``f(t) -> float``: call it yourself each step, or bind it to
an optimizer with :class:`LRScheduler`, which sets every group's ``lr`` to its base rate
times ``f(t)`` (the behaviour of ``torch.optim.lr_scheduler.LambdaLR``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from npml._checks import check_scalar
from npml.optim.base import Optimizer


def _check_step(t: Any) -> int:
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Integral) or t < 0:
        raise ValueError(f"t={t!r}; expected a step number, an int >= 0")
    return int(t)


class Constant:
    """:math:`f(t) = 1` at every step: the learning rate never changes.

    A schedule is a callable of the step ``t >= 0`` returning the factor the optimizer's
    base ``lr`` is multiplied by; ``Constant`` is the default and the baseline of the others.

    Examples
    --------
    >>> schedule = Constant()
    >>> schedule(0), schedule(10_000)
    (1.0, 1.0)
    """

    def __call__(self, t: int) -> float:
        _check_step(t)
        return 1.0

    def __repr__(self) -> str:
        return "Constant()"


class WarmupCosine:
    """Linear warm-up over ``warmup_steps``, cosine decay to ``min_factor`` at ``total_steps``.

    Parameters
    ----------
    warmup_steps : int
        :math:`W >= 0` (0: start at the peak).
    total_steps : int
        :math:`T > W`, the step at which the decay ends.
    min_factor : float, default 0.0
        :math:`f_{\\min}` in [0, 1], the floor reached at :math:`T` and kept after.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_factor: float = 0.0) -> None:
        self.warmup_steps = check_scalar(warmup_steps, "warmup_steps", kind=numbers.Integral, low=0)
        self.total_steps = check_scalar(
            total_steps, "total_steps", kind=numbers.Integral, low=warmup_steps + 1
        )
        self.min_factor = check_scalar(min_factor, "min_factor", low=0.0, high=1.0)

    def __call__(self, t: int) -> float:
        t = _check_step(t)
        W, T, f_min = self.warmup_steps, self.total_steps, self.min_factor
        if t < W:
            return (t + 1) / (W + 1)
        if t > T:
            return f_min
        return f_min + (1.0 - f_min) * 0.5 * (1.0 + math.cos(math.pi * (t - W) / (T - W)))

    def __repr__(self) -> str:
        return f"WarmupCosine({self.warmup_steps}, {self.total_steps}, {self.min_factor})"


class StepDecay:
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    Parameters
    ----------
    step_size : int
        :math:`s >= 1`.
    gamma : float, default 0.1
        :math:`\\gamma > 0`.
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_scalar(step_size, "step_size", kind=numbers.Integral, low=1)
        self.gamma = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)

    def __call__(self, t: int) -> float:
        return self.gamma ** (_check_step(t) // self.step_size)

    def __repr__(self) -> str:
        return f"StepDecay({self.step_size}, {self.gamma})"


class LRScheduler:
    """Bind a schedule to an optimizer: ``group["lr"] = base_lr * schedule(t)``.

    The base rates are the groups' ``lr`` when the scheduler is made, and the factor for
    ``t = 0`` is applied at once; call :meth:`step` after each ``optimizer.step()``.

    Parameters
    ----------
    optimizer : Optimizer
    schedule : callable
        ``schedule(t) -> float``, a finite factor >= 0 (e.g. :class:`WarmupCosine`).

    Examples
    --------
    >>> import numpy as np
    >>> import npml
    >>> from npml.optim import SGD
    >>> opt = SGD([npml.nn.Parameter(np.zeros(2))], lr=1.0)
    >>> sched = LRScheduler(opt, StepDecay(step_size=2, gamma=0.5))
    >>> rates = []
    >>> for _ in range(4):
    ...     rates.append(opt.param_groups[0]["lr"])
    ...     sched.step()
    >>> rates
    [1.0, 1.0, 0.5, 0.5]
    """

    def __init__(self, optimizer: Optimizer, schedule: Callable[[int], float]) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer is a {type(optimizer).__name__}; expected an Optimizer")
        if not callable(schedule):
            raise TypeError(f"schedule={schedule!r} is not callable; expected f(t) -> float")
        self.optimizer = optimizer
        self.schedule = schedule
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def _apply(self) -> None:
        factor = self._factor(self.last_step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    def _factor(self, t: int) -> float:
        return check_scalar(self.schedule(t), f"schedule({t})", low=0.0)

    def step(self) -> None:
        """Advance to the next step and set the groups' learning rates."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """``{"last_step": int, "base_lrs": array}`` (savable with ``save_npz``)."""
        return {"last_step": self.last_step, "base_lrs": np.array(self.base_lrs, np.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step counter and base rates (and set the groups' rates).

        Everything is checked first (keys, a step count that is an integer >= 0, one finite
        base rate >= 0 per group, the schedule's factor at that step); a failing load
        changes nothing.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state is a {type(state).__name__}; expected a dict from state_dict()")
        missing = [key for key in ("last_step", "base_lrs") if key not in state]
        unexpected = [key for key in state if key not in ("last_step", "base_lrs")]
        if missing or unexpected:
            raise ValueError(f"state is missing {missing} / has unexpected keys {unexpected}")
        last_step = np.asarray(state["last_step"])
        if last_step.ndim != 0 or last_step.dtype.kind not in "iu":
            raise TypeError(
                f"state['last_step']={state['last_step']!r}; expected an integer step count"
            )
        if last_step < 0:
            raise ValueError(f"state['last_step']={int(last_step)} is negative; expected >= 0")
        base_lrs = np.asarray(state["base_lrs"])
        if base_lrs.ndim > 1 or base_lrs.dtype.kind not in "iuf":
            raise TypeError(
                f"state['base_lrs'] has shape {base_lrs.shape} and dtype {base_lrs.dtype}; "
                "expected a vector of real numbers"
            )
        base_lrs = base_lrs.astype(np.float64).ravel()
        if base_lrs.size != len(self.optimizer.param_groups):
            raise ValueError(
                f"state has {base_lrs.size} base rates; the optimizer has "
                f"{len(self.optimizer.param_groups)} groups"
            )
        if not (np.isfinite(base_lrs).all() and (base_lrs >= 0).all()):
            raise ValueError(f"state['base_lrs']={base_lrs.tolist()}; expected finite rates >= 0")
        self._factor(int(last_step))  # a schedule that fails at that step fails here
        self.base_lrs = [float(x) for x in base_lrs]
        self.last_step = int(last_step)
        self._apply()
