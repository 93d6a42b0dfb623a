"""Issue 14, ranges and argument types: out-of-range, mistyped or misshapen arguments of
optim, ops, linear, preference, analysis and bench are refused before any work, by name.

Each row of ``CASES`` is one bad call: the entry point, the error type and a pattern that
names the argument (tests/test_hardening_coverage.py reads the entry point off the call).
Before this, several of them ran and returned something (an increasing ``enet_path``, an
empty ``compare``, a ``measure`` with no times, a ``Report`` with ``plots="no"``) or failed
with a message from deep inside: NumPy's "'str' object cannot be interpreted as an integer",
or ``peer(3)``'s "'int' object has no attribute 'startswith'".
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from npml.analysis import (
    brier_score,
    exact_match,
    simulate_scaling,
    token_accuracy,
    token_edit_distance,
)
from npml.bench import (
    Report,
    compare,
    fit_cost_model,
    fit_exponent,
    matmul_peak_gflops,
    measure,
    peak_memory,
    peer,
)
from npml.linear import ElasticNet, elastic_net_penalty, elastic_net_prox, enet_path
from npml.nn import Parameter
from npml.ops import einsum_path, l2_norm, log_softmax, logsumexp, softmax, std, variance
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
    bradley_terry_loss_backward,
    bradley_terry_loss_forward,
    dpo_loss,
    ipo_loss,
    log_ratio_margin,
    psipo_loss,
    sequence_logps_backward,
    sequence_logps_forward,
    slic_cross_entropy_regularizer,
    slic_expected_reward_loss,
    slic_kl_regularizer,
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


def _report():
    return Report(plots=False, stream=io.StringIO())


def _bt_cache():
    return bradley_terry_loss_forward(np.ones(2), np.zeros(2))[1]


def _seq_cache():
    return sequence_logps_forward(_L3, _T3)[1]


def _reward_backward(dr):
    model = RewardModel(3, rng=0)
    model(_X2)
    return model.backward(dr)


_L3, _T3 = np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=np.int64)
_NAN2 = np.array([np.nan, -1.0])


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
    ("elastic_net_penalty alpha=-1", lambda: elastic_net_penalty(_A, -1.0), ValueError, "alpha=-1"),
    (
        "elastic_net_penalty l1_ratio=2",
        lambda: elastic_net_penalty(_A, l1_ratio=2.0),
        ValueError,
        r"l1_ratio=2\.0 is out of range",
    ),  # fmt: skip
    ("elastic_net_penalty w NaN", lambda: elastic_net_penalty(_NAN2), ValueError, "w contains 1"),
    (
        "elastic_net_penalty w complex",
        lambda: elastic_net_penalty(_A + 1j),
        ValueError,
        "Complex data not supported: w",
    ),  # fmt: skip
    ("elastic_net_penalty w str", lambda: elastic_net_penalty("w"), TypeError, "w='w'"),
    (
        "elastic_net_penalty alpha str",
        lambda: elastic_net_penalty(_A, alpha="1"),
        TypeError,
        "alpha='1'",
    ),  # fmt: skip
    ("elastic_net_prox step=-1", lambda: elastic_net_prox(_A, -1.0), ValueError, r"step=-1\.0"),
    ("elastic_net_prox step=nan", lambda: elastic_net_prox(_A, np.nan), ValueError, "step=nan"),
    (
        "elastic_net_prox l1_ratio=-1",
        lambda: elastic_net_prox(_A, 0.1, l1_ratio=-1.0),
        ValueError,
        "l1_ratio=-1",
    ),  # fmt: skip
    ("elastic_net_prox v NaN", lambda: elastic_net_prox(_NAN2, 0.1), ValueError, "v contains 1"),
    (
        "elastic_net_prox v complex",
        lambda: elastic_net_prox(_A + 1j, 0.1),
        ValueError,
        "Complex data not supported: v",
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
    ("einsum_path subscripts=3", lambda: einsum_path(3, _X2), TypeError, "subscripts=3"),
    (
        "einsum_path sizes",
        lambda: einsum_path("ij,jk->ik", _X2, _X2),
        ValueError,
        "index 'j' has size 3 in operand 0 but 2 in operand 1",
    ),  # fmt: skip
    (
        "einsum_path operands",
        lambda: einsum_path("ij,jk->ik", _X2),
        ValueError,
        r"subscripts 'ij,jk->ik' name 2 operand\(s\) but 1 was given",
    ),  # fmt: skip
    (
        "einsum_path output index",
        lambda: einsum_path("ij->iz", _X2),
        ValueError,
        "output index 'z'",
    ),  # fmt: skip
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
    ("RewardModel d_in=0", lambda: RewardModel(0), ValueError, "d_in=0"),
    ("RewardModel d_in=2.5", lambda: RewardModel(2.5), TypeError, r"d_in=2\.5"),
    ("RewardModel hidden=(0,)", lambda: RewardModel(3, (0,)), ValueError, r"hidden\[0\]=0"),
    ("RewardModel hidden=4", lambda: RewardModel(3, 4), TypeError, "hidden=4"),
    ("RewardModel hidden='ab'", lambda: RewardModel(3, "ab"), TypeError, "hidden='ab'"),
    ("RewardModel rng='a'", lambda: RewardModel(3, rng="a"), TypeError, "rng='a'"),
    ("RewardModel dtype=int", lambda: RewardModel(3, dtype=np.int64), TypeError, "dtype="),
    (
        "RewardModel x shape",
        lambda: RewardModel(3, rng=0)(np.ones((2, 4))),
        ValueError,
        r"x has shape \(2, 4\); expected \(N, 3\)",
    ),  # fmt: skip
    (
        "RewardModel x NaN",
        lambda: RewardModel(2, rng=0)(_NAN2[None]),
        ValueError,
        "x contains 1 non-finite",
    ),  # fmt: skip
    (
        "RewardModel backward before forward",
        lambda: RewardModel(3).backward(np.ones(2)),
        RuntimeError,
        "backward called before forward",
    ),  # fmt: skip
    (
        "RewardModel dr shape",
        lambda: _reward_backward(np.ones(3)),
        ValueError,
        r"dr has shape \(3,\); expected \(2,\)",
    ),  # fmt: skip
    (
        "bradley_terry_loss_forward shapes",
        lambda: bradley_terry_loss_forward(_A, np.ones(3)),
        ValueError,
        r"r_rejected has shape \(3,\)",
    ),  # fmt: skip
    (
        "bradley_terry_loss_forward NaN",
        lambda: bradley_terry_loss_forward(_NAN2, _B),
        ValueError,
        "r_chosen contains 1 non-finite",
    ),  # fmt: skip
    (
        "bradley_terry_loss_forward empty",
        lambda: bradley_terry_loss_forward(np.ones(0), np.ones(0)),
        ValueError,
        "r_chosen has 0 elements",
    ),  # fmt: skip
    (
        "bradley_terry_loss_forward complex",
        lambda: bradley_terry_loss_forward(_A, _B + 1j),
        ValueError,
        "Complex data not supported: r_rejected",
    ),  # fmt: skip
    (
        "bradley_terry_loss_backward dloss array",
        lambda: bradley_terry_loss_backward(np.ones(3), _bt_cache()),
        TypeError,
        r"dloss=array",
    ),  # fmt: skip
    (
        "bradley_terry_loss_backward dloss NaN",
        lambda: bradley_terry_loss_backward(np.nan, _bt_cache()),
        ValueError,
        "dloss=nan is not finite",
    ),  # fmt: skip
    (
        "bradley_terry_loss_backward cache",
        lambda: bradley_terry_loss_backward(1.0, None),
        TypeError,
        "cache is a NoneType; expected the BTLossCache",
    ),  # fmt: skip
    (
        "log_ratio_margin shapes",
        lambda: log_ratio_margin(_A, _B, _A, np.ones(3)),
        ValueError,
        r"ref_rejected_logps has shape \(3,\)",
    ),  # fmt: skip
    (
        "log_ratio_margin NaN",
        lambda: log_ratio_margin(_A, _B, _NAN2, _B),
        ValueError,
        "ref_chosen_logps contains 1 non-finite",
    ),  # fmt: skip
    (
        "log_ratio_margin complex",
        lambda: log_ratio_margin(_A + 1j, _B, _A, _B),
        ValueError,
        "Complex data not supported: policy_chosen_logps",
    ),  # fmt: skip
    (
        "log_ratio_margin str",
        lambda: log_ratio_margin(_A, "b", _A, _B),
        TypeError,
        "policy_rejected_logps='b'",
    ),  # fmt: skip
    (
        "sequence_logps_backward shape",
        lambda: sequence_logps_backward(np.ones(3), _seq_cache()),
        ValueError,
        r"dlogps has shape \(3,\); expected \(2,\)",
    ),  # fmt: skip
    (
        "sequence_logps_backward cache",
        lambda: sequence_logps_backward(np.ones(2), None),
        TypeError,
        "cache is a NoneType; expected the SequenceLogpsCache",
    ),  # fmt: skip
    (
        "slic_cross_entropy_regularizer shapes",
        lambda: slic_cross_entropy_regularizer(_L3, np.zeros((2, 4), int)),
        ValueError,
        r"targets has shape \(2, 4\); expected \(2, 3\) like logits",
    ),  # fmt: skip
    (
        "slic_cross_entropy_regularizer float targets",
        lambda: slic_cross_entropy_regularizer(_L3, np.full((2, 3), 0.5)),
        TypeError,
        "targets has dtype float64",
    ),  # fmt: skip
    (
        "slic_cross_entropy_regularizer targets out of range",
        lambda: slic_cross_entropy_regularizer(_L3, np.full((2, 3), 9)),
        ValueError,
        r"targets contains 9 at a masked-in position; expected \[0, 4\)",
    ),  # fmt: skip
    (
        "slic_cross_entropy_regularizer logits NaN",
        lambda: slic_cross_entropy_regularizer(np.full((2, 3, 4), np.nan), _T3),
        ValueError,
        "logits contains 24 non-finite",
    ),  # fmt: skip
    (
        "slic_cross_entropy_regularizer mask",
        lambda: slic_cross_entropy_regularizer(_L3, _T3, np.full((2, 3), 2.0)),
        ValueError,
        "mask has values other than 0 and 1",
    ),  # fmt: skip
    (
        "slic_expected_reward_loss shapes",
        lambda: slic_expected_reward_loss(np.ones((2, 3)), np.ones((2, 4))),
        ValueError,
        r"scores has shape \(2, 4\); expected \(2, 3\)",
    ),  # fmt: skip
    (
        "slic_expected_reward_loss NaN",
        lambda: slic_expected_reward_loss(_NAN2[None], np.ones((1, 2))),
        ValueError,
        "logps contains 1 non-finite",
    ),  # fmt: skip
    (
        "slic_expected_reward_loss 1-D",
        lambda: slic_expected_reward_loss(_A, _B),
        ValueError,
        "logps has ndim=1",
    ),  # fmt: skip
    (
        "slic_kl_regularizer shapes",
        lambda: slic_kl_regularizer(_L3, np.zeros((2, 3, 5))),
        ValueError,
        r"ref_logits has shape \(2, 3, 5\); expected \(2, 3, 4\)",
    ),  # fmt: skip
    (
        "slic_kl_regularizer NaN",
        lambda: slic_kl_regularizer(_L3, np.full((2, 3, 4), np.nan)),
        ValueError,
        "ref_logits contains 24 non-finite",
    ),  # fmt: skip
    (
        "slic_kl_regularizer mask",
        lambda: slic_kl_regularizer(_L3, _L3, np.ones((3, 2))),
        ValueError,
        r"mask must be 0/1 of shape \(2, 3\); got shape \(3, 2\)",
    ),  # fmt: skip
    (
        "slic_kl_regularizer complex",
        lambda: slic_kl_regularizer(_L3 + 1j, _L3),
        ValueError,
        "Complex data not supported: logits",
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
    (
        "token_edit_distance floats",
        lambda: token_edit_distance([1.5, 2.0], [1, 2]),
        TypeError,
        "pred has dtype float64; expected integers",
    ),  # fmt: skip
    (
        "token_edit_distance 3-D",
        lambda: token_edit_distance(np.zeros((2, 2, 2), int), np.zeros((2, 2, 2), int)),
        ValueError,
        "pred has ndim=3",
    ),  # fmt: skip
    (
        "token_edit_distance rows",
        lambda: token_edit_distance(np.zeros((2, 3), int), np.zeros((3, 3), int)),
        ValueError,
        r"pred has shape \(2, 3\) and target \(3, 3\)",
    ),  # fmt: skip
    ("token_edit_distance None", lambda: token_edit_distance([1], None), TypeError, "target=None"),
    ("token_edit_distance str", lambda: token_edit_distance("ab", [1]), TypeError, "pred='ab'"),
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
    ("Report mode='bogus'", lambda: Report(mode="bogus"), ValueError, "mode='bogus'"),
    ("Report out_dir=3", lambda: Report(out_dir=3), TypeError, "out_dir=3 of type int"),
    ("Report stream='x'", lambda: Report(stream="x"), TypeError, "stream='x' has no write"),
    ("Report.row case=3", lambda: _report().row(3, 1.0), TypeError, "case=3 of type int"),
    ("Report.row value='1'", lambda: _report().row("c", "1"), TypeError, "value='1' of type"),
    (
        "Report.row peer_value=True",
        lambda: _report().row("c", 1.0, peer="p", peer_value=True),
        TypeError,
        "peer_value=True",
    ),  # fmt: skip
    (
        "Report.row target=[1]",
        lambda: _report().row("c", 1.0, target=[1]),
        TypeError,
        r"target=\[1\] of type list",
    ),  # fmt: skip
    (
        "matmul_peak_gflops dtype=int64",
        lambda: matmul_peak_gflops(np.int64, n=4, repeats=1),
        TypeError,
        "dtype=.*expected a float dtype",
    ),  # fmt: skip
    (
        "matmul_peak_gflops dtype='x'",
        lambda: matmul_peak_gflops("x", n=4, repeats=1),
        TypeError,
        "dtype='x'",
    ),  # fmt: skip
    ("matmul_peak_gflops n=0", lambda: matmul_peak_gflops(n=0), ValueError, "n=0"),
    ("matmul_peak_gflops n=2.5", lambda: matmul_peak_gflops(n=2.5), TypeError, r"n=2\.5"),
    (
        "matmul_peak_gflops repeats=0",
        lambda: matmul_peak_gflops(n=4, repeats=0),
        ValueError,
        "repeats=0",
    ),  # fmt: skip
    ("peak_memory fn=3", lambda: peak_memory(3), TypeError, "fn=3 is not callable"),
    ("peer module_name=3", lambda: peer(3), TypeError, "module_name=3"),
    ("peer module_name=''", lambda: peer(""), ValueError, "module_name=''"),
    ("peer relative name", lambda: peer(".x"), ValueError, "module_name='.x'"),
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
