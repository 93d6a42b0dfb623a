"""Direct preference losses: DPO, IPO and the general PsiPO, with their gradients.

A policy :math:`\\pi` is trained from pairs :math:`y_w \\succ y_l` against a frozen reference
:math:`\\pi_{ref}`, through the difference of log-ratios

.. math::

    h = \\log\\frac{\\pi(y_w)}{\\pi_{ref}(y_w)} - \\log\\frac{\\pi(y_l)}{\\pi_{ref}(y_l)} .

**DPO** (Rafailov et al., 2023) fits the Bradley-Terry likelihood of the implicit reward
:math:`\\beta \\log \\pi / \\pi_{ref}`:

.. math::

    L_{DPO} = -\\log \\sigma(\\beta h).                                        \\tag{1}

**PsiPO** (Azar et al., 2023, "A General Theoretical Paradigm to Understand Learning from
Human Preferences") maximises :math:`E_{y \\sim \\pi, y' \\sim \\mu}[\\Psi(p^*(y \\succ y'))]
- \\tau\\, KL(\\pi \\Vert \\pi_{ref})`, whose optimum has log-ratio differences
:math:`h^*(y, y') = (g(y) - g(y')) / \\tau` with :math:`g(y) = E_{y'' \\sim \\mu}
\\Psi(p^*(y \\succ y''))`. Taking :math:`\\mu` uniform on the two responses of a pair in
which :math:`y_w` is preferred with probability :math:`p`, the target is
:math:`(\\Psi(p) - \\Psi(1 - p)) / (2 \\tau)` and the loss regresses :math:`h` onto it:

.. math::

    L_{\\Psi PO} = \\left(h - \\frac{\\Psi(p) - \\Psi(1 - p)}{2 \\tau}\\right)^2 .  \\tag{2}

**IPO** is :math:`\\Psi` = identity with deterministic labels (:math:`p = 1`):

.. math::

    L_{IPO} = \\left(h - \\frac{1}{2 \\tau}\\right)^2 .                          \\tag{3}

With :math:`\\Psi = \\mathrm{logit}` (the Bradley-Terry link) the target
:math:`\\mathrm{logit}(p) / \\tau` is the log-ratio gap at which the expected DPO loss with
:math:`\\beta = \\tau` is smallest, i.e. RLHF's and DPO's optimum. For a deterministic
preference (:math:`p = 1`) that target is infinite: DPO drives :math:`\\pi(y_l) \\to 0`
however strong the regularisation, whereas IPO's bounded :math:`\\Psi` keeps the gap at
:math:`1 / (2 \\tau)`. This is the paper's argument for IPO, and the tests train a tabular
policy to show it.

Each function returns the batch mean of the loss and its gradients with respect to the
policy's log-probabilities :math:`\\log \\pi(y_w)`, :math:`\\log \\pi(y_l)` (the reference's
are constants). Chain them through :func:`npml.preference.sequence_logps_backward` to train
a language model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from npml._checks import check_array, check_scalar

Grads = tuple[np.ndarray, np.ndarray]


def _check_logps(*arrays: np.ndarray) -> list[np.ndarray]:
    names = ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps")
    names += ("ref_rejected_logps",)
    out = [check_array(a, n, ndim=1, min_size=1) for a, n in zip(arrays, names, strict=True)]
    for a, n in zip(out[1:], names[1:], strict=True):
        if a.shape != out[0].shape:
            raise ValueError(f"{n} has shape {a.shape}; expected {out[0].shape} like {names[0]}")
    return out


def log_ratio_margin(
    policy_chosen_logps: np.ndarray,
    policy_rejected_logps: np.ndarray,
    ref_chosen_logps: np.ndarray,
    ref_rejected_logps: np.ndarray,
) -> np.ndarray:
    """The DPO margin ``h``: how much more than the reference the policy prefers ``y_w``.

    ``h = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))``, the difference of
    the two log-ratios that DPO, IPO and SLiC losses are functions of (see
    :mod:`npml.preference.losses`).

    Parameters
    ----------
    policy_chosen_logps, policy_rejected_logps : ndarray, shape (B,)
        Sequence log-probabilities under the policy (:func:`sequence_logps`).
    ref_chosen_logps, ref_rejected_logps : ndarray, shape (B,)
        The same under the frozen reference model.

    Returns
    -------
    h : ndarray, shape (B,)

    Raises
    ------
    ValueError
        When the shapes differ or ``h`` overflows float64.

    Examples
    --------
    >>> log_ratio_margin(np.array([-1.0]), np.array([-3.0]), np.array([-2.0]), np.array([-2.0]))
    array([2.])
    """
    pc, pr, rc, rr = _check_logps(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    with np.errstate(over="ignore", invalid="ignore"):
        h = (pc - rc) - (pr - rr)
    if not np.isfinite(h).all():
        raise ValueError(
            "the log-ratio margin (policy_chosen_logps - ref_chosen_logps) - "
            "(policy_rejected_logps - ref_rejected_logps) overflows float64; the "
            "log-probabilities reach "
            f"{max(np.max(np.abs(a)) for a in (pc, pr, rc, rr)):g}"
        )
    return h


def dpo_loss(
    policy_chosen_logps: np.ndarray,
    policy_rejected_logps: np.ndarray,
    ref_chosen_logps: np.ndarray,
    ref_rejected_logps: np.ndarray,
    beta: float,
) -> tuple[float, Grads]:
    """Direct preference optimisation loss, Eq. (1), averaged over the batch.

    Parameters
    ----------
    policy_chosen_logps, policy_rejected_logps : ndarray, shape (B,)
        :math:`\\log \\pi(y_w)` and :math:`\\log \\pi(y_l)` under the policy being trained.
    ref_chosen_logps, ref_rejected_logps : ndarray, shape (B,)
        The same under the frozen reference policy.
    beta : float
        Inverse temperature of the implicit reward, > 0.

    Returns
    -------
    loss : float
    (d_policy_chosen_logps, d_policy_rejected_logps) : tuple of ndarray, shape (B,)
        :math:`\\partial L / \\partial \\log \\pi(y_w) = -\\beta \\sigma(-\\beta h) / B` and its
        negative.
    """
    beta = float(check_scalar(beta, "beta", low=0.0, low_inclusive=False))
    h = log_ratio_margin(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    B = h.shape[0]
    with np.errstate(over="ignore"):
        z = beta * h
    if not np.isfinite(z).all():
        raise ValueError(
            f"beta * margin overflows float64 (beta={beta:g}, |margin| up to "
            f"{np.max(np.abs(h)):g}); expected a smaller beta"
        )
    loss = float(np.mean(np.logaddexp(0.0, -z)))  # -log sigma(z), stable for any z
    dh = -beta * 0.5 * (1.0 - np.tanh(0.5 * z)) / B  # -beta sigma(-z) / B
    return loss, (dh, -dh)


def psipo_loss(
    policy_chosen_logps: np.ndarray,
    policy_rejected_logps: np.ndarray,
    ref_chosen_logps: np.ndarray,
    ref_rejected_logps: np.ndarray,
    tau: float,
    psi: str | Callable[[np.ndarray], np.ndarray] = "identity",
    p: float | np.ndarray = 1.0,
) -> tuple[float, Grads]:
    """The PsiPO regression loss, Eq. (2), averaged over the batch.

    Parameters
    ----------
    policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
        As in :func:`dpo_loss`, each shape (B,).
    tau : float
        KL regularisation strength, > 0.
    psi : {"identity", "logit"} or callable, default "identity"
        The non-decreasing map :math:`\\Psi` of preference probabilities; a callable gets an
        array of probabilities. "identity" gives IPO, "logit" the RLHF/DPO optimum.
    p : float or ndarray of shape (B,), default 1.0
        Probability that the chosen response is preferred (1 for deterministic labels).

    Returns
    -------
    loss : float
    (d_policy_chosen_logps, d_policy_rejected_logps) : tuple of ndarray, shape (B,)
        :math:`2 (h - \\text{target}) / B` and its negative.
    """
    tau = float(check_scalar(tau, "tau", low=0.0, low_inclusive=False))
    h = log_ratio_margin(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    p = check_array(p, "p", ndim=(0, 1))
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p has values outside [0, 1] (min {p.min()}, max {p.max()})")
    if p.ndim == 1 and p.shape != h.shape:
        raise ValueError(f"p has shape {p.shape}; expected a scalar or shape {h.shape}")
    if psi == "identity":
        gap = 2.0 * p - 1.0  # Psi(p) - Psi(1 - p)
    elif psi == "logit":
        with np.errstate(divide="ignore"):
            gap = 2.0 * (np.log(p) - np.log1p(-p))
    elif callable(psi):
        gap = np.asarray(psi(p), dtype=np.float64) - np.asarray(psi(1.0 - p), dtype=np.float64)
    else:
        raise ValueError(f"psi={psi!r}; expected 'identity', 'logit' or a callable")
    if not np.all(np.isfinite(gap)):
        raise ValueError(
            f"psi(p) - psi(1 - p) is infinite for psi={psi!r} and p={p}: with an unbounded "
            "psi (logit, the Bradley-Terry link behind DPO) a deterministic preference has "
            "an infinitely large optimal log-ratio gap. Use p < 1 or psi='identity' (IPO)."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        target = gap / (2.0 * tau)  # the optimal margin Psi-gap / (2 tau)
        diff = h - target  # (B,)
        sq = diff**2
    if not np.isfinite(target).all():
        raise ValueError(f"tau={tau:g} is too small: the target margin 1 / (2 tau) overflows")
    if not np.isfinite(sq).all():
        raise ValueError(
            f"the squared residual (margin - 1 / (2 tau))^2 overflows float64 (tau={tau:g}, "
            f"|margin| up to {np.max(np.abs(h)):g}); expected a larger tau or smaller margins"
        )
    loss = float(np.mean(sq))
    dh = 2.0 * diff / h.shape[0]
    return loss, (dh, -dh)


def ipo_loss(
    policy_chosen_logps: np.ndarray,
    policy_rejected_logps: np.ndarray,
    ref_chosen_logps: np.ndarray,
    ref_rejected_logps: np.ndarray,
    tau: float,
) -> tuple[float, Grads]:
    """Identity preference optimisation loss, Eq. (3), averaged over the batch.

    Its minimiser keeps a finite log-ratio gap :math:`h = 1 / (2 \\tau)` even for a
    deterministic preference. Arguments and returns as in :func:`psipo_loss`.
    """
    return psipo_loss(
        policy_chosen_logps,
        policy_rejected_logps,
        ref_chosen_logps,
        ref_rejected_logps,
        tau,
        psi="identity",
        p=1.0,
    )
