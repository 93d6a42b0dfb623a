"""Optimizers: SGD, Adam and AdamW, learning-rate schedules and gradient clipping.

Every optimizer follows ``torch.optim`` operation for operation (the tests compare them step
by step), takes a Module, Parameters, ``(name, Parameter)`` pairs or parameter groups, and
saves its state as plain arrays for bit-exact resumption. The Adam/AdamW step runs in one
fused Numba pass over parameters, gradients and moments.
"""

from npml.optim.adam import Adam, AdamW
from npml.optim.base import Optimizer
from npml.optim.clip import clip_grad_norm
from npml.optim.groups import decay_groups
from npml.optim.schedules import Constant, LRScheduler, StepDecay, WarmupCosine
from npml.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "LRScheduler",
    "Optimizer",
    "StepDecay",
    "WarmupCosine",
    "clip_grad_norm",
    "decay_groups",
]
