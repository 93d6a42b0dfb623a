"""Bad hyperparameters, parameters and gradients raise clear errors and change nothing."""

import numpy as np
import pytest

from npml.nn import Module, Parameter
from npml.optim import SGD, Adam, AdamW


def _p(*shape):
    return Parameter(np.zeros(shape))


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: SGD([_p(2)], lr=-0.1), ValueError, "lr=-0.1 is out of range"),
        (lambda: SGD([_p(2)], lr=0.1, momentum=-1), ValueError, "momentum=-1"),
        (lambda: SGD([_p(2)], lr=0.1, nesterov=True), ValueError, "nesterov=True needs"),
        (lambda: SGD([_p(2)], lr=0.1, weight_decay=-1e-3), ValueError, "weight_decay=-0.001"),
        (lambda: SGD([_p(2)], lr="0.1"), TypeError, "lr='0.1'"),
        (lambda: Adam([_p(2)], lr=-1e-3), ValueError, "lr=-0.001"),
        (lambda: Adam([_p(2)], betas=(1.0, 0.999)), ValueError, "beta1=1.0 is out of range"),
        (lambda: Adam([_p(2)], betas=(0.9, -0.1)), ValueError, "beta2=-0.1 is out of range"),
        (lambda: Adam([_p(2)], betas=(0.9,)), ValueError, r"betas=\(0.9,\); expected a pair"),
        (lambda: Adam([_p(2)], eps=0.0), ValueError, "eps=0.0 is out of range; expected eps > 0"),
        (lambda: AdamW([_p(2)], eps=-1e-8), ValueError, "eps=-1e-08"),
        (lambda: AdamW([_p(2)], weight_decay=-0.01), ValueError, "weight_decay=-0.01"),
        (lambda: AdamW([_p(2)], amsgrad="yes"), TypeError, "amsgrad='yes'"),
        (lambda: AdamW([_p(2)], lr=np.nan), ValueError, "lr=nan is not finite"),
        (lambda: AdamW([]), ValueError, "holds no Parameter"),
        (lambda: AdamW([np.zeros(2)]), TypeError, "wrap arrays in npml.nn.Parameter"),
        (lambda: AdamW(np.zeros(2)), TypeError, "params is a ndarray"),
        (lambda: AdamW([_p(2), {"params": [_p(2)]}]), TypeError, "mixes parameter-group dicts"),
        (lambda: AdamW([{"params": [_p(2)], "lr_": 0.1}]), ValueError, r"unknown key.*'lr_'"),
        (lambda: AdamW([{"lr": 0.1}]), TypeError, "with a 'params' entry"),
        (lambda: AdamW([{"params": [_p(2)], "lr": -1.0}]), ValueError, "lr=-1.0"),
    ],
)  # fmt: skip
def test_bad_hyperparameters_and_params(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_float16_parameters_are_rejected_by_adam_but_not_sgd():
    half = Parameter(np.zeros(2, np.float16))
    with pytest.raises(TypeError, match="'params\\[0\\]' is float16; AdamW supports float32"):
        AdamW([half])
    opt = SGD([half], lr=0.5)
    half.grad = np.ones(2, np.float16)
    opt.step()
    np.testing.assert_array_equal(half.data, [-0.5, -0.5])
    adam = Adam([_p(2)])
    with pytest.raises(TypeError, match="float16"):
        adam.add_param_group({"params": [half]})
    assert len(adam.param_groups) == 1  # the failed group left nothing behind
    adam.add_param_group({"params": [Parameter(half.data.astype(np.float32))]})
    assert len(adam.param_groups) == 2


def test_a_parameter_given_twice_is_rejected():
    p = _p(2)
    with pytest.raises(ValueError, match=r"'params\[1\]' appears more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="'w2' appears more than once"):
        Adam([{"params": [("w", p)]}, {"params": [("w2", p)]}])


class Net(Module):
    def __init__(self):
        self.W = Parameter(np.ones((2, 3)))
        self.b = Parameter(np.ones(3))


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_missing_gradient_is_named(cls):
    net = Net()
    net.W.grad = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"parameter 'b' has no gradient \(grad is None\)"):
        cls(net, lr=0.1).step()
    with pytest.raises(ValueError, match=r"parameter 'params\[1\]' has no gradient"):
        cls([net.W, net.b], lr=0.1).step()


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_misshapen_gradient_is_named(cls):
    net = Net()
    net.W.grad, net.b.grad = np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"'W' has shape \(3, 2\); expected .* \(2, 3\)"):
        cls(net, lr=0.1).step()


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_gradient_is_named_and_nothing_changes(cls, bad, dtype):
    net = Net()
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    kw = {"momentum": 0.9} if cls is SGD else {}
    opt = cls(net, lr=0.1, **kw)
    net.W.grad, net.b.grad = np.ones((2, 3), dtype), np.ones(3, dtype)
    opt.step()  # a good step first, so that there is state to protect
    before = {n: p.data.copy() for n, p in net.named_parameters()}
    state = opt.state_dict()
    net.b.grad = np.array([1.0, bad, bad], dtype)
    with pytest.raises(ValueError, match=r"gradient of parameter 'b' contains 2 non-finite"):
        opt.step()
    for n, p in net.named_parameters():  # W came first and is finite: it was not updated either
        np.testing.assert_array_equal(p.data, before[n])
    after = opt.state_dict()
    for key in state:
        np.testing.assert_array_equal(after[key], state[key])


def test_hyperparameters_set_between_steps_are_checked():
    opt = AdamW([_p(2)], lr=0.1)
    opt.param_groups[0]["params"][0].grad = np.ones(2)
    opt.param_groups[0]["lr"] = -0.5
    with pytest.raises(ValueError, match="lr=-0.5"):
        opt.step()


@pytest.mark.parametrize("initial", [False, True])
def test_switching_amsgrad_after_construction_is_refused(initial):
    p = _p(3)
    opt = Adam([p], amsgrad=initial)
    p.grad = np.ones(3)
    opt.param_groups[0]["amsgrad"] = not initial
    with pytest.raises(ValueError, match="'amsgrad'\\] was changed"):
        opt.step()
    np.testing.assert_array_equal(p.data, 0.0)


def test_parameter_changed_after_construction_is_reported():
    net = Net()
    opt = Adam(net)
    net.W.data = np.zeros((4, 4))
    net.W.grad, net.b.grad = np.zeros((4, 4)), np.zeros(3)
    with pytest.raises(ValueError, match=r"'W' is now float64 of shape \(4, 4\); it was"):
        opt.step()
    net.W.data = np.ones((2, 3), np.float32)
    net.W.grad = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="'W' is now float32"):
        opt.step()


def test_read_only_parameter_is_reported():
    net = Net()
    net.W.data.flags.writeable = False
    net.W.grad, net.b.grad = np.zeros((2, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="'W' holds a read-only array"):
        SGD(net, lr=0.1).step()
