"""Optimizers: one AdamW step over a transformer-shaped set of float32 parameters.

The parameters have the shapes of a 19-layer transformer (attention and feed-forward
matrices, biases, LayerNorm gains and shifts) plus an embedding table: 231 tensors and
about 10M parameters (about 100k in tiny mode), the sizes of the optimizer issue. An AdamW
step reads the parameters, gradients and both moments and writes three of them back, so it
is limited by memory bandwidth: 28 bytes per float32 parameter.

Rows: npml's ``AdamW.step`` (the fused Numba kernel, one parallel pass over all tensors,
including its NaN/inf check of the gradients) against ``torch.optim.AdamW`` with its
default implementation (a Python loop of tensor ops on CPU) and with ``fused=True``
(target: npml at most 1.0x torch fused), and the NumPy reference twin of the kernel
against the kernel.
"""

from __future__ import annotations

import numpy as np

from npml.bench import Report, compare
from npml.bench import peer as _peer
from npml.nn import Parameter
from npml.optim import AdamW
from npml.optim.adam import _adam_reference

NAME = "optim"
TITLE = "Optimizers: AdamW step, npml fused Numba kernel vs torch.optim.AdamW"
ORDER = 30


def transformer_shapes(d: int, n_layers: int = 19, vocab: int | None = None) -> list[tuple]:
    """Parameter shapes of a pre-LN transformer: 12 tensors per layer, embedding, final LN."""
    vocab = vocab if vocab is not None else 40 * d
    shapes: list[tuple] = [(vocab, d)]
    for _ in range(n_layers):
        shapes += [(d,), (d,)]  # ln1 gamma, beta
        shapes += [(d, d)] * 4  # W_q, W_k, W_v, W_o
        shapes += [(d,), (d,)]  # ln2 gamma, beta
        shapes += [(d, 4 * d), (4 * d,), (4 * d, d), (d,)]  # W_1, b_1, W_2, b_2
    shapes += [(d,), (d,)]  # final LayerNorm
    return shapes


def make_problem(d: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random float32 parameters and gradients with transformer shapes."""
    rng = np.random.default_rng(seed)
    shapes = transformer_shapes(d)
    data = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    return data, grads


def npml_adamw(data: list[np.ndarray], grads: list[np.ndarray]) -> AdamW:
    params = []
    for x, g in zip(data, grads, strict=True):
        p = Parameter(x.copy())
        p.grad = g.copy()
        params.append(p)
    return AdamW(params, lr=1e-3, weight_decay=1e-2)


def reference_step(data, grads, state, step=[0]):  # noqa: B006 - the step counter persists
    """All tensors through the NumPy twin: what the kernel replaces."""
    step[0] += 1
    hyper = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, decoupled=True)
    for p, g, (m, v) in zip(data, grads, state, strict=True):
        _adam_reference(p, g, m, v, None, t=step[0], **hyper)


def run(report: Report) -> None:
    d = report.pick(20, 192, 192)
    data, grads = make_problem(d)
    n = sum(x.size for x in data)
    case = f"AdamW step, {n / 1e6:.2g}M float32 params in {len(data)} tensors"
    opt = npml_adamw(data, grads)
    fns = {"npml": opt.step}
    torch = _peer("torch")
    if torch is not None:
        for name, fused in (("torch", False), ("torch fused", True)):
            ts = [torch.tensor(x.copy()) for x in data]
            for t, g in zip(ts, grads, strict=True):
                t.grad = torch.tensor(g.copy())
            fns[name] = torch.optim.AdamW(ts, lr=1e-3, weight_decay=1e-2, fused=fused).step
    ref_data = [x.copy() for x in data]
    ref_state = [(np.zeros_like(x), np.zeros_like(x)) for x in data]
    fns["numpy twin"] = lambda: reference_step(ref_data, grads, ref_state)
    t = {k: v.median for k, v in compare(fns, repeats=report.repeats, pause=report.pause).items()}
    gbs = 28 * n / t["npml"] / 1e9
    extra = {"n_params": n, "n_tensors": len(data), "npml_GBps": gbs}
    note = f"{gbs:.1f} GB/s effective"
    if torch is None:
        report.row(case, t["npml"], peer="torch", peer_value=None, note=note, **extra)
    else:
        report.row(case, t["npml"], peer="torch fused", peer_value=t["torch fused"],
                   target=1.0, note=note, **extra)  # fmt: skip
        report.row(case, t["npml"], peer="torch", peer_value=t["torch"], note="default", **extra)
    report.row(f"{case}: NumPy twin", t["numpy twin"], peer="npml kernel",
               peer_value=t["npml"], note="plain ufuncs, one tensor at a time")  # fmt: skip
