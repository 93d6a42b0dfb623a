import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from npml.preference.losses import dpo_loss, ipo_loss, log_ratio_margin, psipo_loss
from npml.testing import check_gradient

LOSSES = {
    "dpo": lambda pc, pr, rc, rr: dpo_loss(pc, pr, rc, rr, beta=0.7),
    "ipo": lambda pc, pr, rc, rr: ipo_loss(pc, pr, rc, rr, tau=0.3),
    "psipo-logit": lambda pc, pr, rc, rr: psipo_loss(
        pc, pr, rc, rr, tau=0.5, psi="logit", p=np.linspace(0.6, 0.9, pc.size)
    ),
    "psipo-callable": lambda pc, pr, rc, rr: psipo_loss(
        pc, pr, rc, rr, tau=2.0, psi=lambda q: q**2, p=0.8
    ),
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("B", [1, 5])
def test_gradients(rng, name, B):
    f = LOSSES[name]
    pc, pr, rc, rr = (rng.normal(size=B) - 3.0 for _ in range(4))
    _, (d_pc, d_pr) = f(pc, pr, rc, rr)
    assert check_gradient(lambda x: f(x, pr, rc, rr)[0], pc, d_pc) < 1e-6
    assert check_gradient(lambda x: f(pc, x, rc, rr)[0], pr, d_pr) < 1e-6


def test_hand_computed_values():
    pc, pr = np.array([-1.0, -4.0]), np.array([-2.0, -3.0])
    rc, rr = np.array([-1.5, -3.0]), np.array([-1.5, -3.5])
    # h = (pc - rc) - (pr - rr): 0.5 - (-0.5) = 1.0 and -1.0 - 0.5 = -1.5
    np.testing.assert_allclose(log_ratio_margin(pc, pr, rc, rr), [1.0, -1.5])
    beta = 0.5
    dpo = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(0.75))) / 2
    assert dpo_loss(pc, pr, rc, rr, beta)[0] == pytest.approx(dpo, rel=1e-14)
    tau = 0.25  # target 1 / (2 tau) = 2
    ipo = ((1.0 - 2.0) ** 2 + (-1.5 - 2.0) ** 2) / 2
    assert ipo_loss(pc, pr, rc, rr, tau)[0] == pytest.approx(ipo, rel=1e-14)
    # d/dpc of the DPO mean: -beta sigma(-beta h) / B
    d_pc, d_pr = dpo_loss(pc, pr, rc, rr, beta)[1]
    expected = [-0.5 / (1 + math.exp(0.5)) / 2, -0.5 / (1 + math.exp(-0.75)) / 2]
    np.testing.assert_allclose(d_pc, expected, rtol=1e-14)
    np.testing.assert_allclose(d_pr, -d_pc)


def test_dpo_is_stable_for_huge_margins():
    big = np.array([1e4, -1e4])
    loss, (d_pc, _) = dpo_loss(big, -big, np.zeros(2), np.zeros(2), beta=1.0)
    assert np.isfinite(loss) and np.all(np.isfinite(d_pc))
    assert loss == pytest.approx(1e4, rel=1e-12)  # only the wrong-way pair costs


def test_ipo_is_psipo_with_identity(rng):
    args = [rng.normal(size=4) for _ in range(4)]
    a = ipo_loss(*args, tau=0.4)
    b = psipo_loss(*args, tau=0.4, psi="identity", p=1.0)
    c = psipo_loss(*args, tau=0.4, psi=lambda q: q)
    assert a[0] == b[0] == pytest.approx(c[0], rel=1e-14)


@pytest.mark.parametrize("p", [0.6, 0.9])
def test_psipo_with_logit_has_the_dpo_optimum(p):
    # The expected DPO loss when y_w is preferred with probability p (pairs seen both ways).
    tau = 0.7

    def expected_dpo(h):
        return p * math.log1p(math.exp(-tau * h)) + (1 - p) * math.log1p(math.exp(tau * h))

    h_dpo = minimize_scalar(expected_dpo, bracket=(-5, 5), tol=1e-12).x
    one = np.zeros(1)
    # PsiPO's minimiser in h is where its gradient vanishes: its target.
    _, (d, _) = psipo_loss(one + h_dpo, one, one, one, tau=tau, psi="logit", p=p)
    assert abs(d[0]) < 1e-6


def test_psipo_rejects_infinite_targets_and_bad_input():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="IPO"):
        psipo_loss(x, x, x, x, tau=1.0, psi="logit", p=1.0)
    with pytest.raises(ValueError, match="psi="):
        psipo_loss(x, x, x, x, tau=1.0, psi="tanh")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psipo_loss(x, x, x, x, tau=1.0, p=1.5)
    with pytest.raises(ValueError, match="tau"):
        ipo_loss(x, x, x, x, tau=0.0)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta=-1.0)
    with pytest.raises(ValueError, match="ref_rejected_logps"):
        dpo_loss(x, x, x, np.zeros(4), beta=1.0)


def train_tabular(loss_fn, steps, lr):
    """Gradient descent on the logits of a two-action softmax policy, uniform reference.

    The data are a single deterministic preference: action 0 beats action 1. Returns the
    margin h (log-ratio gap) after every step and the final pi(y_l).
    """
    theta = np.zeros(2)
    ref = np.log(np.full(2, 0.5))
    margins = np.empty(steps)
    w, l = np.array([0]), np.array([1])
    for t in range(steps):
        log_pi = theta - np.logaddexp.reduce(theta)
        _, (d_w, d_l) = loss_fn(log_pi[w], log_pi[l], ref[w], ref[l])
        pi = np.exp(log_pi)
        # d log pi(a) / d theta = e_a - pi
        grad = d_w[0] * (np.eye(2)[0] - pi) + d_l[0] * (np.eye(2)[1] - pi)
        theta -= lr * grad
        margins[t] = (log_pi[0] - ref[0]) - (log_pi[1] - ref[1])
    log_pi = theta - np.logaddexp.reduce(theta)
    return margins, float(np.exp(log_pi[1]))


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_margin_grows_without_bound_for_a_deterministic_preference(beta):
    f = lambda *a: dpo_loss(*a, beta=beta)
    margins, pi_l = train_tabular(f, steps=4000, lr=2.0 / beta)
    assert np.all(np.diff(margins) > 0)  # never settles
    # The margin grows like log(t) / beta: doubling the steps adds about log(2) / beta.
    assert margins[-1] - margins[1999] > 0.5 * math.log(2) / beta
    assert pi_l < 0.02  # and the rejected action loses its mass whatever beta
    # Far past the IPO optimum for the same regularisation strength.
    assert margins[-1] > 1 / (2 * beta)


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_ipo_margin_converges_to_one_over_two_tau(tau):
    f = lambda *a: ipo_loss(*a, tau=tau)
    margins, pi_l = train_tabular(f, steps=300, lr=0.2)
    assert abs(margins[-1] - 1 / (2 * tau)) < 1e-3
    assert abs(margins[-1] - margins[-2]) < 1e-6  # converged, not still climbing
    expected = 1 / (1 + math.exp(1 / (2 * tau)))  # pi(y_l) at the optimum
    assert pi_l == pytest.approx(expected, abs=1e-3)
