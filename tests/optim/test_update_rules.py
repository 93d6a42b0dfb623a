"""Each optimizer's 50-step trajectory equals its update formula written out by hand.

The formulas below are the papers' forms (Adam with bias-corrected m_hat and v_hat), not the
implementation's operation order, so agreement is to rounding (1e-12 on values of order 1).
Then the AdamW/Adam relation: they differ exactly by where the decay enters.
"""

import numpy as np
import pytest

from npml.nn import Parameter
from npml.optim import SGD, Adam, AdamW

STEPS = 50
SHAPE = (4, 3)


@pytest.fixture
def problem(rng):
    x0 = rng.standard_normal(SHAPE)
    grads = [rng.standard_normal(SHAPE) for _ in range(STEPS)]
    return x0, grads


def _trajectory(opt_cls, x0, grads, **kw):
    p = Parameter(x0.copy())
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_weight_decay_formula(problem, nesterov):
    x0, grads = problem
    lr, mu, wd = 0.1, 0.8, 0.05
    got = _trajectory(SGD, x0, grads, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd)
    x, b = x0.copy(), np.zeros(SHAPE)
    for t, g in enumerate(grads):
        d = g + wd * x  # L2 penalty's gradient
        b = d if t == 0 else mu * b + d
        x = x - lr * (d + mu * b if nesterov else b)
        np.testing.assert_allclose(got[t], x, rtol=0, atol=1e-12)


def test_plain_sgd_formula(problem):
    x0, grads = problem
    got = _trajectory(SGD, x0, grads, lr=0.3)
    np.testing.assert_allclose(got[-1], x0 - 0.3 * np.sum(grads, axis=0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_formula(problem, amsgrad, decoupled):
    x0, grads = problem
    lr, (b1, b2), eps, wd = 0.05, (0.8, 0.95), 1e-6, 0.2
    cls = AdamW if decoupled else Adam
    got = _trajectory(cls, x0, grads, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                      amsgrad=amsgrad)  # fmt: skip
    x, m, v, v_max = x0.copy(), np.zeros(SHAPE), np.zeros(SHAPE), np.zeros(SHAPE)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            x = x - lr * wd * x  # Loshchilov & Hutter, Algorithm 2, line 12 (eta = 1)
        else:
            g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - b1**t)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(got[t - 1], x, rtol=0, atol=1e-12)


def test_adamw_is_adam_on_decayed_weights(problem):
    """AdamW = shrink the weights by (1 - lr wd), then an Adam step without decay: bit for bit."""
    x0, grads = problem
    lr, wd = 0.05, 0.3
    a, w = Parameter(x0.copy()), Parameter(x0.copy())
    adam, adamw = Adam([a], lr=lr, weight_decay=0.0), AdamW([w], lr=lr, weight_decay=wd)
    for g in grads:
        a.data *= 1 - lr * wd  # the decoupled decay, outside the optimizer
        a.grad, w.grad = g.copy(), g.copy()
        adam.step()
        adamw.step()
        np.testing.assert_array_equal(a.data, w.data)
    # and the moments never saw the decay: they are those of the raw gradients
    np.testing.assert_array_equal(adam.state[0]["v"], adamw.state[0]["v"])


def test_adam_l2_is_adam_on_penalised_gradient(problem):
    """Adam's weight decay is the L2 penalty's gradient wd * p added to g: bit for bit."""
    x0, grads = problem
    wd = 0.3
    a, c = Parameter(x0.copy()), Parameter(x0.copy())
    plain, coupled = Adam([a], lr=0.05), Adam([c], lr=0.05, weight_decay=wd)
    for g in grads:
        a.grad = g + wd * a.data  # the penalty enters the gradient, hence m and v
        c.grad = g.copy()
        plain.step()
        coupled.step()
        np.testing.assert_array_equal(a.data, c.data)


def test_adamw_and_adam_l2_give_different_results(problem):
    x0, grads = problem
    w = _trajectory(AdamW, x0, grads, lr=0.05, weight_decay=0.3)[-1]
    l2 = _trajectory(Adam, x0, grads, lr=0.05, weight_decay=0.3)[-1]
    assert np.max(np.abs(w - l2)) > 1e-3


def test_adamw_without_decay_equals_adam_without_decay(problem):
    x0, grads = problem
    for amsgrad in (False, True):
        w = _trajectory(AdamW, x0, grads, lr=0.05, weight_decay=0.0, amsgrad=amsgrad)
        a = _trajectory(Adam, x0, grads, lr=0.05, weight_decay=0.0, amsgrad=amsgrad)
        np.testing.assert_array_equal(np.array(w), np.array(a))


def test_zero_grad_zeros_every_gradient(problem):
    x0, _ = problem
    ps = [Parameter(x0.copy()), Parameter(np.ones(3))]
    ps[0].grad = np.ones(SHAPE)
    opt = SGD(ps, lr=0.1)
    opt.zero_grad()
    assert all(p.grad is not None and not p.grad.any() for p in ps)
    opt.step()  # zero gradients: nothing moves
    np.testing.assert_array_equal(ps[0].data, x0)
