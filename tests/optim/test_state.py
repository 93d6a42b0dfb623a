"""Optimizer state: plain arrays in, plain arrays out, and resumed training is bit-exact."""

import numpy as np
import pytest

from npml.nn import Embedding, LayerNorm, Linear, Module, Parameter, load_npz, save_npz
from npml.optim import (
    SGD,
    Adam,
    AdamW,
    LRScheduler,
    WarmupCosine,
    clip_grad_norm,
    decay_groups,
)


class TinyNet(Module):
    """ids -> embedding -> LayerNorm -> linear: every kind of parameter decay_groups sorts."""

    def __init__(self, rng, dtype):
        self.emb = Embedding(11, 6, rng=rng, dtype=dtype)
        self.norm = LayerNorm(6, dtype=dtype)
        self.head = Linear(6, 3, rng=rng, dtype=dtype)

    def forward(self, ids):
        return self.head(self.norm(self.emb(ids)))

    def backward(self, dout):
        self.emb.backward(self.norm.backward(self.head.backward(dout)))


def _train(model, opt, sched, steps, first):
    """``steps`` steps of MSE regression; batch ``t`` depends only on ``t`` (resumable)."""
    for t in range(first, first + steps):
        rng = np.random.default_rng(1000 + t)
        ids = rng.integers(0, 11, size=(4, 5))
        y = rng.standard_normal((4, 5, 3)).astype(model.head.W.data.dtype)
        model.zero_grad()
        out = model(ids)
        model.backward(2 * (out - y) / out.size)
        clip_grad_norm(model, 0.5)
        opt.step()
        if sched is not None:
            sched.step()


def _build(seed, kind, dtype):
    model = TinyNet(np.random.default_rng(seed), dtype)
    if kind == "adamw":
        opt = AdamW(decay_groups(model, 0.1), lr=0.05, amsgrad=True)
    else:
        opt = SGD(decay_groups(model, 0.01), lr=0.2, momentum=0.9, nesterov=True)
    return model, opt, LRScheduler(opt, WarmupCosine(5, 60, 0.1))


@pytest.mark.parametrize(("kind", "dtype"), [("adamw", np.float32), ("sgd", np.float64)])
def test_resumed_training_is_bit_exact(tmp_path, kind, dtype):
    model, opt, sched = _build(0, kind, dtype)
    _train(model, opt, sched, 20, first=0)
    save_npz(tmp_path / "model.npz", model.state_dict())
    save_npz(tmp_path / "optim.npz", opt.state_dict())
    save_npz(tmp_path / "sched.npz", sched.state_dict())
    _train(model, opt, sched, 20, first=20)

    model2, opt2, sched2 = _build(123, kind, dtype)  # different initial weights
    model2.load_state_dict(load_npz(tmp_path / "model.npz"))
    opt2.load_state_dict(load_npz(tmp_path / "optim.npz"))
    sched2.load_state_dict(load_npz(tmp_path / "sched.npz"))
    _train(model2, opt2, sched2, 20, first=20)

    for (name, p), (_, q) in zip(model.named_parameters(), model2.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        assert p.data.dtype == dtype
    a, b = opt.state_dict(), opt2.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_state_dict_is_plain_and_survives_npz(tmp_path, rng):
    ps = [Parameter(rng.standard_normal((3, 2))), Parameter(rng.standard_normal(4))]
    opt = Adam([{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "amsgrad": True}])
    for _ in range(3):
        for p in ps:
            p.grad = rng.standard_normal(p.shape)
        opt.step()
    state = opt.state_dict()
    for key, value in state.items():
        arr = np.asarray(value)
        assert arr.dtype != object, key
    assert set(state) >= {"optimizer", "groups.0.lr", "groups.1.amsgrad", "groups.0.step"}
    assert {k for k in state if k.startswith("state.")} == {
        "state.0.m", "state.0.v", "state.1.m", "state.1.v", "state.1.v_max",
    }  # fmt: skip
    save_npz(tmp_path / "o.npz", state)
    loaded = load_npz(tmp_path / "o.npz")  # allow_pickle=False
    fresh = Adam([{"params": [Parameter(np.zeros((3, 2)))]},
                  {"params": [Parameter(np.zeros(4))], "amsgrad": True}])  # fmt: skip
    fresh.load_state_dict(loaded)
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[1]["betas"] == (0.9, 0.999)
    again = fresh.state_dict()
    for key in state:
        np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(state[key]), key)
    # state_dict returns copies: stepping does not change a dict already taken
    m_before = state["state.0.m"].copy()
    ps[0].grad = np.ones((3, 2))
    ps[1].grad = np.ones(4)
    opt.step()
    np.testing.assert_array_equal(state["state.0.m"], m_before)


def test_loaded_moments_are_used_by_the_next_step(rng):
    x0, g = rng.standard_normal(5), rng.standard_normal(5)
    p, q = Parameter(x0.copy()), Parameter(x0.copy())
    a, b = AdamW([p], lr=0.1), AdamW([q], lr=0.1)
    p.grad = g.copy()
    a.step()
    q.data[...] = p.data
    b.load_state_dict(a.state_dict())
    p.grad = q.grad = -g
    a.step()
    b.step()
    np.testing.assert_array_equal(p.data, q.data)


def _adam(shapes, **kw):
    return Adam([Parameter(np.zeros(s)) for s in shapes], **kw)


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (lambda: SGD([Parameter(np.zeros(2))], lr=0.1), "optimizer 'Adam'"),
        (lambda: _adam([(2,), (3,)]), "group 0 has 1 parameters"),
        (lambda: _adam([(3,)]), r"shape \(2,\); expected \(3,\)"),
        (lambda: _adam([(2,)], amsgrad=True), "amsgrad"),
    ],
)
def test_mismatched_state_is_rejected_with_a_clear_message(target, match):
    src = _adam([(2,)])
    opt = target()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(src.state_dict())


def test_missing_or_unexpected_keys_are_named():
    src = _adam([(2,)]).state_dict()
    opt = _adam([(2,)])
    with pytest.raises(ValueError, match="groups.0.eps"):
        opt.load_state_dict({k: v for k, v in src.items() if k != "groups.0.eps"})
    with pytest.raises(ValueError, match="state.0.bogus"):
        opt.load_state_dict({**src, "state.0.bogus": np.zeros(2)})
    with pytest.raises(ValueError, match=r"buffers \['m'\]"):
        opt.load_state_dict({k: v for k, v in src.items() if k != "state.0.v"})
    with pytest.raises(ValueError, match="lr=-1.0 is out of range"):
        opt.load_state_dict({**src, "groups.0.lr": -1.0})
    assert opt.param_groups[0]["lr"] == 1e-3  # nothing changed by the failed loads
