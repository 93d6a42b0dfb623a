import numpy as np
import pytest

from npml.preference.reward_model import (
    RewardModel,
    bradley_terry_loss_backward,
    bradley_terry_loss_forward,
    train_reward_model,
)
from npml.testing import check_gradient


def preferences(rng, n, d, reward):
    """Pairs of feature vectors labelled by the Bradley-Terry model with ``reward``.

    Returns (x_chosen, x_rejected, true_a_better) where the last says, for the unlabelled
    pair (a, b), whether a has the higher true reward (the noise-free preference).
    """
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    ra, rb = reward(a), reward(b)
    a_chosen = rng.random(n) < 1.0 / (1.0 + np.exp(-(ra - rb)))
    x_w = np.where(a_chosen[:, None], a, b)
    x_l = np.where(a_chosen[:, None], b, a)
    return x_w, x_l, (a, b, ra > rb)


def test_bt_loss_values_and_gradients(rng):
    r_w, r_l = rng.normal(size=5), rng.normal(size=5)
    loss, cache = bradley_terry_loss_forward(r_w, r_l)
    assert loss == pytest.approx(np.mean(-np.log(1 / (1 + np.exp(-(r_w - r_l))))))
    d_w, d_l = bradley_terry_loss_backward(1.0, cache)
    assert check_gradient(lambda x: bradley_terry_loss_forward(x, r_l)[0], r_w, d_w) < 1e-6
    assert check_gradient(lambda x: bradley_terry_loss_forward(r_w, x)[0], r_l, d_l) < 1e-6


@pytest.mark.parametrize("hidden", [(), (3,), (4, 5)])
@pytest.mark.parametrize("B", [1, 7])
def test_parameter_gradients(rng, hidden, B):
    model = RewardModel(3, hidden=hidden, rng=0, dtype=np.float64)
    for p in model.parameters():  # random biases too: no pre-activation exactly at the kink
        p.data[...] = rng.normal(size=p.shape)
    x_w, x_l = rng.normal(size=(B, 3)), rng.normal(size=(B, 3))
    model.zero_grad()
    model.loss_and_backward(x_w, x_l)
    params = dict(model.named_parameters())
    assert len(params) == 2 * len(hidden) + 1  # (W, b) per hidden layer, W out (no bias)
    for name, p in params.items():

        def loss_at(value, p=p):
            old = p.data.copy()
            p.data[...] = value
            r_w, r_l = model.forward(x_w), model.forward(x_l)
            p.data[...] = old
            return bradley_terry_loss_forward(r_w, r_l)[0]

        assert check_gradient(loss_at, p.data.copy(), p.grad) < 1e-6, name


def test_input_gradient(rng):
    model = RewardModel(4, hidden=(6,), rng=1, dtype=np.float64)
    x = rng.normal(size=(5, 4))
    dr = rng.normal(size=5)
    model.forward(x)
    dx = model.backward(dr)
    assert check_gradient(lambda z: model.forward(z), x, dx, dr) < 1e-6


def held_out_accuracy(model, test):
    a, b, a_better = test
    return np.mean((model.predict_preference(a, b) > 0.5) == a_better)


def test_linear_model_learns_a_linear_reward(rng):
    w_star = np.array([2.0, -1.0, 0.5, 0.0])
    reward = lambda x: x @ w_star
    x_w, x_l, _ = preferences(rng, 2000, 4, reward)
    test = preferences(rng, 1000, 4, reward)[2]
    model = RewardModel(4, rng=0, dtype=np.float64)
    losses = train_reward_model(model, x_w, x_l, epochs=5, lr=0.1, batch_size=250, rng=0)
    assert losses[-1] < losses[0]
    assert held_out_accuracy(model, test) > 0.9  # chance is 0.5
    w = model.layers[-1].W.data[:, 0]
    cos = w @ w_star / np.linalg.norm(w) / np.linalg.norm(w_star)
    assert cos > 0.98  # it recovers the direction of the true reward


def test_mlp_learns_what_a_linear_model_cannot(rng):
    # Prefer responses near the origin: no linear reward ranks these pairs.
    reward = lambda x: -2.0 * np.sum(x**2, axis=1)
    x_w, x_l, _ = preferences(rng, 2000, 2, reward)
    test = preferences(rng, 1000, 2, reward)[2]
    linear, mlp = (
        RewardModel(2, rng=0, dtype=np.float64),
        RewardModel(2, hidden=(16,), rng=0, dtype=np.float64),
    )
    train_reward_model(linear, x_w, x_l, epochs=5, lr=0.1, batch_size=500, rng=0)
    train_reward_model(mlp, x_w, x_l, epochs=20, lr=0.1, batch_size=500, rng=0)
    assert held_out_accuracy(linear, test) < 0.65
    assert held_out_accuracy(mlp, test) > 0.85


def test_validation():
    model = RewardModel(3, rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"expected \(N, 3\)"):
        model.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x_rejected"):
        model.loss_and_backward(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="r_rejected"):
        bradley_terry_loss_forward(np.zeros(2), np.zeros(3))


def test_predict_preference_errors_name_x_a_and_x_b():
    model = RewardModel(3, (4,), rng=0)
    good = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"^x_a has shape \(2, 5\)"):
        model.predict_preference(np.zeros((2, 5)), good)
    with pytest.raises(ValueError, match=r"^x_b contains 1 non-finite"):
        model.predict_preference(good, np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]]))


def test_backward_checks_dr_against_the_rewards():
    model = RewardModel(3, (4,), rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones(2))
    model.forward(np.zeros((2, 3)))
    for bad in (np.ones(3), np.ones((2, 1)), np.ones((1, 2))):
        with pytest.raises(ValueError, match=r"^dr has shape"):
            model.backward(bad)
    assert model.backward(np.ones(2)).shape == (2, 3)
