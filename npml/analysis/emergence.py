"""Emergent abilities as a choice of metric (Schaeffer, Miranda & Koyejo, 2023).

"Are Emergent Abilities of Large Language Models a Mirage?" argues that abilities which
seem to switch on suddenly with scale come from *nonlinear or discontinuous metrics*, not
from sudden changes in the models. Suppose the per-token cross-entropy falls as a smooth
power law in the number of parameters :math:`N`,

.. math::

    \\mathcal{L}_{CE}(N) = (N / c)^{\\alpha}, \\quad \\alpha < 0, \\qquad
    p(N) = e^{-\\mathcal{L}_{CE}(N)}                                           \\tag{1}

the probability of getting one token right. Scored on a target of :math:`L` tokens,

.. math::

    \\mathrm{ExactMatch}(N) = p(N)^{L}, \\qquad
    \\mathrm{TokenEditDistance}(N) \\approx L\\,(1 - p(N)).                    \\tag{2}

Exact match is exponential in :math:`L (1 - p)`: :math:`p^L \\le e^{-L (1 - p)}`, so it is
near zero only while :math:`1 - p` is several times :math:`1 / L` (below 0.05 once
:math:`1 - p > 3 / L`, as :math:`e^{-3} < 0.05`); at :math:`1 - p = 1 / L` it is already
about :math:`e^{-1} \\approx 0.37`, and above 0.9 once :math:`1 - p < 0.1 / L` (as
:math:`p^L \\ge 1 - L (1 - p)`). A thirtyfold fall of the per-token error takes it from
nothing to nearly everything, which on a log-:math:`N` axis with a handful of model sizes
looks like an ability appearing. The edit distance is linear in the per-token
error and follows the smooth power law the whole way: the "ability" was improving all
along. The Brier score (a proper score of the predicted distribution) is smooth too.

:func:`simulate_scaling` draws predictions from models obeying Eq. (1) and scores them with
every metric of this module, to reproduce the paper's figures and test Eq. (2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import as_rng, check_array, check_scalar


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # token ids: integers (whole-number floats are converted); 1.5 or a probability is an
    # error, not a token that never matches
    pred = check_array(pred, "pred", ndim=(1, 2), dtype="int")
    target = check_array(target, "target", ndim=(1, 2), dtype="int")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {pred.shape} but target has {target.shape}")
    return np.atleast_2d(pred), np.atleast_2d(target)


def exact_match(pred: np.ndarray, target: np.ndarray) -> float:
    """Fraction of sequences predicted exactly, token for token.

    ``pred`` and ``target`` are token ids (integers) of shape (L,) (one sequence) or (N, L).
    """
    pred, target = _pair(pred, target)
    if pred.shape[0] == 0:
        raise ValueError("pred and target hold no sequences (0 rows); expected at least one")
    return float(np.mean(np.all(pred == target, axis=1)))


def token_accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    """Fraction of tokens predicted right, over all positions (and rows).

    Parameters
    ----------
    pred, target : ndarray of int, shape (L,) or (N, L)
        Predicted and true tokens, the same shape.

    Returns
    -------
    float
        In ``[0, 1]``; a smooth metric where exact match (all ``L`` right) jumps (see
        :mod:`npml.analysis.emergence`).

    Examples
    --------
    >>> token_accuracy(np.array([[1, 2, 3], [1, 0, 3]]), np.array([[1, 2, 3], [1, 2, 3]]))
    0.8333333333333334
    """
    pred, target = _pair(pred, target)
    if pred.size == 0:
        raise ValueError("pred and target hold no tokens; expected at least one")
    return float(np.mean(pred == target))


def token_edit_distance(pred: np.ndarray, target: np.ndarray) -> int | np.ndarray:
    """Levenshtein distance between token sequences (insertions, deletions, substitutions).

    Parameters
    ----------
    pred, target : ndarray of int
        Shapes (m,) and (n,) for one pair, or (N, m) and (N, n) for N row pairs; the
        lengths may differ.

    Returns
    -------
    int, or ndarray of int of shape (N,)
    """
    from npml.analysis._levenshtein import _levenshtein_kernel, _levenshtein_rows_kernel

    pred = check_array(pred, "pred", ndim=(1, 2), dtype="int")
    target = check_array(target, "target", ndim=(1, 2), dtype="int")
    if pred.ndim != target.ndim or (pred.ndim == 2 and pred.shape[0] != target.shape[0]):
        raise ValueError(
            f"pred has shape {pred.shape} and target {target.shape}; expected two 1-D "
            "sequences or two 2-D arrays with the same number of rows"
        )
    pred = np.ascontiguousarray(pred, dtype=np.int64)
    target = np.ascontiguousarray(target, dtype=np.int64)
    if pred.ndim == 1:
        return int(_levenshtein_kernel(pred, target))
    return _levenshtein_rows_kernel(pred, target)


def brier_score(probs: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error of predicted probabilities (Brier, 1950).

    .. math::

        \\mathrm{BS} = \\frac{1}{N} \\sum_n \\sum_k (q_{nk} - [y_n = k])^2

    Parameters
    ----------
    probs : ndarray
        Either (..., K) distributions over K classes (rows sum to 1), or (...) probabilities
        of a binary event.
    target : ndarray of int
        (...) class labels in [0, K), or (...) binary outcomes in {0, 1}.

    Returns
    -------
    float
        0 for certain and right; 1 - 1/K for a uniform guess over K classes.
    """
    probs = check_array(probs, "probs", min_size=1)
    target = check_array(target, "target", dtype="int")
    if np.any((probs < 0) | (probs > 1)):
        raise ValueError("probs has values outside [0, 1]")
    if probs.shape == target.shape:  # binary event
        if np.any((target != 0) & (target != 1)):
            raise ValueError("target must be 0/1 when probs has the same shape (binary event)")
        return float(np.mean((probs - target) ** 2))
    if probs.shape[:-1] != target.shape:
        raise ValueError(
            f"probs has shape {probs.shape} and target {target.shape}; expected probs "
            "(..., K) with target (...), or equal shapes for a binary event"
        )
    K = probs.shape[-1]
    if not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("probs rows do not sum to 1; expected distributions over the last axis")
    if np.any((target < 0) | (target >= K)):
        raise ValueError(f"target has labels outside [0, {K})")
    onehot = np.arange(K) == target[..., None]  # (..., K)
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=-1)))


class ScalingResult(NamedTuple):
    """Metrics of simulated models, one entry per model size (``S`` sizes).

    Returned by :func:`simulate_scaling`; each field is an array of shape ``(S,)``, commented
    below (``n_params`` the sizes ``N``, then the per-token accuracy ``p(N)`` of Eq. (1) in
    :mod:`npml.analysis.emergence`, the expected and measured exact match, the measured token
    accuracy, the mean edit distance and its standard error, and the Brier score).
    """

    n_params: np.ndarray  # (S,) model sizes N
    per_token_accuracy: np.ndarray  # (S,) p(N) of Eq. (1)
    exact_match_expected: np.ndarray  # (S,) p(N)^L
    exact_match: np.ndarray  # (S,) measured on the samples
    token_accuracy: np.ndarray  # (S,) measured
    edit_distance: np.ndarray  # (S,) mean token edit distance, measured
    edit_distance_se: np.ndarray  # (S,) its standard error
    brier: np.ndarray  # (S,) Brier score of the per-token distributions


def simulate_scaling(
    n_params: np.ndarray | None = None,
    seq_len: int = 20,
    vocab_size: int = 50,
    n_samples: int = 1000,
    c: float = 1e7,
    alpha: float = -0.5,
    rng: None | int | np.random.Generator = None,
) -> ScalingResult:
    """Score models whose per-token loss is a power law in size, with every metric.

    A model of size N predicts each of ``seq_len`` target tokens right with probability
    p(N) (Eq. 1); a wrong token is uniform over the other ``vocab_size - 1``. Its predictive
    distribution puts p on the right token and spreads the rest evenly (that is what the
    Brier score scores).

    Parameters
    ----------
    n_params : ndarray, shape (S,), optional
        Model sizes; default ``np.logspace(7, 11, 17)``.
    seq_len : int, default 20
        Target length L.
    vocab_size : int, default 50
    n_samples : int, default 1000
        Target sequences per model size.
    c, alpha : float, defaults 1e7 and -0.5
        Power law of Eq. (1); ``alpha < 0``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ScalingResult
    """
    n_params = np.logspace(7, 11, 17) if n_params is None else n_params
    N = check_array(n_params, "n_params", ndim=1, min_size=1)
    if np.any(N <= 0):
        raise ValueError("n_params must be positive")
    L = check_scalar(seq_len, "seq_len", kind=(int, np.integer), low=1)
    V = check_scalar(vocab_size, "vocab_size", kind=(int, np.integer), low=2)
    n = check_scalar(n_samples, "n_samples", kind=(int, np.integer), low=2)
    c = float(check_scalar(c, "c", low=0.0, low_inclusive=False))
    alpha = float(check_scalar(alpha, "alpha", high=0.0, high_inclusive=False))
    rng = as_rng(rng)
    with np.errstate(over="ignore"):  # N / c = inf gives loss 0 and p = 1, the limit
        p = np.exp(-((N / c) ** alpha))  # Eq. (1)
    out = {k: np.empty(N.size) for k in ("em", "acc", "ed", "ed_se", "brier")}
    for s, p_s in enumerate(p):
        target = rng.integers(0, V, size=(n, L))
        right = rng.random((n, L)) < p_s
        wrong = (target + rng.integers(1, V, size=(n, L))) % V  # uniform over the others
        pred = np.where(right, target, wrong)
        ed = token_edit_distance(pred, target)
        probs = np.full((n, L, V), (1.0 - p_s) / (V - 1))
        np.put_along_axis(probs, target[..., None], p_s, axis=-1)
        out["em"][s] = exact_match(pred, target)
        out["acc"][s] = token_accuracy(pred, target)
        out["ed"][s] = ed.mean()
        out["ed_se"][s] = ed.std(ddof=1) / np.sqrt(n)
        out["brier"][s] = brier_score(probs, target)
    return ScalingResult(
        n_params=N,
        per_token_accuracy=p,
        exact_match_expected=p**L,
        exact_match=out["em"],
        token_accuracy=out["acc"],
        edit_distance=out["ed"],
        edit_distance_se=out["ed_se"],
        brier=out["brier"],
    )
