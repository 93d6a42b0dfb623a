"""Gradient clipping by the global L2 norm.

All gradients are treated as one long vector :math:`g` and rescaled together when it is too
long, which keeps the update's direction and bounds its size (Pascanu, Mikolov & Bengio,
2013, "On the difficulty of training recurrent neural networks"):

.. math::

    \\|g\\|_2 = \\Big(\\sum_{\\text{tensors } i} \\|g_i\\|_2^2\\Big)^{1/2}, \\qquad
    g \\leftarrow g \\cdot \\min\\Big(1, \\frac{c}{\\|g\\|_2 + 10^{-6}}\\Big).

The :math:`10^{-6}` and the order of operations are those of
``torch.nn.utils.clip_grad_norm_``: gradients whose norm is below ``max_norm`` are
multiplied by exactly 1, i.e. left alone.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_scalar
from npml.ops import l2_norm
from npml.optim._params import as_groups, parse_params
from npml.optim.base import Optimizer, ParamsLike


def clip_grad_norm(params: ParamsLike | Optimizer, max_norm: float) -> float:
    """Rescale the gradients in place so that their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    params : Module, iterable of Parameter or (name, Parameter), parameter groups or Optimizer
        Whose gradients to clip; parameters whose ``grad`` is ``None`` are skipped.
    max_norm : float
        The ceiling :math:`c > 0`.

    Returns
    -------
    float
        The global norm **before** clipping (handy for logging).

    Raises
    ------
    ValueError
        If a gradient contains NaN or inf (named; nothing is rescaled).
    """
    max_norm = float(check_scalar(max_norm, "max_norm", low=0.0, low_inclusive=False))
    if isinstance(params, Optimizer):
        groups = [
            {"params": list(zip(g["param_names"], g["params"], strict=True))}
            for g in params.param_groups
        ]
    else:
        groups = as_groups(params)
    named = []
    k = 0
    for i, group in enumerate(groups):
        ps, names = parse_params(group["params"], f"params group {i}")
        for p, name in zip(ps, names, strict=True):
            named.append((name if name is not None else f"params[{k}]", p))
            k += 1
    grads, norms = [], []
    for name, p in named:
        if p.grad is None:
            continue
        g = p.grad
        if not np.isfinite(g).all():
            n_bad = int(g.size - np.count_nonzero(np.isfinite(g)))
            raise ValueError(
                f"gradient of parameter {name!r} contains {n_bad} non-finite value(s) (NaN or "
                "inf); cannot clip it"
            )
        grads.append(g)
        norms.append(l2_norm(g))
    if not grads:
        return 0.0
    total = l2_norm(np.array(norms, dtype=np.float64))  # ||g||_2 of the concatenation
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total
