"""End to end: one training step and KV-cache generation of a char-level GPT, npml vs PyTorch.

The model is a small GPT of the kind trained on a character corpus: vocabulary 65, 4 pre-LN
layers of 4 heads, ``d_model`` 128 and 256 (512 too in ``--full``), context T = 128, batch
16, float32, learned positions, tied embeddings (``npml.models.CausalLM``). The PyTorch peer
is built here with the same shapes and npml's initial weights copied in (so both start from
the same loss, which a row checks): a fused ``W_qkv`` projection, exact ``F.gelu`` (npml's FFN
default ``"gelu"`` is the erf form), ``F.scaled_dot_product_attention(is_causal=True)``, no
``torch.compile``, on the same number of threads as Numba.

* **step**: ``zero_grad``, forward, cross-entropy, backward, AdamW step (lr 3e-3, weight
  decay 0.01 on the weight matrices only, as ``npml.models.training.make_optimizer``; no
  gradient clipping on either side), against ``torch.optim.AdamW`` with its default
  implementation and with ``fused=True``. The target row compares with the faster of the
  two (npml <= 1.0x at d_model 128, <= 1.1x at 256); tokens per second in the notes.
* **breakdown** of npml's step, by timing each component *alone*, called on inputs of the
  shapes it sees in the model (the model's own layer objects, random activations), times
  the number of times a step calls it: embedding lookup and positional add, LayerNorm,
  attention split into the projections and the core ``softmax(Q K^T / sqrt(D)) V`` (the
  implementation ``MultiHeadAttention`` picks for these sizes), the FFN's matmuls (FFN
  minus GELU) and GELU, the tied output projection, the loss and the AdamW step, forward
  and backward apart where both exist, each the fastest of its timed calls (on a busy
  machine single calls of the parts swung by 10-100x, which medians of 5 did not absorb).
  "other" is the whole step, timed alone in the same way, minus the parts (residual adds,
  ``zero_grad``, Python glue, and the error of timing parts alone). Rows and a stacked-bar
  plot ``train_breakdown.png``.
* **generate**: ``CausalLM.generate`` (KV cache, temperature 1) of 256 new tokens after a
  16-token prompt at batch 1 and 8, against a torch loop under ``torch.inference_mode``
  with a preallocated key/value cache per layer and ``torch.multinomial`` sampling (target
  npml <= 1.0x torch's time, i.e. at least its tokens per second). The context (and the
  learned position table) is 272 long for this, so no cropping happens.

Two more groups of rows, as information: the attention core at the GPT's shapes (B=16, H=4,
T=128, D=32, causal, float32), fused kernel against the plain NumPy path (``use_fused``
picks the fused one from 8 x 256 x 256 scores in all heads), forward and forward + backward;
and, when the machine is busy (load above the core count), the d_model 128 step again on one
thread per library (see :func:`_one_thread_rows`).

Contenders alternate (npml, torch, torch fused, npml, ...) with a pause between calls, after
one untimed warm-up call each (Numba compiles, torch's first-call allocations).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from npml.bench import Report, compare, load_average, peer
from npml.bench.chapters._train_breakdown import _breakdown_rows
from npml.bench.chapters._train_models import (
    GPT,
    batch,
    npml_model,
    npml_step,
    torch_generate,
    torch_gpt,
    torch_step,
)
from npml.models import CharTokenizer, tiny_corpus
from npml.nn import use_fused
from npml.nn.attention import attention_backward
from npml.nn.losses import softmax_cross_entropy_forward

NAME = "train"
TITLE = "End to end: training step and KV-cache generation of a char-level GPT vs PyTorch"
ORDER = 35

PROMPT = 16
STEP_TARGETS = {128: 1.0, 256: 1.1}  # npml step time / torch's, by d_model


def configs(report: Report) -> list[GPT]:
    if report.mode == "tiny":
        return [GPT(32, n_layers=2, T=32, batch=4)]
    return [GPT(d) for d in report.pick(None, [128, 256], [128, 256, 512])]


# -- rows ------------------------------------------------------------------------------------
def _medians(timings: dict[str, Any]) -> dict[str, float]:
    return {name: timing.median for name, timing in timings.items()}


def _pause(report: Report) -> float:
    """As the attention chapter's: BLAS-heavy calls alternate Numba, torch and OpenBLAS
    threads, whose idle spin needs about 0.2 s to stop."""
    return report.pick(0.0, 0.2, 0.2)


def _repeats(report: Report, cfg: GPT) -> int:
    """Timed rounds: fewer above d_model 128 in quick mode, to keep the chapter near 30 s."""
    return report.repeats if report.mode != "quick" or cfg.d_model <= 128 else 3


def _step_rows(report: Report, torch: Any, cfg: GPT) -> float:
    model = npml_model(cfg)
    x, y = batch(cfg)
    fns = {"npml": npml_step(model, x, y)}
    case = f"train step d_model={cfg.d_model}"
    if torch is not None:
        for name, fused in (("torch", False), ("torch fused", True)):
            fns[name] = torch_step(torch, torch_gpt(torch, model), x, y, fused)
        # same weights, same batch: the first losses agree (before any step is taken)
        l_np = float(softmax_cross_entropy_forward(model.forward(x), y)[0])
        with torch.no_grad():
            z = torch_gpt(torch, model)(torch.from_numpy(x)).reshape(-1, cfg.vocab)
            l_t = float(torch.nn.functional.cross_entropy(z, torch.from_numpy(y).reshape(-1)))
        report.row(f"{case}: initial loss, same weights", l_np, unit="", peer="torch",
                   peer_value=l_t, note=f"difference {abs(l_np - l_t):.1e} nats")  # fmt: skip
    t = _medians(compare(fns, repeats=_repeats(report, cfg), pause=_pause(report)))
    tps = {k: cfg.tokens / v for k, v in t.items()}
    shape = f"{cfg.n_layers} layers, B={cfg.batch}, T={cfg.T}, f32"
    if torch is None:
        report.row(case, t["npml"], peer="torch", peer_value=None,
                   note=f"{shape}; npml {tps['npml']:.0f} tokens/s")  # fmt: skip
        return t["npml"]
    # the target is against the faster of torch's two optimizers in this run
    best = min(("torch", "torch fused"), key=t.get)
    other = "torch fused" if best == "torch" else "torch"
    label = {"torch": "default AdamW", "torch fused": "fused AdamW"}
    threads = f"threads: torch {torch.get_num_threads()}, Numba {_numba_threads()}"
    for name, target in ((best, STEP_TARGETS.get(cfg.d_model)), (other, None)):
        report.row(
            f"{case} vs torch ({label[name]})", t["npml"], peer=name, peer_value=t[name],
            target=target if report.mode != "tiny" else None,
            note=f"{shape}; tokens/s npml {tps['npml']:.0f}, {name} {tps[name]:.0f}; {threads}",
            npml_tokens_per_s=tps["npml"], torch_tokens_per_s=tps[name],
        )  # fmt: skip
    busy = _busy() and peer("threadpoolctl") is not None
    if report.mode != "tiny" and cfg.d_model == 128 and busy:
        _one_thread_rows(report, torch, fns, cfg, case)
    return t["npml"]


def _busy() -> bool:
    load = load_average()
    return load is not None and load > (os.cpu_count() or 1)


def _one_thread_rows(report: Report, torch: Any, fns: dict, cfg: GPT, case: str) -> None:
    """The same steps with one thread for every library, as information.

    On a busy machine a multi-threaded OpenBLAS call waits for its second thread to be
    scheduled, milliseconds even for a 128 x 128 product (measured here: 16-30 ms instead of
    20 us), and npml's step makes hundreds of BLAS calls; on one thread the ratio shows the
    implementations instead of the scheduler.
    """
    with _one_thread(torch):
        t = _medians(compare(fns, repeats=3, pause=0.02))
    best = min(("torch", "torch fused"), key=t.get)
    report.row(
        f"{case} vs torch [1 thread]", t["npml"], peer=best, peer_value=t[best],
        note=f"information: no target; machine busy: load {load_average():.1f} on "
        f"{os.cpu_count()} cores; tokens/s npml {cfg.tokens / t['npml']:.0f}",
    )  # fmt: skip


@contextlib.contextmanager
def _one_thread(torch: Any) -> Iterator[None]:
    import numba
    import threadpoolctl

    before = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def _attention_rows(report: Report, cfg: GPT) -> None:
    """The fused kernel against the plain path at the GPT's attention shapes (causal)."""
    from npml.nn import attention_forward, fused_attention_backward, fused_attention_forward

    B, H, T, hd = cfg.batch, cfg.n_heads, cfg.T, cfg.d_model // cfg.n_heads
    rng = np.random.default_rng(0)
    q, k, v, do = (rng.standard_normal((B, H, T, hd)).astype(np.float32) for _ in range(4))

    def pair(fwd: Any, bwd: Any) -> Any:
        return lambda: bwd(do, fwd(q, k, v, causal=True)[1])

    fns = {
        "fused fwd": lambda: fused_attention_forward(q, k, v, causal=True),
        "plain fwd": lambda: attention_forward(q, k, v, causal=True),
        "fused fwd+bwd": pair(fused_attention_forward, fused_attention_backward),
        "plain fwd+bwd": pair(attention_forward, attention_backward),
    }
    t = _medians(compare(fns, repeats=report.repeats, pause=report.pause))
    picks = "fused" if use_fused(T, T, hd, np.float32, n=B * H) else "plain"
    for what in ("fwd", "fwd+bwd"):
        fused, plain = t[f"fused {what}"], t[f"plain {what}"]
        report.row(
            f"attention {what} at the GPT's shapes (B={B} H={H} T={T} D={hd}, causal): fused",
            fused, peer="plain NumPy", peer_value=plain,
            note=f"use_fused picks {picks}; {'fused' if fused < plain else 'plain'} was faster",
        )  # fmt: skip


def _generate_rows(report: Report, torch: Any, cfg: GPT) -> None:
    n_new = report.pick(16, 256, 256)
    model = npml_model(cfg, max_len=PROMPT + n_new)
    tm = None if torch is None else torch_gpt(torch, model)
    text = tiny_corpus()
    ids = CharTokenizer(text).encode(text)
    for B in (1, 8):
        prompt = np.stack([ids[i * PROMPT : (i + 1) * PROMPT] for i in range(B)])  # (B, 16)
        fns = {"npml": lambda p=prompt: model.generate(p, n_new, temperature=1.0, rng=0)}
        if tm is not None:
            fns["torch"] = torch_generate(torch, tm, prompt, n_new)
        # small matmuls run on one BLAS thread: the report's usual pause is enough here
        t = _medians(compare(fns, repeats=report.pick(2, 3, 7), pause=report.pause))
        tps = {k: B * n_new / v for k, v in t.items()}
        note = f"d_model={cfg.d_model}, prompt {PROMPT}; tokens/s npml {tps['npml']:.0f}"
        if "torch" in t:
            note += f", torch {tps['torch']:.0f}"
        report.row(
            f"generate {n_new} tokens, batch {B}", t["npml"], peer="torch",
            peer_value=t.get("torch"), target=1.0 if report.mode != "tiny" else None, note=note,
            npml_tokens_per_s=tps["npml"], torch_tokens_per_s=tps.get("torch"),
        )  # fmt: skip


def run(report: Report) -> None:
    torch = peer("torch")
    cfgs = configs(report)
    steps = {cfg.d_model: _step_rows(report, torch, cfg) for cfg in cfgs}
    # the breakdown at the first size only in quick mode (it costs about as much as the step)
    picked = cfgs if report.mode == "full" else cfgs[:1]
    _breakdown_rows(report, picked, steps, {cfg.d_model: _repeats(report, cfg) for cfg in picked})
    _attention_rows(report, cfgs[0])
    _generate_rows(report, torch, cfgs[0])
