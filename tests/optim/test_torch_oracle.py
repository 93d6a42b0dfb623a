"""npml's SGD, Adam and AdamW follow torch.optim step for step (float64, 50 steps, 1e-10).

The problem: a few parameters of awkward shapes (a scalar, odd sizes, a 3-D tensor) and
gradients that depend on the current parameters (a random quadratic plus noise), so that a
wrong update changes every later gradient, not just one step.
"""

import numpy as np
import pytest

from npml.nn import Parameter
from npml.optim import SGD, Adam, AdamW, LRScheduler, StepDecay, WarmupCosine

torch = pytest.importorskip("torch")

SHAPES = [(3, 5), (7,), (2, 3, 4), (), (1, 1)]
STEPS = 50
TOL = 1e-10


def _problem(seed):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    targets = [rng.standard_normal(s) for s in SHAPES]
    scales = [rng.uniform(0.1, 3.0, s) for s in SHAPES]
    noise = [[rng.standard_normal(s) * 0.3 for s in SHAPES] for _ in range(STEPS)]
    return init, targets, scales, noise


def _grad(x, target, scale, noise):
    # gradient of sum(scale * (x - target)^2 / 2) plus noise
    return np.asarray(scale * (x - target) + noise)


def _run(make_npml, make_torch, seed=0, schedule=None):
    """Run both for STEPS steps; groups: the first 2 tensors in group 0, the rest in group 1.

    ``make_*`` receive the two lists of parameters and return the optimizer.
    """
    init, targets, scales, noise = _problem(seed)
    ours = [Parameter(x.copy()) for x in init]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    opt = make_npml(ours[:2], ours[2:])
    topt = make_torch(theirs[:2], theirs[2:])
    sched = tsched = None
    if schedule is not None:
        sched = LRScheduler(opt, schedule)
        tsched = torch.optim.lr_scheduler.LambdaLR(topt, schedule)
    for t in range(STEPS):
        for p, q, tg, sc, nz in zip(ours, theirs, targets, scales, noise[t], strict=True):
            p.grad = _grad(p.data, tg, sc, nz)
            q.grad = torch.from_numpy(_grad(q.detach().numpy(), tg, sc, nz))
        opt.step()
        topt.step()
        if sched is not None:
            sched.step()
            tsched.step()
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=0, atol=TOL)
    # the run really moved the parameters (a no-op optimizer would not pass this)
    assert max(np.max(np.abs(p.data - x)) for p, x in zip(ours, init, strict=True)) > 1e-2
    return opt


def _same_kwargs(ours, theirs, **kw):
    make_npml = lambda a, b: ours(a + b, **kw)
    make_torch = lambda a, b: theirs(a + b, **kw)
    return make_npml, make_torch


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.05, momentum=0.5, weight_decay=0.1),
        dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.3),
    ],
)
def test_sgd_matches_torch(kw):
    _run(*_same_kwargs(SGD, torch.optim.SGD, **kw))


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.05),
        dict(lr=0.05, weight_decay=0.1),
        dict(lr=0.05, amsgrad=True),
        dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.2, amsgrad=True),
    ],
)
def test_adam_matches_torch(kw):
    _run(*_same_kwargs(Adam, torch.optim.Adam, **kw))


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.05),  # default weight_decay=1e-2 on both sides
        dict(lr=0.05, weight_decay=0.3),
        dict(lr=0.05, weight_decay=0.3, amsgrad=True),
        dict(lr=0.1, betas=(0.0, 0.5), eps=1e-6, weight_decay=0.0),
    ],
)
def test_adamw_matches_torch(kw):
    _run(*_same_kwargs(AdamW, torch.optim.AdamW, **kw))


@pytest.mark.parametrize(
    ("ours", "theirs", "base", "g0", "g1"),
    [
        (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9), {}, dict(lr=0.01, nesterov=True)),
        (Adam, torch.optim.Adam, dict(lr=0.05), dict(weight_decay=0.5), dict(lr=0.2)),
        (
            AdamW,
            torch.optim.AdamW,
            dict(lr=0.05, weight_decay=0.1),
            dict(weight_decay=0.0),
            dict(lr=0.01, weight_decay=0.5, amsgrad=True),
        ),
    ],
)
def test_param_groups_with_their_own_hyperparameters_match_torch(ours, theirs, base, g0, g1):
    opt = _run(
        lambda a, b: ours([{"params": a, **g0}, {"params": b, **g1}], **base),
        lambda a, b: theirs([{"params": a, **g0}, {"params": b, **g1}], **base),
    )
    assert opt.param_groups[1]["lr"] == g1.get("lr", base["lr"])


@pytest.mark.parametrize(
    "schedule", [WarmupCosine(5, 40, 0.1), StepDecay(7, 0.5)], ids=["warmup_cosine", "step"]
)
@pytest.mark.parametrize("ours,theirs", [(AdamW, torch.optim.AdamW), (SGD, torch.optim.SGD)])
def test_scheduled_learning_rate_matches_torch_lambda_lr(schedule, ours, theirs):
    kw = dict(lr=0.1, weight_decay=0.05) if ours is AdamW else dict(lr=0.05, momentum=0.9)
    _run(
        lambda a, b: ours([{"params": a}, {"params": b, "lr": kw["lr"] / 3}], **kw),
        lambda a, b: theirs([{"params": a}, {"params": b, "lr": kw["lr"] / 3}], **kw),
        schedule=schedule,
    )


def test_float32_steps_agree_with_torch_fused_to_rounding():
    """In float32 each step agrees with torch's fused AdamW to float32 rounding.

    Before every step torch's parameters are reset to npml's, so rounding differences do not
    compound; both keep their own moments. torch's fused kernel orders a few operations
    differently (m by lerp), so the two differ by a few float32 ulp of |p| ~ 1 (1 ulp is
    1.2e-7 there): 1e-6 absolute allows about 8.
    """
    init, targets, scales, noise = _problem(3)
    ours = [Parameter(x.astype(np.float32)) for x in init]
    theirs = [torch.tensor(x.astype(np.float32), requires_grad=True) for x in init]
    opt = AdamW(ours, lr=0.05, weight_decay=0.1, amsgrad=True)
    topt = torch.optim.AdamW(theirs, lr=0.05, weight_decay=0.1, amsgrad=True, fused=True)
    worst = 0.0
    for t in range(STEPS):
        for p, q, tg, sc, nz in zip(ours, theirs, targets, scales, noise[t], strict=True):
            with torch.no_grad():
                q.copy_(torch.from_numpy(p.data))
            g = _grad(p.data.astype(np.float64), tg, sc, nz).astype(np.float32)
            p.grad = g
            q.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, q in zip(ours, theirs, strict=True):
            assert p.data.dtype == np.float32
            worst = max(worst, float(np.max(np.abs(p.data - q.detach().numpy()))))
    assert worst < 1e-6
