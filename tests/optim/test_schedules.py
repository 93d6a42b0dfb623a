"""Learning-rate schedules: values at chosen steps, torch's schedulers, binding, bad input."""

import math

import numpy as np
import pytest

from npml.nn import Parameter
from npml.optim import SGD, AdamW, Constant, LRScheduler, StepDecay, WarmupCosine


def test_constant():
    assert [Constant()(t) for t in (0, 1, 10**6)] == [1.0, 1.0, 1.0]


def test_warmup_cosine_values_at_chosen_steps():
    f = WarmupCosine(warmup_steps=4, total_steps=14, min_factor=0.2)
    assert [f(t) for t in range(4)] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])
    assert f(4) == pytest.approx(1.0)  # the peak, right after the warm-up
    assert f(9) == pytest.approx(0.2 + 0.8 * 0.5)  # half-way through the cosine
    assert f(14) == pytest.approx(0.2)  # the floor at total_steps ...
    assert f(1000) == pytest.approx(0.2)  # ... and after
    values = [f(t) for t in range(4, 15)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))  # strictly decreasing
    no_warmup = WarmupCosine(0, 10)
    assert no_warmup(0) == 1.0 and no_warmup(10) == pytest.approx(0.0, abs=1e-15)


def test_step_decay_values():
    f = StepDecay(step_size=3, gamma=0.5)
    assert [f(t) for t in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_schedules_match_torch_schedulers():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    base = 0.3
    cases = [
        (StepDecay(4, 0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 4, gamma=0.3)),
        (
            WarmupCosine(0, 25, min_factor=0.1),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 25, eta_min=0.1 * base),
        ),
    ]
    for ours, make in cases:
        opt = torch.optim.SGD([p], lr=base)
        sched = make(opt)
        for t in range(25):
            # torch updates these recursively, so it agrees with the closed form to rounding
            assert base * ours(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), t
            opt.step()
            sched.step()


def test_scheduler_sets_each_group_from_its_base_rate():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = AdamW([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    sched = LRScheduler(opt, StepDecay(2, 0.1))
    seen = []
    for _ in range(5):
        seen.append(sched.get_last_lr())
        sched.step()
    np.testing.assert_allclose(
        seen, [[0.1, 0.01], [0.1, 0.01], [0.01, 1e-3], [0.01, 1e-3], [1e-3, 1e-4]], rtol=1e-12
    )
    assert sched.last_step == 5


def test_scheduled_sgd_takes_the_scheduled_steps():
    p = Parameter(np.zeros(1))
    opt = SGD([p], lr=1.0)
    f = WarmupCosine(3, 10)
    sched = LRScheduler(opt, f)
    for _ in range(12):
        p.grad = np.ones(1)
        opt.step()
        sched.step()
    assert p.data[0] == pytest.approx(-sum(f(t) for t in range(12)), rel=1e-12)


def test_scheduler_state_round_trip():
    opt = SGD([Parameter(np.zeros(1))], lr=0.5)
    sched = LRScheduler(opt, StepDecay(1, 0.5))
    for _ in range(3):
        sched.step()
    other = LRScheduler(SGD([Parameter(np.zeros(1))], lr=0.5), StepDecay(1, 0.5))
    other.load_state_dict(sched.state_dict())
    assert other.last_step == 3 and other.get_last_lr() == [0.5 * 0.5**3]


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: WarmupCosine(-1, 10), ValueError, "warmup_steps=-1"),
        (lambda: WarmupCosine(10, 10), ValueError, "total_steps=10"),
        (lambda: WarmupCosine(1, 10, min_factor=1.5), ValueError, "min_factor=1.5"),
        (lambda: WarmupCosine(1.5, 10), TypeError, "warmup_steps=1.5"),
        (lambda: StepDecay(0), ValueError, "step_size=0"),
        (lambda: StepDecay(2, gamma=0.0), ValueError, "gamma=0.0"),
        (lambda: StepDecay(2)(-1), ValueError, "t=-1"),
        (lambda: Constant()(1.5), ValueError, "t=1.5"),
        (lambda: LRScheduler(None, Constant()), TypeError, "expected an Optimizer"),
        (lambda: LRScheduler(SGD([Parameter(np.zeros(1))], lr=1), 3), TypeError, "callable"),
        (
            lambda: LRScheduler(SGD([Parameter(np.zeros(1))], lr=1), lambda t: -1.0),
            ValueError,
            r"schedule\(0\)=-1.0",
        ),
        (
            lambda: LRScheduler(SGD([Parameter(np.zeros(1))], lr=1), lambda t: math.nan),
            ValueError,
            "not finite",
        ),
    ],
)
def test_bad_schedule_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
