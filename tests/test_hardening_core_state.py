"""Issue 14, saves and loads: optimizer and scheduler ``load_state_dict`` check every value
before they change anything.

Each row of ``BAD_OPTIMIZER_STATES`` takes a genuine ``state_dict()`` (after two steps, so
the moments are not zero) and spoils one entry: NaN or negative moments, step counts that
are not non-negative integers, flags that are strings, buffers of the wrong dtype or shape.
Loading it must raise the given error naming the key, and leave the optimizer exactly as
it was: the same ``state_dict()`` and the same next step as an optimizer never touched.
"""

from __future__ import annotations

import numpy as np
import pytest

from npml.nn import Parameter
from npml.optim import SGD, Adam, AdamW, Constant, LRScheduler, StepDecay, WarmupCosine


def _params():
    rng = np.random.default_rng(3)
    return [Parameter(rng.standard_normal((2, 3))), Parameter(rng.standard_normal(4))]


def _make(kind):
    ps = _params()
    if kind == "SGD":
        opt = SGD(ps, lr=0.1, momentum=0.9, nesterov=True)
    elif kind == "Adam":
        opt = Adam(ps, lr=0.01, amsgrad=True)
    else:
        opt = AdamW(ps, lr=0.01)
    for t in range(2):
        for k, p in enumerate(ps):
            p.grad = np.full(p.data.shape, 0.5 + t + k)
        opt.step()
    return opt, ps


def _same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


# (optimizers, key, bad value, error, pattern naming it)
_ANY = ("SGD", "Adam", "AdamW")
_ADAM = ("Adam", "AdamW")
BAD_OPTIMIZER_STATES = [
    (_ANY, "groups.0.step", 2.5, TypeError, r"'groups\.0\.step'.*expected an integer"),
    (_ANY, "groups.0.step", np.float64(2.0), TypeError, r"'groups\.0\.step'"),
    (_ANY, "groups.0.step", -1, ValueError, r"'groups\.0\.step'\]=-1 is negative"),
    (_ANY, "groups.0.step", "2", TypeError, r"'groups\.0\.step'"),
    (_ANY, "groups.0.step", True, TypeError, r"'groups\.0\.step'"),
    (_ANY, "groups.0.step", np.array([2, 2]), TypeError, r"'groups\.0\.step'"),
    (_ANY, "groups.0.n_params", 2.0, TypeError, r"'groups\.0\.n_params'"),
    (_ANY, "groups.0.n_params", 3, ValueError, "group 0 has 3 parameters"),
    (_ANY, "groups.0.lr", np.nan, ValueError, r"group 0: lr=nan is not finite"),
    (_ANY, "groups.0.lr", -0.1, ValueError, r"group 0: lr=-0\.1 is out of range"),
    (_ANY, "groups.0.lr", "0.1", TypeError, r"'groups\.0\.lr'.*expected a real number"),
    (_ANY, "groups.0.weight_decay", np.inf, ValueError, "weight_decay=inf is not finite"),
    (("SGD",), "groups.0.nesterov", "no", TypeError, r"'groups\.0\.nesterov'.*True or False"),
    (("SGD",), "groups.0.nesterov", 1, TypeError, r"'groups\.0\.nesterov'"),
    (("SGD",), "groups.0.momentum", -1.0, ValueError, "momentum=-1"),
    (("SGD",), "state.0.momentum_buffer", "nan", ValueError, r"state\.0\.momentum_buffer.*NaN"),
    (("SGD",), "state.1.momentum_buffer", "shape", ValueError, r"state\.1\.momentum_buffer.*shape"),
    (("SGD",), "state.0.momentum_buffer", "str", TypeError, r"state\.0\.momentum_buffer.*dtype"),
    (("SGD",), "state.0.momentum_buffer", "complex", TypeError, r"momentum_buffer.*complex"),
    (_ADAM, "groups.0.amsgrad", "no", TypeError, r"'groups\.0\.amsgrad'.*True or False"),
    (_ADAM, "groups.0.amsgrad", 0, TypeError, r"'groups\.0\.amsgrad'"),
    (_ADAM, "groups.0.betas", np.array([0.9]), TypeError, r"'groups\.0\.betas'.*2 real numbers"),
    (_ADAM, "groups.0.betas", np.array([0.9, 1.0]), ValueError, "beta2"),
    (_ADAM, "groups.0.betas", np.array(["a", "b"]), TypeError, r"'groups\.0\.betas'"),
    (_ADAM, "groups.0.eps", 0.0, ValueError, r"eps=0\.0 is out of range"),
    (_ADAM, "state.0.m", "nan", ValueError, r"'state\.0\.m'\] contains 1 non-finite"),
    (_ADAM, "state.1.v", "inf", ValueError, r"'state\.1\.v'\] contains 1 non-finite"),
    (_ADAM, "state.0.v", "negative", ValueError, r"state\.0\.v'\] .* negative value"),
    (("Adam",), "state.1.v_max", "negative", ValueError, r"state\.1\.v_max'\] .* negative"),
    (_ADAM, "state.0.m", "shape", ValueError, r"'state\.0\.m'\] has shape \(3, 2\)"),
    (_ADAM, "state.0.m", "str", TypeError, r"'state\.0\.m'\] has dtype <U"),
    (_ADAM, "state.0.m", "huge", ValueError, r"'state\.0\.m'\] has values too large"),
]
_ROWS = [(kind, *row) for kinds, *row in BAD_OPTIMIZER_STATES for kind in kinds]


def _spoil(state, key, bad):
    if not isinstance(bad, str) or key.startswith("groups"):
        state[key] = bad
        return
    buf = np.asarray(state[key], dtype=np.float64).copy()
    if bad == "nan":
        buf.flat[0] = np.nan
    elif bad == "inf":
        buf.flat[-1] = np.inf
    elif bad == "negative":
        buf.flat[0] = -1e-3
    elif bad == "shape":
        buf = buf.T.copy() if buf.ndim == 2 else buf[:-1]
    elif bad == "str":
        buf = buf.astype(str)
    elif bad == "complex":
        buf = buf + 1j
    elif bad == "huge":  # finite in float64, too large for the float32 parameter
        buf = np.full(buf.shape, 1e300)
    state[key] = buf


@pytest.mark.parametrize(
    ("kind", "key", "bad", "error", "match"),
    _ROWS,
    ids=[f"{r[0]}-{r[1]}={r[2] if isinstance(r[2], str) else repr(r[2])}" for r in _ROWS],
)
def test_a_bad_optimizer_state_is_refused_and_changes_nothing(kind, key, bad, error, match):
    huge = isinstance(bad, str) and bad == "huge"
    opt, ps = _make(kind)
    if huge:  # a float32 optimizer receiving float64 moments it cannot hold
        ps32 = [Parameter(p.data.astype(np.float32)) for p in ps]
        opt = type(opt)(ps32, lr=0.01, amsgrad=opt.param_groups[0]["amsgrad"])
        ps = ps32
    state = opt.state_dict()
    before = opt.state_dict()
    bad_state = dict(state)
    _spoil(bad_state, key, bad)
    with pytest.raises(error, match=match):
        opt.load_state_dict(bad_state)
    _same_state(opt.state_dict(), before)
    # and the good state still loads and steps like an untouched copy
    twin, twin_ps = (None, None) if huge else _make(kind)
    if twin is not None:
        opt.load_state_dict(state)
        for p, q in zip(ps, twin_ps, strict=True):
            p.grad = q.grad = np.ones(p.data.shape)
        opt.step()
        twin.step()
        for p, q in zip(ps, twin_ps, strict=True):
            np.testing.assert_array_equal(p.data, q.data)


def test_a_float64_state_loads_into_float32_parameters_in_their_dtype():
    ps = [Parameter(np.ones(3, dtype=np.float32))]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    state = opt.state_dict()
    state["state.0.momentum_buffer"] = np.full(3, 0.25)  # float64
    opt.load_state_dict(state)
    assert opt.state[0]["momentum_buffer"].dtype == np.float32


def test_an_optimizer_state_must_be_a_mapping():
    opt, _ = _make("SGD")
    with pytest.raises(TypeError, match="state is a list"):
        opt.load_state_dict([("optimizer", "SGD")])


def _scheduler(schedule):
    opt = SGD([Parameter(np.ones(2)), Parameter(np.ones(2))], lr=0.1)
    opt.add_param_group({"params": [Parameter(np.ones(1))], "lr": 0.5})
    sched = LRScheduler(opt, schedule)
    for _ in range(3):
        sched.step()
    return opt, sched


SCHEDULES = {
    "Constant": Constant,
    "WarmupCosine": lambda: WarmupCosine(2, 10, 0.1),
    "StepDecay": lambda: StepDecay(2, 0.5),
}
# (key, bad value, error, pattern)
BAD_SCHEDULER_STATES = [
    ("last_step", 2.5, TypeError, r"state\['last_step'\]=2\.5; expected an integer"),
    ("last_step", np.float64(3.0), TypeError, r"state\['last_step'\]"),
    ("last_step", -1, ValueError, r"state\['last_step'\]=-1 is negative"),
    ("last_step", "3", TypeError, r"state\['last_step'\]='3'"),
    ("last_step", True, TypeError, r"state\['last_step'\]=True"),
    ("base_lrs", np.array([0.1, np.nan]), ValueError, r"state\['base_lrs'\].*finite rates"),
    ("base_lrs", np.array([0.1, -0.1]), ValueError, r"state\['base_lrs'\].*>= 0"),
    ("base_lrs", np.array([0.1]), ValueError, "1 base rates; the optimizer has 2 groups"),
    ("base_lrs", np.array(["0.1", "0.5"]), TypeError, r"state\['base_lrs'\].*real numbers"),
    ("base_lrs", np.ones((2, 1)), TypeError, r"state\['base_lrs'\] has shape \(2, 1\)"),
    ("base_lrs", None, ValueError, r"missing \['base_lrs'\]"),
    ("extra", 1, ValueError, r"unexpected keys \['extra'\]"),
]


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize(
    ("key", "bad", "error", "match"),
    BAD_SCHEDULER_STATES,
    ids=[f"{k}={b!r}" for k, b, _, _ in BAD_SCHEDULER_STATES],
)
def test_a_bad_scheduler_state_is_refused_and_changes_nothing(name, key, bad, error, match):
    opt, sched = _scheduler(SCHEDULES[name]())
    state = sched.state_dict()
    if bad is None:
        del state[key]
    else:
        state[key] = bad
    before = (sched.last_step, list(sched.base_lrs), sched.get_last_lr())
    with pytest.raises(error, match=match):
        sched.load_state_dict(state)
    assert (sched.last_step, list(sched.base_lrs), sched.get_last_lr()) == before


def test_a_scheduler_state_whose_step_the_schedule_refuses_changes_nothing():
    def picky(t):
        if t > 5:
            return -1.0  # a broken schedule: negative factors past step 5
        return 1.0

    opt, sched = _scheduler(picky)
    state = sched.state_dict()
    state["last_step"] = 9
    before = (sched.last_step, sched.get_last_lr())
    with pytest.raises(ValueError, match=r"schedule\(9\)=-1\.0 is out of range"):
        sched.load_state_dict(state)
    assert (sched.last_step, sched.get_last_lr()) == before


def test_a_good_scheduler_state_round_trips():
    opt, sched = _scheduler(WarmupCosine(2, 10, 0.1))
    opt2, sched2 = _scheduler(WarmupCosine(2, 10, 0.1))
    sched2.step()
    sched2.load_state_dict(sched.state_dict())
    assert sched2.last_step == sched.last_step and sched2.get_last_lr() == sched.get_last_lr()
