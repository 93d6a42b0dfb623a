"""Stochastic gradient descent with momentum (heavy ball or Nesterov) and L2 weight decay.

.. math::

    g_t &\\leftarrow g_t + \\lambda\\, \\theta_{t-1} \\\\
    b_t &= \\mu\\, b_{t-1} + g_t \\qquad (b_1 = g_1) \\\\
    d_t &= \\begin{cases} g_t + \\mu\\, b_t & \\text{Nesterov} \\\\
                         b_t & \\text{otherwise} \\end{cases} \\\\
    \\theta_t &= \\theta_{t-1} - \\eta\\, d_t

Momentum in this form is Polyak's heavy ball (1964) as written by Sutskever et al. (2013,
"On the importance of initialization and momentum in deep learning"), who also give the
Nesterov variant; it is the update of ``torch.optim.SGD`` with ``dampening=0``. The weight
decay is an L2 penalty :math:`\\tfrac{\\lambda}{2}\\|\\theta\\|^2` whose gradient is added to
:math:`g`, so it is scaled by the momentum like the rest of the gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml._checks import check_bool, check_scalar
from npml.optim.base import Optimizer, ParamsLike


class SGD(Optimizer):
    """Stochastic gradient descent (see the module docstring for the update).

    Parameters
    ----------
    params : Module, iterable of Parameter or (name, Parameter), or list of dict
        What to optimise; dicts are parameter groups with their own hyperparameters.
    lr : float
        Learning rate :math:`\\eta >= 0`.
    momentum : float, default 0.0
        :math:`\\mu >= 0`; 0 is plain SGD (no buffer is kept).
    nesterov : bool, default False
        Use Nesterov's look-ahead form (needs ``momentum > 0``).
    weight_decay : float, default 0.0
        L2 coefficient :math:`\\lambda >= 0` added to the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> import npml
    >>> p = npml.nn.Parameter(np.array([1.0, -2.0]))
    >>> opt = SGD([p], lr=0.1, momentum=0.9)
    >>> p.grad = np.array([1.0, 1.0])
    >>> opt.step()
    >>> p.data
    array([ 0.9, -2.1])
    """

    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: ParamsLike,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        group["lr"] = float(check_scalar(group["lr"], "lr", low=0.0))
        group["momentum"] = float(check_scalar(group["momentum"], "momentum", low=0.0))
        group["weight_decay"] = float(check_scalar(group["weight_decay"], "weight_decay", low=0.0))
        group["nesterov"] = check_bool(group["nesterov"], "nesterov")
        if group["nesterov"] and group["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0; got momentum=0.0")

    def _update(self, i: int, group: dict[str, Any], grads: list[np.ndarray], step: int) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        k0 = self._offset(i)
        for j, (p, g) in enumerate(zip(group["params"], grads, strict=True)):
            if wd != 0:
                g = g + wd * p.data
            if mu != 0:
                state = self.state.setdefault(k0 + j, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, dtype=p.data.dtype)  # b_1 = g_1
                else:
                    buf *= mu
                    buf += g
                g = g + mu * buf if group["nesterov"] else buf
            p.data -= lr * g
