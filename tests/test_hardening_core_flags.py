"""Issue 14, flags: every boolean argument of optim, ops, linear, preference, bench, the
module base class and the estimator protocol refuses a value that is not a bool with a
``TypeError`` naming the flag.

A non-empty string such as ``"no"`` is truthy, so before this a flag given ``"no"`` did what
``True`` does, without a word. Each row of ``FLAGS`` is one entry point; every row is tried
with every bad value, and with ``np.bool_`` (which must keep working). ``OPTIONAL_FLAGS``
are flags for which ``None`` means "not given" (a verdict not judged, a default decided
from the shape). tests/test_hardening_coverage.py checks that every flag of the public API
is in one of these tables (or in another hardening file's flag table).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from npml._estimator import Estimator
from npml.bench import Report, Row
from npml.linear import ElasticNet, enet_path
from npml.models import CausalLM, fit, train_causal_lm
from npml.nn import Linear, Module, Parameter, Upsample, timestep_embedding
from npml.ops import einsum, einsum_path, l2_norm, logsumexp, std, variance
from npml.optim import SGD, Adam, AdamW, decay_groups
from npml.preference import RewardModel, sequence_logps, sequence_logps_forward, train_reward_model
from npml.rl import CliffWalking, expected_sarsa, q_learning, sarsa


def _X_y():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    return X, X @ np.array([1.0, -2.0, 0.5])


class _Net(Module):
    def __init__(self):
        self.W = Parameter(np.ones((2, 2)))
        self.b = Parameter(np.zeros(2))


class _Est(Estimator):
    def __init__(self, a=1):
        self.a = a


_LOGITS, _TOKENS = np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=np.int64)

# (entry point, flag name, call with the flag set to v)
FLAGS = [
    (
        "Upsample",
        "align_corners",
        lambda v: Upsample(scale_factor=2, mode="bilinear", align_corners=v),
    ),
    (
        "timestep_embedding",
        "flip_sin_to_cos",
        lambda v: timestep_embedding(np.arange(3), 4, flip_sin_to_cos=v),
    ),
    ("sarsa", "record", lambda v: sarsa(CliffWalking(), 1, rng=0, record=v)),
    ("expected_sarsa", "record", lambda v: expected_sarsa(CliffWalking(), 1, rng=0, record=v)),
    ("q_learning", "record", lambda v: q_learning(CliffWalking(), 1, rng=0, record=v)),
    ("SGD", "nesterov", lambda v: SGD([Parameter(np.ones(2))], lr=0.1, momentum=0.9, nesterov=v)),
    ("Adam", "amsgrad", lambda v: Adam([Parameter(np.ones(2))], amsgrad=v)),
    ("AdamW", "amsgrad", lambda v: AdamW([Parameter(np.ones(2))], amsgrad=v)),
    ("decay_groups", "decay_embeddings", lambda v: decay_groups(_Net(), 0.1, v)),
    ("logsumexp", "keepdims", lambda v: logsumexp(np.ones((2, 3)), axis=1, keepdims=v)),
    ("l2_norm", "keepdims", lambda v: l2_norm(np.ones((2, 3)), axis=1, keepdims=v)),
    ("variance", "keepdims", lambda v: variance(np.ones((2, 3)), axis=1, keepdims=v)),
    ("std", "keepdims", lambda v: std(np.ones((2, 3)), axis=1, keepdims=v)),
    (
        "einsum",
        "optimize",
        lambda v: einsum("ij,jk->ik", np.ones((2, 2)), np.ones((2, 2)), optimize=v),
    ),  # fmt: skip
    ("ElasticNet.fit", "fit_intercept", lambda v: ElasticNet(fit_intercept=v).fit(*_X_y())),
    ("ElasticNet.fit", "warm_start", lambda v: ElasticNet(warm_start=v).fit(*_X_y())),
    ("enet_path", "fit_intercept", lambda v: enet_path(*_X_y(), n_alphas=3, fit_intercept=v)),
    ("sequence_logps", "average", lambda v: sequence_logps(_LOGITS, _TOKENS, average=v)),
    (
        "sequence_logps_forward",
        "average",
        lambda v: sequence_logps_forward(_LOGITS, _TOKENS, average=v),
    ),  # fmt: skip
    ("Estimator.get_params", "deep", lambda v: _Est().get_params(deep=v)),
    ("ElasticNet.get_params", "deep", lambda v: ElasticNet().get_params(deep=v)),
    (
        "einsum_path",
        "optimize",
        lambda v: einsum_path("ij,jk->ik", np.ones((2, 2)), np.ones((2, 2)), optimize=v),
    ),  # fmt: skip
    ("Module.train", "mode", lambda v: Linear(2, 2).train(v)),
    ("Parameter", "embedding", lambda v: Parameter(np.ones(2), embedding=v)),
    ("Report", "plots", lambda v: Report(plots=v, stream=io.StringIO())),
]
BAD = ["no", "yes", 1, 0, None, 1.0, np.array([True])]


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize(("where", "flag", "call"), FLAGS, ids=[f"{w}-{f}" for w, f, _ in FLAGS])
def test_a_flag_that_is_not_a_bool_is_refused_by_name(where, flag, call, bad):
    # einsum's optimize also takes the strategy name "greedy"; another string is an unknown
    # strategy (ValueError), anything else that is not a bool a TypeError, both naming it
    error = ValueError if flag == "optimize" and isinstance(bad, str) else TypeError
    with pytest.raises(error, match=rf"\b{flag}="):
        call(bad)


@pytest.mark.parametrize(("where", "flag", "call"), FLAGS, ids=[f"{w}-{f}" for w, f, _ in FLAGS])
def test_a_flag_accepts_python_and_numpy_bools(where, flag, call):
    for good in (True, False, np.True_, np.False_):
        call(good)


def test_einsum_keeps_its_documented_strategy_name():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(einsum("ij->", a, optimize="greedy"), a.sum())


def _report():
    return Report(plots=False, stream=io.StringIO())


def _fit_args():
    net = Linear(2, 1, rng=0)

    def loss_and_backward(rng):
        net.zero_grad()
        y = net(np.ones((1, 2)))
        net.backward(np.ones_like(y))
        return float(y.sum())

    return net, loss_and_backward, SGD(list(net.parameters()), lr=0.1), 1


def _fit_one_step(progress):
    return fit(*_fit_args(), progress=progress)  # fit is the entry point the row covers


def _lm_args():
    return CausalLM(5, d_model=8, n_heads=2, n_layers=1, max_len=4, rng=0), np.arange(40) % 5


def _train_lm_one_step(progress):
    return train_causal_lm(*_lm_args(), steps=1, batch_size=2, block_size=4, progress=progress)


def _train_rm_one_step(progress):
    x = np.random.default_rng(0).standard_normal((4, 3))
    return train_reward_model(RewardModel(3, rng=0), x, -x, epochs=1, rng=0, progress=progress)


# (entry point, flag name, call with the flag set to v): None is allowed too
OPTIONAL_FLAGS = [
    ("Parameter", "decay", lambda v: Parameter(np.ones(2), decay=v)),
    ("Report.row", "met", lambda v: _report().row("c", 1.0, target="a condition", met=v)),
    ("Row", "met", lambda v: Row("chapter", "case", 1.0, met=v)),
    ("fit", "progress", lambda v: _fit_one_step(v)),
    ("train_causal_lm", "progress", lambda v: _train_lm_one_step(v)),
    ("train_reward_model", "progress", lambda v: _train_rm_one_step(v)),
]
_OPTIONAL_IDS = [f"{w}-{f}" for w, f, _ in OPTIONAL_FLAGS]


@pytest.mark.parametrize("bad", [b for b in BAD if b is not None], ids=repr)
@pytest.mark.parametrize(("where", "flag", "call"), OPTIONAL_FLAGS, ids=_OPTIONAL_IDS)
def test_an_optional_flag_that_is_not_a_bool_or_none_is_refused_by_name(where, flag, call, bad):
    with pytest.raises(TypeError, match=rf"\b{flag}="):
        call(bad)


@pytest.mark.parametrize(("where", "flag", "call"), OPTIONAL_FLAGS, ids=_OPTIONAL_IDS)
def test_an_optional_flag_accepts_bools_and_none(where, flag, call):
    for good in (True, False, np.True_, np.False_, None):
        call(good)


def test_a_verdict_is_stored_as_a_python_bool():
    # np.bool_ verdicts (a ratio compared with a target) are written to the JSON as bools
    assert type(Row("chapter", "case", 1.0, met=np.True_).met) is bool
    assert type(_report().row("c", 1.0, target="a condition", met=np.False_).met) is bool
