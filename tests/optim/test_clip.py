"""Gradient clipping by the global L2 norm."""

import numpy as np
import pytest

from npml.nn import Module, Parameter
from npml.optim import SGD, clip_grad_norm


def _params(rng, scale):
    ps = [Parameter(np.zeros(s)) for s in [(3, 4), (5,), (), (2, 2, 2)]]
    for p in ps:
        p.grad = np.asarray(scale * rng.standard_normal(p.shape))
    return ps


def test_clips_to_max_norm_and_returns_the_norm_before(rng):
    ps = _params(rng, 10.0)
    before = [p.grad.copy() for p in ps]
    norm = np.sqrt(sum(np.sum(g**2) for g in before))
    got = clip_grad_norm(ps, 1.5)
    assert got == pytest.approx(norm, rel=1e-13)
    after = np.sqrt(sum(np.sum(p.grad**2) for p in ps))
    assert after == pytest.approx(1.5, rel=1e-6)  # 1.5 * norm / (norm + 1e-6)
    for p, g in zip(ps, before, strict=True):  # the direction is kept
        np.testing.assert_allclose(p.grad, g * (1.5 / (norm + 1e-6)), rtol=1e-13)


def test_small_gradients_are_left_alone(rng):
    ps = _params(rng, 1e-3)
    before = [p.grad.copy() for p in ps]
    clip_grad_norm(ps, 1.0)
    for p, g in zip(ps, before, strict=True):
        np.testing.assert_array_equal(p.grad, g)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ps = _params(rng, 3.0)
    ts = [torch.tensor(p.data.copy(), requires_grad=True) for p in ps]
    for p, t in zip(ps, ts, strict=True):
        t.grad = torch.tensor(p.grad.copy())
    got = clip_grad_norm(ps, 2.0)
    want = torch.nn.utils.clip_grad_norm_(ts, 2.0)
    assert got == pytest.approx(float(want), rel=1e-13)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-13, atol=0)


def test_accepts_a_module_an_optimizer_and_named_pairs_and_skips_missing_grads(rng):
    class Two(Module):
        def __init__(self):
            self.W = Parameter(np.zeros(2))
            self.frozen = Parameter(np.zeros(3))  # grad None: skipped

    m = Two()
    for source in (m, SGD(m, lr=0.1), list(m.parameters())):
        m.W.grad = np.array([3.0, 4.0])
        assert clip_grad_norm(source, 1.0) == pytest.approx(5.0)
        np.testing.assert_allclose(m.W.grad, [0.6, 0.8], rtol=1e-6)
    assert m.frozen.grad is None
    assert clip_grad_norm([m.frozen], 1.0) == 0.0


def test_extreme_scales_do_not_overflow():
    p = Parameter(np.zeros(2))
    p.grad = np.array([1e200, 1e200])  # squaring first would give inf
    assert clip_grad_norm([p], 1.0) == pytest.approx(np.sqrt(2) * 1e200)
    assert np.all(np.isfinite(p.grad))


def test_nonfinite_gradient_is_named_and_nothing_is_scaled():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    a.grad = np.array([100.0, 0.0])
    b.grad = np.array([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"'params\[1\]' contains 1 non-finite"):
        clip_grad_norm([a, b], 1.0)
    np.testing.assert_array_equal(a.grad, [100.0, 0.0])
    with pytest.raises(ValueError, match="'bias' contains"):
        clip_grad_norm([("weight", a), ("bias", b)], 1.0)


@pytest.mark.parametrize("max_norm", [0.0, -1.0, np.inf])
def test_bad_max_norm(max_norm):
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([Parameter(np.zeros(1))], max_norm)
