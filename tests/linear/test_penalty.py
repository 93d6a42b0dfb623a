"""The elastic-net penalty: its value, its subgradient (gradient away from 0, minimum-norm
subgradient at 0) and its proximal operator."""

import numpy as np
import pytest

from npml.linear import ElasticNet, elastic_net_penalty, elastic_net_prox
from npml.testing import check_gradient


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 1.0])
def test_value_and_gradient(rng, shape, l1_ratio):
    w = rng.standard_normal(shape)
    w[np.abs(w) < 0.05] = 0.5  # keep finite differences away from the kink at 0
    alpha = 0.7
    value, grad = elastic_net_penalty(w, alpha, l1_ratio)
    expected = alpha * l1_ratio * np.sum(np.abs(w)) + 0.5 * alpha * (1 - l1_ratio) * np.sum(w**2)
    assert value == pytest.approx(expected, rel=1e-14)
    assert grad.shape == w.shape
    err = check_gradient(lambda v: elastic_net_penalty(v, alpha, l1_ratio)[0], w.copy(), grad)
    assert err < 1e-6


def test_subgradient_at_zero_is_the_minimum_norm_element():
    w = np.array([0.0, 2.0, -3.0, 0.0])
    _, g = elastic_net_penalty(w, alpha=2.0, l1_ratio=0.25)
    # the subdifferential of alpha*rho*|w| at 0 is [-0.5, 0.5]; 0 is its smallest element
    assert g[0] == 0.0 and g[3] == 0.0
    np.testing.assert_allclose(g[1:3], 0.5 * np.sign(w[1:3]) + 1.5 * w[1:3])
    # it is a valid subgradient: Omega(v) >= Omega(w) + g.(v - w) for every v
    rng = np.random.default_rng(0)
    f_w = elastic_net_penalty(w, 2.0, 0.25)[0]
    for _ in range(200):
        v = w + rng.standard_normal(4)
        assert elastic_net_penalty(v, 2.0, 0.25)[0] >= f_w + g @ (v - w) - 1e-12


def test_penalty_is_the_elastic_net_regularizer(rng):
    # the gradient of loss + penalty vanishes on ElasticNet's support (shared definition)
    X = rng.standard_normal((40, 6))
    y = X @ np.array([2.0, 0, 0, -1.0, 0.5, 0]) + 0.1 * rng.standard_normal(40)
    m = ElasticNet(alpha=0.1, l1_ratio=0.4, fit_intercept=False, tol=1e-12).fit(X, y)
    _, g_pen = elastic_net_penalty(m.coef_, 0.1, 0.4)
    g = -X.T @ (y - X @ m.coef_) / 40 + g_pen
    on = m.coef_ != 0
    assert on.sum() >= 2
    np.testing.assert_allclose(g[on], 0.0, atol=1e-7)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_prox_minimises_its_objective(rng, l1_ratio):
    v = rng.standard_normal((4, 5))
    step, alpha = 0.3, 1.5
    w = elastic_net_prox(v, step, alpha, l1_ratio)

    def h(u):
        return 0.5 * np.sum((u - v) ** 2) + step * elastic_net_penalty(u, alpha, l1_ratio)[0]

    h0 = h(w)
    for scale in (1e-1, 1e-4):
        for _ in range(50):
            assert h0 <= h(w + scale * rng.standard_normal(v.shape)) + 1e-14
    t = step * alpha * l1_ratio
    assert np.all(w[np.abs(v) <= t] == 0)  # small entries become exactly zero
    if l1_ratio == 0.0:
        np.testing.assert_allclose(w, v / (1 + step * alpha))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: elastic_net_penalty(np.ones(3), -1.0, 0.5), "alpha=-1.0"),
        (lambda: elastic_net_penalty(np.ones(3), 1.0, 1.2), "l1_ratio=1.2"),
        (lambda: elastic_net_penalty(np.array([1.0, np.nan]), 1.0, 0.5), "w contains"),
        (lambda: elastic_net_prox(np.ones(3), -0.1, 1.0, 0.5), "step=-0.1"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
