import numpy as np
import pytest

from npml.preference.sequence import (
    sequence_logps,
    sequence_logps_backward,
    sequence_logps_forward,
)
from npml.preference.slic import (
    slic_cross_entropy_regularizer,
    slic_expected_reward_loss,
    slic_kl_regularizer,
    slic_listwise_rank_loss,
    slic_margin_loss,
    slic_rank_loss,
)
from npml.testing import check_gradient


def away_from_kinks(x, delta):
    """Hinge gradients are checked where no slack sits within 1e-3 of its kink."""
    return np.all(np.abs(x - delta) > 1e-3)


@pytest.mark.parametrize("B", [1, 6])
def test_pairwise_hinge_gradients(rng, B):
    pos, neg = rng.normal(size=B) * 2, rng.normal(size=B) * 2
    s_pos, s_neg = rng.random(B), rng.random(B)
    assert away_from_kinks(pos - neg, 1.0)
    rank = lambda p, n: slic_rank_loss(p, n, delta=1.0)
    margin = lambda p, n: slic_margin_loss(p, n, s_pos, s_neg, beta=1.5)
    for f in (rank, margin):
        _, (d_pos, d_neg) = f(pos, neg)
        assert check_gradient(lambda x, f=f: f(x, neg)[0], pos, d_pos) < 1e-6
        assert check_gradient(lambda x, f=f: f(pos, x)[0], neg, d_neg) < 1e-6


def test_rank_loss_is_zero_once_the_margin_exceeds_delta():
    pos = np.array([-1.0, -1.0, -1.0])
    neg = np.array([-3.5, -2.5, -1.5])  # margins 2.5, 1.5, 0.5
    loss, (d_pos, d_neg) = slic_rank_loss(pos, neg, delta=1.0)
    assert loss == pytest.approx(0.5 / 3)  # only the third pair is inside the margin
    np.testing.assert_array_equal(d_pos, [0, 0, -1 / 3])
    loss, grads = slic_rank_loss(pos[:2], neg[:2], delta=1.0)
    assert loss == 0 and not np.any(grads[0]) and not np.any(grads[1])
    # The margin loss asks for a gap of beta (s+ - s-): none for equal qualities, and
    # more than the 0.5 of the third pair for a quality gap of 1 with beta = 1.
    s = np.zeros(3)
    assert slic_margin_loss(pos, neg, s, s)[0] == 0.0
    assert slic_margin_loss(pos, neg, s + 1, s)[0] == pytest.approx(0.5 / 3)


@pytest.mark.parametrize("B,m", [(1, 2), (3, 5)])
def test_listwise_and_expected_reward_gradients(rng, B, m):
    logps = rng.normal(size=(B, m)) * 3
    scores = rng.permutation(B * m).reshape(B, m).astype(float)  # no ties
    _, d = slic_listwise_rank_loss(logps, scores, beta=0.4)
    assert (
        check_gradient(lambda x: slic_listwise_rank_loss(x, scores, beta=0.4)[0], logps, d) < 1e-6
    )
    _, d = slic_expected_reward_loss(logps, scores)
    assert check_gradient(lambda x: slic_expected_reward_loss(x, scores)[0], logps, d) < 1e-6


def test_listwise_matches_explicit_pairs():
    logps = np.array([[-2.0, -1.0, -4.0]])
    scores = np.array([[0.9, 0.1, 0.5]])  # ranking: candidate 0, then 2, then 1
    beta = 1.0
    # pairs (better, worse, rank gap): (0, 2, 1), (0, 1, 2), (2, 1, 1)
    expected = max(0, 1 + logps[0, 2] - logps[0, 0])
    expected += max(0, 2 + logps[0, 1] - logps[0, 0])
    expected += max(0, 1 + logps[0, 1] - logps[0, 2])
    assert slic_listwise_rank_loss(logps, scores, beta)[0] == pytest.approx(expected)
    # Equal scores are no preference: nothing to rank.
    assert slic_listwise_rank_loss(logps, np.ones((1, 3)))[0] == 0.0


def test_expected_reward_value():
    logps = np.log(np.array([[0.1, 0.3]]))  # renormalised: 0.25, 0.75
    scores = np.array([[1.0, 2.0]])
    assert slic_expected_reward_loss(logps, scores)[0] == pytest.approx(-(0.25 + 1.5))


@pytest.mark.parametrize("B,T,V", [(1, 1, 3), (2, 4, 5)])
def test_regularizer_gradients(rng, B, T, V):
    logits = rng.normal(size=(B, T, V))
    ref = rng.normal(size=(B, T, V))
    targets = rng.integers(0, V, size=(B, T))
    mask = np.ones((B, T))
    mask[-1, -1] = 0 if T > 1 else 1
    _, d = slic_cross_entropy_regularizer(logits, targets, mask)
    f = lambda z: slic_cross_entropy_regularizer(z, targets, mask)[0]
    assert check_gradient(f, logits, d) < 1e-6
    loss, d = slic_kl_regularizer(logits, ref, mask)
    assert check_gradient(lambda z: slic_kl_regularizer(z, ref, mask)[0], logits, d) < 1e-6
    assert loss > 0
    assert slic_kl_regularizer(ref, ref, mask)[0] == pytest.approx(0.0, abs=1e-12)


def calibrate(reg, lam, steps=300, lr=0.2):
    """Calibrate a toy sequence model with the rank loss, optionally regularised.

    The model is a table of logits theta (T, V), one independent softmax per position,
    starting from the fine-tuned theta_ft. The negative candidate agrees with the reference
    target y_bar on its first half, so pushing the negative down drags the target down
    unless a regulariser holds it. The margin delta is never reached, so the rank loss keeps
    pushing. Returns (KL(P_ft || P_theta) summed over positions, log P_theta(y_bar),
    log P_ft(y_bar)).
    """
    rng = np.random.default_rng(7)
    T, V = 6, 5
    theta_ft = rng.normal(size=(1, T, V))
    y_bar = rng.integers(0, V, size=(1, T))
    y_pos = (y_bar + 1) % V
    y_neg = y_bar.copy()
    y_neg[0, T // 2 :] = (y_bar[0, T // 2 :] + 2) % V
    theta = theta_ft.copy()
    for _ in range(steps):
        lp_pos, c_pos = sequence_logps_forward(theta, y_pos)
        lp_neg, c_neg = sequence_logps_forward(theta, y_neg)
        _, (d_pos, d_neg) = slic_rank_loss(lp_pos, lp_neg, delta=50.0)
        grad = sequence_logps_backward(d_pos, c_pos) + sequence_logps_backward(d_neg, c_neg)
        if reg == "kl":
            grad += lam * slic_kl_regularizer(theta, theta_ft)[1]
        elif reg == "ce":
            grad += lam * slic_cross_entropy_regularizer(theta, y_bar)[1]
        theta -= lr * grad
    kl = slic_kl_regularizer(theta, theta_ft)[0]
    return kl, float(sequence_logps(theta, y_bar)[0]), float(sequence_logps(theta_ft, y_bar)[0])


def test_regularizers_keep_the_model_near_its_reference():
    kl_free, lp_free, lp_ft = calibrate(None, 0.0)
    kl_reg, lp_kl, _ = calibrate("kl", 20.0)
    _, lp_ce, _ = calibrate("ce", 5.0)
    assert kl_free > 5.0  # unregularised, the calibration wanders far from P_ft
    assert lp_free < lp_ft - 10.0  # and pushes the reference target down with the negative
    assert kl_reg < 0.05 * kl_free  # the KL term holds the model near P_ft
    assert abs(lp_kl - lp_ft) < 1.0
    assert lp_ce > lp_ft  # the cross-entropy term holds (here: raises) the target


def test_validation():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="logp_neg"):
        slic_rank_loss(x, np.zeros(2))
    with pytest.raises(ValueError, match="delta"):
        slic_rank_loss(x, x, delta=-1.0)
    with pytest.raises(ValueError, match="scores"):
        slic_listwise_rank_loss(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="ref_logits"):
        slic_kl_regularizer(np.zeros((1, 2, 3)), np.zeros((1, 2, 4)))
