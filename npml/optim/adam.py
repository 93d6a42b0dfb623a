"""Adam and AdamW: the same moment estimates, two ways to apply weight decay.

One step :math:`t` for parameters :math:`\\theta` with gradient :math:`g_t` is Algorithm 2
of Loshchilov & Hutter (2019, "Decoupled Weight Decay Regularization"), which writes Adam
(Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization") with both kinds of weight
decay side by side; the numbers are the algorithm's lines:

.. math::

    g_t &\\leftarrow g_t + \\lambda\\, \\theta_{t-1}
        && \\text{(6; Adam's L2 form only)} \\\\
    m_t &\\leftarrow \\beta_1 m_{t-1} + (1 - \\beta_1)\\, g_t && \\text{(7)} \\\\
    v_t &\\leftarrow \\beta_2 v_{t-1} + (1 - \\beta_2)\\, g_t^2 && \\text{(8)} \\\\
    \\hat m_t &\\leftarrow \\frac{m_t}{1 - \\beta_1^t}, \\qquad
        \\hat v_t \\leftarrow \\frac{v_t}{1 - \\beta_2^t} && \\text{(9, 10)} \\\\
    \\theta_t &\\leftarrow \\theta_{t-1}
        - \\eta\\, \\frac{\\hat m_t}{\\sqrt{\\hat v_t} + \\epsilon}
        - \\eta\\lambda\\, \\theta_{t-1}
        && \\text{(12; the last term in AdamW only)}

:class:`Adam` with ``weight_decay`` adds the L2 penalty's gradient to :math:`g_t` (line 6),
before the moments, so the decay is divided by :math:`\\sqrt{\\hat v_t}` like the rest of the
gradient: weights with large gradients are barely decayed. :class:`AdamW` leaves
:math:`g_t` alone and applies the decay to the weights directly (line 12's last term), so
every weight shrinks at the same relative rate :math:`1 - \\eta\\lambda`. With
``weight_decay=0`` the two are the same algorithm. ``amsgrad=True`` replaces :math:`v_t` in
:math:`\\hat v_t` by its running maximum :math:`\\max_{s \\le t} v_s` (Reddi et al., 2018,
"On the Convergence of Adam and Beyond").

The paper splits the step size into a learning rate :math:`\\alpha` and a schedule multiplier
:math:`\\eta_t`, and writes line 12 as :math:`\\theta_{t-1} - \\eta_t(\\alpha \\hat m_t /
(\\sqrt{\\hat v_t} + \\epsilon) + \\lambda\\theta_{t-1})`. Here, as in ``torch.optim.AdamW``,
:math:`\\eta` is ``lr`` with any schedule already applied (the paper's :math:`\\eta_t\\alpha`),
so AdamW's decay per step is ``lr * weight_decay``: its ``weight_decay`` is the paper's
:math:`\\lambda / \\alpha` (Adam's, in line 6, is the paper's :math:`\\lambda`).

The arithmetic follows ``torch.optim.Adam``/``AdamW`` operation for operation: the bias
corrections divide the step size and :math:`\\sqrt{v_t}` rather than :math:`m_t` and
:math:`v_t`, which is the same value,

.. math::

    \\eta\\, \\frac{\\hat m_t}{\\sqrt{\\hat v_t} + \\epsilon}
    = \\frac{\\eta}{1 - \\beta_1^t}\\,
      \\frac{m_t}{\\sqrt{v_t} / \\sqrt{1 - \\beta_2^t} + \\epsilon},

and AdamW shrinks :math:`\\theta` before the Adam step (which does not depend on
:math:`\\theta`), so the result is line 12's.

:func:`_adam_reference` below is this update in NumPy, one tensor at a time. ``step`` runs
the same arithmetic as one fused Numba pass over all of a group's tensors
(``_adam_kernel.py`` holds the kernel, ``_adam_fused.py`` the buffers and views that feed
it); a test checks that the two agree to the last bit in float64.
"""

from __future__ import annotations

import numpy as np

from npml.optim._adam_fused import FusedAdam
from npml.optim.base import ParamsLike


def _adam_reference(
    theta: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    v_max: np.ndarray | None,
    *,
    t: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decoupled: bool,
) -> None:
    """One Adam or AdamW step on one tensor, in place: the readable twin of the kernel.

    Parameters
    ----------
    theta : ndarray, shape (...)
        Parameter :math:`\\theta_{t-1}`, float32 or float64; becomes :math:`\\theta_t`.
    g : ndarray, shape (...)
        Gradient :math:`g_t` in ``theta``'s dtype (not modified).
    m, v : ndarray, shape (...)
        Moments :math:`m_{t-1}, v_{t-1}`; become :math:`m_t, v_t`.
    v_max : ndarray, shape (...), or None
        AMSGrad's running maximum of :math:`v` (updated); ``None`` for plain Adam.
    t : int
        The 1-based index of this step.
    lr, betas, eps, weight_decay : float
        :math:`\\eta`, :math:`(\\beta_1, \\beta_2)`, :math:`\\epsilon`, :math:`\\lambda`.
    decoupled : bool
        AdamW's decay (``True``) or Adam's L2 penalty (``False``).

    Notes
    -----
    The hyperparameters stay Python floats, which NumPy converts to the arrays' dtype in
    each operation, so float32 tensors are updated in float32 arithmetic, as by the kernel.
    """
    beta1, beta2 = betas
    if decoupled:
        theta *= 1 - lr * weight_decay  # line 12's last term, applied first
    elif weight_decay != 0:
        g = g + weight_decay * theta  # line 6
    m[...] = beta1 * m + (1 - beta1) * g  # line 7
    v[...] = beta2 * v + (1 - beta2) * g * g  # line 8
    v_hat = v if v_max is None else np.maximum(v_max, v, out=v_max)  # AMSGrad: largest v
    # lines 9, 10 and 12 with the bias corrections on the step size and sqrt(v)
    denom = np.sqrt(v_hat) / (1 - beta2**t) ** 0.5 + eps
    theta -= lr / (1 - beta1**t) * (m / denom)


class Adam(FusedAdam):
    """Adam with L2 weight decay added to the gradient (coupled; see the module docstring).

    Parameters
    ----------
    params : Module, iterable of Parameter or (name, Parameter), or list of dict
        What to optimise; dicts are parameter groups with their own hyperparameters.
    lr : float, default 1e-3
        Learning rate :math:`\\eta >= 0`.
    betas : (float, float), default (0.9, 0.999)
        Decay rates :math:`\\beta_1, \\beta_2` of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        :math:`\\epsilon > 0` added to the denominator.
    weight_decay : float, default 0.0
        L2 coefficient :math:`\\lambda >= 0`; its gradient :math:`\\lambda\\theta` joins
        :math:`g` and so passes through :math:`m` and :math:`v`.
    amsgrad : bool, default False
        Divide by the running maximum of :math:`v` (AMSGrad).

    Notes
    -----
    The readable update is :func:`_adam_reference` in this module; ``step`` runs the fused
    Numba kernel (``npml/optim/_adam_fused.py``), which computes the same thing in one pass
    over all parameters.
    """

    _decoupled = False

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class AdamW(FusedAdam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Each step first shrinks the weights, :math:`\\theta \\leftarrow (1 - \\eta\\lambda)
    \\theta`, then takes the Adam step on the raw gradient; the decay never enters
    :math:`m` or :math:`v`. Arguments as :class:`Adam`, except ``weight_decay`` defaults to
    ``1e-2`` (PyTorch's default).

    Examples
    --------
    >>> import numpy as np
    >>> import npml
    >>> p = npml.nn.Parameter(np.array([1.0, 1.0]))
    >>> opt = AdamW([p], lr=0.1, weight_decay=0.5)
    >>> p.grad = np.array([0.0, 1.0])
    >>> opt.step()
    >>> p.data  # decay 1 - 0.1 * 0.5 = 0.95 on both, then an Adam step of ~lr on the second
    array([0.95, 0.85])
    """

    _decoupled = True

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
