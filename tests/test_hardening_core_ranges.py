"""Issue 14, ranges and argument types: out-of-range or mistyped hyperparameters of optim,
ops, linear, preference and bench are refused before any work, by name.

Each row of ``CASES`` is one bad call: the entry point, the error type and a pattern that
names the argument (tests/test_hardening_coverage.py reads the entry point off the call;
tests/test_hardening_core_inputs.py holds the rows of the entry points without ranges).
Before this, several of them ran and returned something (an increasing ``enet_path``, an
empty ``compare``, a ``measure`` with no times) or failed with NumPy's
message ("'str' object cannot be interpreted as an integer").
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from npml.analysis import (
    brier_score,
    exact_match,
    simulate_scaling,
    token_accuracy,
)
from npml.bench import compare, measure
from npml.bench.fit import fit_cost_model, fit_exponent
from npml.linear import ElasticNet, enet_path
from npml.nn import Parameter
from npml.ops import l2_norm, log_softmax, logsumexp, softmax, std, variance
from npml.optim import (
    SGD,
    Adam,
    AdamW,
    LRScheduler,
    StepDecay,
    WarmupCosine,
    clip_grad_norm,
)
from npml.preference import (
    BradleyTerry,
    RewardModel,
    dpo_loss,
    ipo_loss,
    psipo_loss,
    slic_listwise_rank_loss,
    slic_margin_loss,
    slic_rank_loss,
    train_reward_model,
)


def _X_y():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    return X, X @ np.array([1.0, -2.0, 0.5])


def _p():
    p = Parameter(np.ones(3))
    p.grad = np.ones(3)
    return p


_A, _B = np.array([-1.0, -2.0]), np.array([-2.0, -1.0])
_HUGE = np.array([-1e308, -1.5e308])  # finite log-probabilities whose differences overflow
_CMP = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])
_X2 = np.ones((2, 3))


def _step_sgd(**kw):
    SGD([_p()], **kw).step()


CASES = [
    # -- linear
    ("enet_path eps=2", lambda: enet_path(*_X_y(), eps=2.0), ValueError, r"eps=2\.0 is out of"),
    ("enet_path eps=1", lambda: enet_path(*_X_y(), eps=1.0), ValueError, r"eps=1\.0"),
    ("enet_path eps=0", lambda: enet_path(*_X_y(), eps=0.0), ValueError, r"eps=0\.0"),
    ("enet_path eps=nan", lambda: enet_path(*_X_y(), eps=np.nan), ValueError, r"eps=nan"),
    ("enet_path n_alphas=0", lambda: enet_path(*_X_y(), n_alphas=0), ValueError, "n_alphas=0"),
    ("enet_path n_alphas=2.5", lambda: enet_path(*_X_y(), n_alphas=2.5), TypeError, "n_alphas="),
    ("enet_path l1_ratio=2", lambda: enet_path(*_X_y(), l1_ratio=2), ValueError, "l1_ratio=2"),
    ("enet_path max_iter=0", lambda: enet_path(*_X_y(), max_iter=0), ValueError, "max_iter=0"),
    ("enet_path tol=-1", lambda: enet_path(*_X_y(), tol=-1.0), ValueError, r"tol=-1\.0"),
    ("enet_path alphas=-1", lambda: enet_path(*_X_y(), alphas=[-1.0]), ValueError, "alphas"),
    (
        "enet_path alphas=1e308",
        lambda: enet_path(*_X_y(), alphas=[1e308]),
        ValueError,
        r"alpha=1e\+308 is too large.*overflows",
    ),  # fmt: skip
    (
        "ElasticNet alpha=1e308",
        lambda: ElasticNet(alpha=1e308).fit(*_X_y()),
        ValueError,
        r"alpha=1e\+308 is too large: the penalty n_samples \* alpha",
    ),  # fmt: skip
    ("ElasticNet alpha=-1", lambda: ElasticNet(alpha=-1).fit(*_X_y()), ValueError, "alpha=-1"),
    (
        "ElasticNet alpha=inf",
        lambda: ElasticNet(alpha=np.inf).fit(*_X_y()),
        ValueError,
        "alpha=inf",
    ),  # fmt: skip
    (
        "ElasticNet max_iter=1.5",
        lambda: ElasticNet(max_iter=1.5).fit(*_X_y()),
        TypeError,
        "max_iter=",
    ),  # fmt: skip
    # -- ops: axis
    ("softmax axis='a'", lambda: softmax(_X2, axis="a"), TypeError, "axis='a'"),
    ("softmax axis=2", lambda: softmax(_X2, axis=2), ValueError, r"axis=2 is invalid.*\(2, 3\)"),
    ("softmax axis=1.0", lambda: softmax(_X2, axis=1.0), TypeError, r"axis=1\.0"),
    ("softmax axis=True", lambda: softmax(_X2, axis=True), TypeError, "axis=True"),
    ("softmax axis=(1, 1)", lambda: softmax(_X2, axis=(1, 1)), ValueError, "repeats an axis"),
    ("log_softmax axis='a'", lambda: log_softmax(_X2, axis="a"), TypeError, "axis='a'"),
    ("logsumexp axis=[0]", lambda: logsumexp(_X2, axis=[0]), TypeError, r"axis=\[0\]"),
    ("logsumexp axis=-3", lambda: logsumexp(_X2, axis=-3), ValueError, "axis=-3 is invalid"),
    ("l2_norm axis='a'", lambda: l2_norm(_X2, axis="a"), TypeError, "axis='a'"),
    ("l2_norm axis=5", lambda: l2_norm(_X2, axis=5), ValueError, "axis=5 is invalid"),
    ("variance axis='a'", lambda: variance(_X2, axis="a"), TypeError, "axis='a'"),
    ("std axis=(0, 2)", lambda: std(_X2, axis=(0, 2)), ValueError, r"axis=\(0, 2\) is invalid"),
    ("variance ddof=-1", lambda: variance(_X2, ddof=-1), ValueError, "ddof=-1"),
    ("std ddof=6", lambda: std(_X2, ddof=6), ValueError, "ddof=6"),
    # -- optim
    ("SGD lr=-1", lambda: _step_sgd(lr=-1.0), ValueError, r"lr=-1\.0 is out of range"),
    ("SGD lr=nan", lambda: _step_sgd(lr=np.nan), ValueError, "lr=nan is not finite"),
    ("SGD lr='0.1'", lambda: _step_sgd(lr="0.1"), TypeError, "lr='0.1'"),
    ("SGD momentum=-0.5", lambda: _step_sgd(lr=0.1, momentum=-0.5), ValueError, "momentum="),
    (
        "SGD weight_decay=-1",
        lambda: _step_sgd(lr=0.1, weight_decay=-1.0),
        ValueError,
        "weight_decay=",
    ),  # fmt: skip
    (
        "SGD nesterov without momentum",
        lambda: _step_sgd(lr=0.1, nesterov=True),
        ValueError,
        "nesterov=True needs momentum",
    ),  # fmt: skip
    ("Adam beta1=1", lambda: Adam([_p()], betas=(1.0, 0.999)), ValueError, "beta1"),
    ("Adam beta2=1", lambda: Adam([_p()], betas=(0.9, 1.0)), ValueError, "beta2"),
    ("Adam beta1=-0.1", lambda: Adam([_p()], betas=(-0.1, 0.9)), ValueError, "beta1"),
    ("Adam betas 3", lambda: Adam([_p()], betas=(0.9, 0.9, 0.9)), ValueError, "betas="),
    ("Adam eps=0", lambda: Adam([_p()], eps=0.0), ValueError, r"eps=0\.0 is out of range"),
    ("AdamW eps=-1", lambda: AdamW([_p()], eps=-1.0), ValueError, "eps=-1"),
    ("AdamW lr=inf", lambda: AdamW([_p()], lr=np.inf), ValueError, "lr=inf"),
    (
        "AdamW weight_decay=-1",
        lambda: AdamW([_p()], weight_decay=-1.0),
        ValueError,
        "weight_decay=",
    ),  # fmt: skip
    ("clip max_norm=0", lambda: clip_grad_norm([_p()], 0.0), ValueError, "max_norm=0"),
    ("clip max_norm=-1", lambda: clip_grad_norm([_p()], -1.0), ValueError, "max_norm=-1"),
    ("clip max_norm=nan", lambda: clip_grad_norm([_p()], np.nan), ValueError, "max_norm=nan"),
    ("WarmupCosine warmup=-1", lambda: WarmupCosine(-1, 10), ValueError, "warmup_steps=-1"),
    ("WarmupCosine total<=warmup", lambda: WarmupCosine(5, 5), ValueError, "total_steps=5"),
    ("WarmupCosine total=2.5", lambda: WarmupCosine(0, 2.5), TypeError, "total_steps=2.5"),
    ("WarmupCosine min_factor=2", lambda: WarmupCosine(0, 5, 2.0), ValueError, "min_factor="),
    ("StepDecay step_size=0", lambda: StepDecay(0), ValueError, "step_size=0"),
    ("StepDecay gamma=0", lambda: StepDecay(2, gamma=0.0), ValueError, "gamma=0"),
    ("schedule t=-1", lambda: StepDecay(2)(-1), ValueError, "t=-1"),
    (
        "LRScheduler negative factor",
        lambda: LRScheduler(SGD([_p()], lr=0.1), lambda t: -1.0),
        ValueError,
        r"schedule\(0\)=-1\.0 is out of range",
    ),  # fmt: skip
    # -- preference
    ("dpo beta=0", lambda: dpo_loss(_A, _B, _A, _B, beta=0.0), ValueError, "beta=0"),
    ("dpo beta=-1", lambda: dpo_loss(_A, _B, _A, _B, beta=-1.0), ValueError, "beta=-1"),
    (
        "dpo beta=1e308 overflow",
        lambda: dpo_loss(_A, _B, _B, _A, beta=1e308),
        ValueError,
        r"beta \* margin overflows.*beta=1e\+308",
    ),  # fmt: skip
    (
        "dpo margin overflow",
        lambda: dpo_loss(_HUGE, _B, -_HUGE, _A, beta=1.0),
        ValueError,
        "log-ratio margin .* overflows",
    ),  # fmt: skip
    ("ipo tau=0", lambda: ipo_loss(_A, _B, _A, _B, tau=0.0), ValueError, "tau=0"),
    (
        "ipo tau=1e-308",
        lambda: ipo_loss(_A, _B, _A, _B, tau=1e-308),
        ValueError,
        r"overflows float64 \(tau=1e-308",
    ),  # fmt: skip
    (
        "ipo tau=1e-309",
        lambda: ipo_loss(_A, _B, _A, _B, tau=1e-309),
        ValueError,
        r"tau=1e-309 is too small",
    ),  # fmt: skip
    ("psipo p=2", lambda: psipo_loss(_A, _B, _A, _B, 0.1, p=2.0), ValueError, "p has values"),
    ("slic_rank delta=-1", lambda: slic_rank_loss(_A, _B, delta=-1.0), ValueError, "delta=-1"),
    (
        "slic_margin beta=0",
        lambda: slic_margin_loss(_A, _B, _A, _B, beta=0.0),
        ValueError,
        "beta=0",
    ),  # fmt: skip
    (
        "slic_listwise beta=0",
        lambda: slic_listwise_rank_loss(_A[None], _B[None], beta=0.0),
        ValueError,
        "beta=0",
    ),  # fmt: skip
    ("BradleyTerry alpha=-1", lambda: BradleyTerry(alpha=-1.0).fit(_CMP), ValueError, "alpha="),
    (
        "BradleyTerry max_iter=0",
        lambda: BradleyTerry(max_iter=0).fit(_CMP),
        ValueError,
        "max_iter=0",
    ),  # fmt: skip
    (
        "BradleyTerry n_items=True",
        lambda: BradleyTerry().fit(_CMP, n_items=True),
        TypeError,
        "n_items=True",
    ),  # fmt: skip
    (
        "BradleyTerry n_items=0",
        lambda: BradleyTerry().fit(_CMP, n_items=0),
        ValueError,
        "n_items=0",
    ),  # fmt: skip
    (
        "BradleyTerry probability j=9",
        lambda: BradleyTerry().fit(_CMP).probability(0, 9),
        ValueError,
        "j=9 is out of range",
    ),  # fmt: skip
    (
        "BradleyTerry probability i=0.5",
        lambda: BradleyTerry().fit(_CMP).probability(0.5, 1),
        TypeError,
        r"i=0\.5",
    ),  # fmt: skip
    (
        "train_reward_model model",
        lambda: train_reward_model(None, _X2, _X2),
        TypeError,
        "model is a NoneType; expected a RewardModel",
    ),  # fmt: skip
    (
        "train_reward_model epochs=0",
        lambda: train_reward_model(RewardModel(3, rng=0), _X2, _X2, epochs=0),
        ValueError,
        "epochs=0",
    ),  # fmt: skip
    (
        "train_reward_model lr=-1",
        lambda: train_reward_model(RewardModel(3, rng=0), _X2, _X2, lr=-1.0),
        ValueError,
        "lr=-1",
    ),  # fmt: skip
    # -- analysis
    (
        "token_accuracy empty",
        lambda: token_accuracy([], []),
        ValueError,
        "pred and target hold no tokens",
    ),  # fmt: skip
    (
        "exact_match 0 rows",
        lambda: exact_match(np.zeros((0, 3)), np.zeros((0, 3))),
        ValueError,
        r"no sequences \(0 rows\)",
    ),  # fmt: skip
    (
        "simulate_scaling n_params<=0",
        lambda: simulate_scaling(n_params=[0.0]),
        ValueError,
        "n_params",
    ),  # fmt: skip
    ("simulate_scaling alpha=0", lambda: simulate_scaling(alpha=0.0), ValueError, "alpha=0"),
    ("brier probs>1", lambda: brier_score([1.5], [1]), ValueError, "probs has values outside"),
    # -- bench
    ("measure repeats=0", lambda: measure(lambda: None, repeats=0), ValueError, "repeats=0"),
    ("measure repeats=2.5", lambda: measure(lambda: None, repeats=2.5), TypeError, "repeats="),
    ("measure warmup=-1", lambda: measure(lambda: None, warmup=-1), ValueError, "warmup=-1"),
    (
        "measure min_time=-1",
        lambda: measure(lambda: None, min_time=-1.0),
        ValueError,
        "min_time=",
    ),  # fmt: skip
    ("measure fn=3", lambda: measure(3), TypeError, "fn=3 is not callable"),
    ("compare {}", lambda: compare({}), ValueError, r"fns=\{\}; expected a non-empty dict"),
    ("compare list", lambda: compare([lambda: None]), ValueError, "fns="),
    (
        "compare repeats=0",
        lambda: compare({"a": lambda: None}, repeats=0),
        ValueError,
        "repeats=0",
    ),  # fmt: skip
    (
        "compare pause=-1",
        lambda: compare({"a": lambda: None}, pause=-1.0),
        ValueError,
        "pause=",
    ),  # fmt: skip
    ("compare fns['a']=1", lambda: compare({"a": 1}), TypeError, r"fns\['a'\]=1 is not"),
    (
        "fit_exponent confidence=1.5",
        lambda: fit_exponent([1, 2, 4], [1, 2, 4], 1.5),
        ValueError,
        "confidence=1.5",
    ),  # fmt: skip
    (
        "fit_exponent sizes inf",
        lambda: fit_exponent([1, 2, np.inf], [1, 2, 4]),
        ValueError,
        "sizes must be positive and finite",
    ),  # fmt: skip
    (
        "fit_exponent values nan",
        lambda: fit_exponent([1, 2, 4], [1, np.nan, 4]),
        ValueError,
        "values must be positive and finite",
    ),  # fmt: skip
    ("fit_exponent 2-d", lambda: fit_exponent([[1, 2]], [[1, 2]]), ValueError, "sizes has ndim"),
    ("fit_cost_model {}", lambda: fit_cost_model({}, [1.0, 2.0]), TypeError, "terms="),
    (
        "fit_cost_model inf term",
        lambda: fit_cost_model({"n": [1, np.inf]}, [1.0, 2.0]),
        ValueError,
        r"terms\['n'\] contains",
    ),  # fmt: skip
    (
        "fit_cost_model short term",
        lambda: fit_cost_model({"n": [1.0]}, [1.0, 2.0]),
        ValueError,
        r"terms\['n'\] has shape \(1,\)",
    ),  # fmt: skip
    (
        "fit_cost_model values inf",
        lambda: fit_cost_model({"n": [1.0, 2.0]}, [1.0, np.inf]),
        ValueError,
        "values contains",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("what", "call", "error", "match"), CASES, ids=[c[0] for c in CASES])
def test_out_of_range_or_mistyped_arguments_are_refused_by_name(what, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_enet_path_default_path_decreases_for_every_valid_eps():
    X, y = _X_y()
    for eps in (1e-6, 0.5, 0.999):
        alphas = enet_path(X, y, eps=eps, n_alphas=4).alphas
        assert np.all(np.diff(alphas) < 0)


def test_simulate_scaling_with_a_loss_that_underflows_is_quiet_and_certain():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = simulate_scaling(n_params=[1e300], c=1e-300, alpha=-10.0, n_samples=10, rng=0)
    assert out.per_token_accuracy[0] == 1.0 and out.exact_match[0] == 1.0
