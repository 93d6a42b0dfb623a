import numpy as np
import pytest

from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from npml.testing import check_gradient


@pytest.mark.parametrize("shape", [(1, 3), (4, 7), (2, 3, 5)])
@pytest.mark.parametrize("ignore", [False, True])
def test_gradients(rng, shape, ignore):
    logits = 2 * rng.standard_normal(shape)
    targets = rng.integers(0, shape[-1], shape[:-1])
    ignore_index = None
    if ignore and targets.size > 1:
        ignore_index = -100
        targets.flat[1] = -100
    loss, cache = softmax_cross_entropy_forward(logits, targets, ignore_index)
    dlogits = softmax_cross_entropy_backward(0.7, cache)
    f = lambda z: softmax_cross_entropy_forward(z, targets, ignore_index)[0]
    assert check_gradient(f, logits, dlogits, np.array(0.7)) < 1e-6
    if ignore_index is not None:
        assert not dlogits.reshape(-1, shape[-1])[1].any()


def test_value_from_the_definition(rng):
    logits = rng.standard_normal((5, 4))
    targets = np.array([0, 3, 3, 1, 2])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), targets]))
    loss, _ = softmax_cross_entropy_forward(logits, targets)
    assert abs(loss - expected) < 1e-12
    # ignoring a position removes it from the sum and from the count
    t = targets.copy()
    t[2] = 9
    loss_ign, _ = softmax_cross_entropy_forward(logits, t, ignore_index=9)
    keep = [0, 1, 3, 4]
    assert abs(loss_ign + np.mean(np.log(p[keep, targets[keep]]))) < 1e-12


def test_huge_logits_are_stable():
    loss, cache = softmax_cross_entropy_forward(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert np.isfinite(loss) and abs(loss - 2e4) < 1e-8
    assert np.all(np.isfinite(softmax_cross_entropy_backward(1.0, cache)))


def test_all_ignored_gives_zero_loss_and_gradient(rng):
    loss, cache = softmax_cross_entropy_forward(rng.standard_normal((2, 3)), [-1, -1], -1)
    assert loss == 0.0
    assert not softmax_cross_entropy_backward(1.0, cache).any()


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    logits = 3 * rng.standard_normal((2, 4, 6))
    targets = rng.integers(0, 6, (2, 4))
    targets[0, 1] = targets[1, 3] = -100
    loss, cache = softmax_cross_entropy_forward(logits, targets, ignore_index=-100)
    dlogits = softmax_cross_entropy_backward(1.0, cache)
    tl = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(
        tl.reshape(-1, 6), torch.tensor(targets.reshape(-1)), ignore_index=-100
    )
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-10
    np.testing.assert_allclose(dlogits, tl.grad.numpy(), rtol=0, atol=1e-10)


def test_bad_inputs(rng):
    logits = rng.standard_normal((3, 4))
    msg = r"targets contains 1 value\(s\) outside \[0, 4\) such as 4;"
    with pytest.raises(ValueError, match=msg):
        softmax_cross_entropy_forward(logits, [0, 4, 1])
    with pytest.raises(ValueError, match="such as -100"):
        softmax_cross_entropy_forward(logits, [0, -100, 1])  # no ignore_index given
    with pytest.raises(ValueError, match=r"logits has shape \(3, 4\) and targets has shape \(2,\)"):
        softmax_cross_entropy_forward(logits, [0, 1])
    logits[0, 0] = np.nan
    with pytest.raises(ValueError, match="logits contains 1 non-finite"):
        softmax_cross_entropy_forward(logits, [0, 1, 2])
