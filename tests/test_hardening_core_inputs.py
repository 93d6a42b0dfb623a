"""Issue 14, bad input: wrong types, shapes, NaN and out-of-range values given to the entry
points of analysis, bench, linear, ops and preference that the range table does not reach
(backward passes, regularisers, the reward model, the report) are refused by name.

Each row of ``CASES`` is one bad call: the entry point, the error type and a pattern that
names the argument (tests/test_hardening_coverage.py reads the entry point off the call).
Before this, ``Report(plots="no")`` and ``Report.row(met="no")`` were taken as True,
``bradley_terry_loss_backward`` took a NaN ``dloss`` or a ``None`` cache, and several calls
failed with a message from deep inside that does not name the argument: ``peer(3)`` ("'int'
object has no attribute 'startswith'"), ``Report.row("c", "fast")`` ("bad operand type for
abs()"), ``RewardModel(3, hidden=4)`` ("Value after * must be an iterable"),
``matmul_peak_gflops("x")`` (NumPy's "data type 'x' not understood"), and
``slic_cross_entropy_regularizer`` called its ``targets`` "tokens".
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from npml.analysis import exact_match, token_accuracy, token_edit_distance
from npml.bench import Report, matmul_peak_gflops, peak_memory, peer
from npml.linear import elastic_net_penalty, elastic_net_prox
from npml.ops import einsum_path
from npml.preference import (
    RewardModel,
    bradley_terry_loss_backward,
    bradley_terry_loss_forward,
    log_ratio_margin,
    sequence_logps_backward,
    sequence_logps_forward,
    slic_cross_entropy_regularizer,
    slic_expected_reward_loss,
    slic_kl_regularizer,
)

_A, _B = np.array([-1.0, -2.0]), np.array([-2.0, -1.0])
_NAN2 = np.array([np.nan, -1.0])
_X2 = np.ones((2, 3))
_L3, _T3 = np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=np.int64)


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


CASES = [
    # -- ops
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
    # -- linear
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
    # -- preference
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
    (
        "token_accuracy floats",  # was 0.0: a 1.5 never equals a token id
        lambda: token_accuracy([1.5, 2.0], [1, 2]),
        TypeError,
        "pred has dtype float64; expected integers",
    ),
    (
        "token_accuracy probabilities",
        lambda: token_accuracy([1, 2], [0.9, 0.1]),
        TypeError,
        "target has dtype float64; expected integers",
    ),
    (
        "exact_match floats",
        lambda: exact_match(np.full((2, 3), 0.5), np.zeros((2, 3), int)),
        TypeError,
        "pred has dtype float64; expected integers",
    ),
    (
        "exact_match complex",
        lambda: exact_match([1j], [1]),
        TypeError,
        "pred has dtype complex128",
    ),
    # -- bench
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
]


@pytest.mark.parametrize(("what", "call", "error", "match"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_by_name(what, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_checked_entry_points_still_compute():
    # the checks added here refuse only nonsense: ordinary calls keep their results
    model = RewardModel(3, hidden=np.array([4]), rng=0)
    assert model(_X2).shape == (2,)
    d_w, d_l = bradley_terry_loss_backward(np.float32(2.0), _bt_cache())
    np.testing.assert_allclose(d_w, -d_l)
    loss, dlogits = slic_cross_entropy_regularizer(_L3, _T3)
    np.testing.assert_allclose(loss, 3 * np.log(4.0))  # uniform logits: T=3 tokens of log 4
    assert dlogits.shape == _L3.shape
    assert peer("a_module_that_is_not_installed") is None
    assert token_accuracy([1.0, 2.0], [1, 3]) == 0.5  # whole-number floats are token ids
    assert exact_match(np.zeros((2, 3)), np.zeros((2, 3), int)) == 1.0
    row = _report().row("c", 2, peer="p", peer_value=np.float64(4.0), target=1)
    assert row.ratio == 0.5 and row.met is True
