"""Sequence likelihood calibration (SLiC): calibration losses and regularisers, with gradients.

Zhao et al. (2022), "Calibrating Sequence Likelihood Improves Conditional Language
Generation", fine-tune a model so that its sequence log-likelihoods
:math:`\\log P_\\theta(y \\mid x)` rank candidates :math:`\\hat y` by their quality
:math:`s(\\hat y)` (similarity to the reference target :math:`\\bar y`). The loss is a
calibration term plus :math:`\\lambda` times a regulariser:

.. math::

    L = L_{cal}(\\theta; x, \\{\\hat y\\}) + \\lambda L_{reg}(\\theta; x, \\bar y).

Calibration losses (:math:`y^+` better than :math:`y^-`; lists sorted best first):

.. math::

    L_{rank}   &= \\max(0,\\ \\delta - \\log P(y^+) + \\log P(y^-))                  \\\\
    L_{margin} &= \\max(0,\\ \\beta (s(y^+) - s(y^-)) - \\log P(y^+) + \\log P(y^-)) \\\\
    L_{list}   &= \\sum_{i < j} \\max(0,\\ \\beta (j - i) - \\log P(y_i) + \\log P(y_j))\\\\
    L_{reward} &= -\\sum_i s(y_i)\\, \\frac{P(y_i)}{\\sum_j P(y_j)}

Regularisers, on the reference target :math:`\\bar y` (token positions *t*):

.. math::

    L_{CE} &= -\\sum_t \\log P_\\theta(\\bar y_t \\mid \\bar y_{<t}, x)              \\\\
    L_{KL} &= \\sum_t \\sum_v P_{ft}(v \\mid \\bar y_{<t}, x)
              \\log \\frac{P_{ft}(v \\mid \\bar y_{<t}, x)}{P_\\theta(v \\mid \\bar y_{<t}, x)}

with :math:`P_{ft}` the frozen fine-tuned model the calibration starts from. The
calibration terms only compare candidates, so on their own they may move the model far from
what it learnt; the regularisers hold it near the target or near :math:`P_{ft}`.

Every function averages over the batch and returns ``(loss, grads)``: the sequence-level
losses take log-probabilities (from :func:`npml.preference.sequence_logps`) and return
gradients with respect to them; the regularisers take logits and return ``dlogits``.
Hinge gradients at the kink (margin exactly :math:`\\delta`) are taken as 0.
"""

from __future__ import annotations

import numpy as np

from npml._checks import check_array, check_scalar, trusted_inputs
from npml.ops import log_softmax
from npml.preference.sequence import _check, sequence_logps_backward, sequence_logps_forward

Grads = tuple[np.ndarray, np.ndarray]


def _pair(logp_pos: np.ndarray, logp_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = check_array(logp_pos, "logp_pos", ndim=1, min_size=1)
    neg = check_array(logp_neg, "logp_neg", ndim=1)
    if neg.shape != pos.shape:
        raise ValueError(f"logp_neg has shape {neg.shape}; expected {pos.shape} like logp_pos")
    return pos, neg


def _hinge(target_margin: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> tuple[float, Grads]:
    """mean max(0, target_margin - pos + neg) and its gradients."""
    slack = target_margin - pos + neg  # (B,)
    active = (slack > 0).astype(pos.dtype) / pos.shape[0]
    return float(np.mean(np.maximum(slack, 0.0))), (-active, active)


def slic_rank_loss(logp_pos: np.ndarray, logp_neg: np.ndarray, delta: float = 1.0):
    """:math:`L_{rank}`: zero once :math:`\\log P(y^+) - \\log P(y^-) \\ge \\delta`.

    Parameters
    ----------
    logp_pos, logp_neg : ndarray, shape (B,)
        Sequence log-probabilities of the better and the worse candidate.
    delta : float, default 1.0
        The margin, >= 0.

    Returns
    -------
    loss : float
    (d_logp_pos, d_logp_neg) : tuple of ndarray, shape (B,)
    """
    delta = float(check_scalar(delta, "delta", low=0.0))
    pos, neg = _pair(logp_pos, logp_neg)
    return _hinge(np.full_like(pos, delta), pos, neg)


def slic_margin_loss(
    logp_pos: np.ndarray,
    logp_neg: np.ndarray,
    score_pos: np.ndarray,
    score_neg: np.ndarray,
    beta: float = 1.0,
) -> tuple[float, Grads]:
    """:math:`L_{margin}`: the rank loss with a margin proportional to the quality gap.

    ``score_pos``, ``score_neg`` (B,) are the candidates' qualities :math:`s`; ``beta`` > 0
    scales their difference into a log-probability margin. Returns as
    :func:`slic_rank_loss`.
    """
    beta = float(check_scalar(beta, "beta", low=0.0, low_inclusive=False))
    pos, neg = _pair(logp_pos, logp_neg)
    s_pos = check_array(score_pos, "score_pos", ndim=1)
    s_neg = check_array(score_neg, "score_neg", ndim=1)
    if s_pos.shape != pos.shape or s_neg.shape != pos.shape:
        raise ValueError(
            f"score_pos {s_pos.shape} and score_neg {s_neg.shape} must have shape {pos.shape}"
        )
    return _hinge(beta * (s_pos - s_neg), pos, neg)


def slic_listwise_rank_loss(
    logps: np.ndarray, scores: np.ndarray, beta: float = 1.0
) -> tuple[float, np.ndarray]:
    """:math:`L_{list}`: a hinge for every pair of a ranked list, margin :math:`\\beta (j - i)`.

    Parameters
    ----------
    logps : ndarray, shape (B, m)
        Log-probabilities of *m* candidates per example.
    scores : ndarray, shape (B, m)
        Their qualities; candidates are ranked by descending score (rank 0 the best). Pairs
        with equal scores carry no preference and are skipped.
    beta : float, default 1.0
        Margin per rank step, > 0.

    Returns
    -------
    loss : float
        Mean over the batch of the sum over pairs.
    d_logps : ndarray, shape (B, m)
    """
    beta = float(check_scalar(beta, "beta", low=0.0, low_inclusive=False))
    logps = check_array(logps, "logps", ndim=2, min_size=1)
    scores = check_array(scores, "scores", ndim=2)
    if scores.shape != logps.shape:
        raise ValueError(f"scores has shape {scores.shape}; expected {logps.shape} like logps")
    B = logps.shape[0]
    rank = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)  # (B, m), 0 = best
    # Pair (a, b) counts when a is strictly better: its rank is smaller.
    better = scores[:, :, None] > scores[:, None, :]  # (B, m, m)
    margin = beta * (rank[:, None, :] - rank[:, :, None])  # (B, m, m), beta (r_b - r_a)
    slack = margin - logps[:, :, None] + logps[:, None, :]  # (B, m, m)
    active = better & (slack > 0)
    loss = float(np.sum(np.where(active, slack, 0.0)) / B)
    w = active.astype(logps.dtype) / B
    d_logps = -w.sum(axis=2) + w.sum(axis=1)  # a gets -1, b gets +1 per active pair
    return loss, d_logps


def slic_expected_reward_loss(logps: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """:math:`L_{reward}`: minus the quality expected under the candidates' renormalised
    probabilities :math:`q = \\operatorname{softmax}(\\log P)`.

    ``logps``, ``scores`` (B, m). Returns the batch mean and
    :math:`\\partial L / \\partial \\log P_i = -q_i (s_i - \\sum_j q_j s_j) / B`, shape (B, m).
    """
    logps = check_array(logps, "logps", ndim=2, min_size=1)
    scores = check_array(scores, "scores", ndim=2)
    if scores.shape != logps.shape:
        raise ValueError(f"scores has shape {scores.shape}; expected {logps.shape} like logps")
    B = logps.shape[0]
    q = np.exp(logps - logps.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)  # (B, m)
    expected = np.sum(q * scores, axis=1, keepdims=True)  # (B, 1)
    return float(-np.mean(expected)), -q * (scores - expected) / B


def slic_cross_entropy_regularizer(
    logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """:math:`L_{CE}`: minus the reference target's log-probability, batch mean.

    ``logits`` (B, T, V) score ``targets`` (B, T) at the same positions (the caller shifts,
    as in :func:`npml.preference.sequence_logps`); ``mask`` (B, T) selects the target
    tokens. Returns ``(loss, dlogits)``.
    """
    logits, targets, mask = _check(logits, targets, mask, "targets")  # errors name targets
    with trusted_inputs():  # checked: the forward does not scan the logits again
        logps, cache = sequence_logps_forward(logits, targets, mask)
    B = logps.shape[0]
    return float(-np.mean(logps)), sequence_logps_backward(np.full(B, -1.0 / B), cache)


def slic_kl_regularizer(
    logits: np.ndarray, ref_logits: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """:math:`L_{KL}`: token-level :math:`KL(P_{ft} \\Vert P_\\theta)` summed over the masked
    positions, batch mean.

    Parameters
    ----------
    logits : ndarray, shape (B, T, V)
        The model being calibrated, on the reference target.
    ref_logits : ndarray, shape (B, T, V)
        The frozen fine-tuned model on the same positions.
    mask : ndarray of 0/1, shape (B, T), optional
        Positions that count; default all.

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (B, T, V)
        :math:`m_t (P_\\theta - P_{ft}) / B`.
    """
    logits = check_array(logits, "logits", ndim=3, min_size=1)
    ref_logits = check_array(ref_logits, "ref_logits", ndim=3)
    if ref_logits.shape != logits.shape:
        raise ValueError(f"ref_logits has shape {ref_logits.shape}; expected {logits.shape}")
    B, T, _ = logits.shape
    if mask is None:
        mask = np.ones((B, T))
    mask = check_array(mask, "mask", ndim=2, dtype=None).astype(logits.dtype)
    if mask.shape != (B, T) or not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"mask must be 0/1 of shape {(B, T)}; got shape {mask.shape}")
    log_p, log_ref = log_softmax(logits), log_softmax(ref_logits)  # (B, T, V)
    p_ref = np.exp(log_ref)
    kl = np.sum(p_ref * (log_ref - log_p), axis=-1)  # (B, T)
    loss = float(np.sum(kl * mask) / B)
    dlogits = (np.exp(log_p) - p_ref) * (mask[..., None] / B)
    return loss, dlogits
