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
from dataclasses import dataclass
from typing import Any

import numpy as np

from npml.bench import Report, compare, load_average, measure, peer
from npml.models import CausalLM, CharTokenizer, tiny_corpus
from npml.models.training import make_optimizer, sample_lm_batch
from npml.nn import gelu_backward, gelu_forward, use_fused
from npml.nn.attention import attention_backward, attention_core
from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward

NAME = "train"
TITLE = "End to end: training step and KV-cache generation of a char-level GPT vs PyTorch"
ORDER = 35

LR, WEIGHT_DECAY = 3e-3, 0.01
PROMPT = 16
STEP_TARGETS = {128: 1.0, 256: 1.1}  # npml step time / torch's, by d_model


@dataclass(frozen=True)
class GPT:
    """Sizes of the benchmarked model."""

    d_model: int
    vocab: int = 65
    n_heads: int = 4
    n_layers: int = 4
    T: int = 128
    batch: int = 16

    @property
    def tokens(self) -> int:
        return self.batch * self.T


def configs(report: Report) -> list[GPT]:
    if report.mode == "tiny":
        return [GPT(32, n_layers=2, T=32, batch=4)]
    return [GPT(d) for d in report.pick(None, [128, 256], [128, 256, 512])]


def npml_model(cfg: GPT, max_len: int | None = None) -> CausalLM:
    return CausalLM(
        cfg.vocab, cfg.d_model, cfg.n_heads, cfg.n_layers, max_len or cfg.T,
        positional="learned", tie_embeddings=True, rng=0, dtype=np.float32,
    )  # fmt: skip


def batch(cfg: GPT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of the bundled corpus (its 53 characters fit the 65-symbol vocabulary)."""
    text = tiny_corpus()
    ids = CharTokenizer(text).encode(text)
    return sample_lm_batch(ids, cfg.batch, cfg.T, np.random.default_rng(seed))


def npml_step(model: CausalLM, x: np.ndarray, y: np.ndarray) -> Any:
    """One training step of ``model`` on ``(x, y)``; returns the step function."""
    opt = make_optimizer(model, lr=LR, weight_decay=WEIGHT_DECAY)

    def step() -> float:
        model.zero_grad()
        loss, cache = softmax_cross_entropy_forward(model.forward(x), y)
        model.backward(softmax_cross_entropy_backward(1.0, cache))
        opt.step()
        return loss

    return step


# -- the PyTorch peer ------------------------------------------------------------------------
def torch_gpt(torch: Any, model: CausalLM) -> Any:
    """A torch GPT with ``model``'s shapes and weights (npml's ``x @ W`` is torch's ``x W^T``)."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, layer: Any) -> None:
            super().__init__()
            attn, ffn = layer.self_attn, layer.ffn
            d = attn.d_model
            self.H, self.hd = attn.n_heads, attn.head_dim
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.proj = nn.Linear(d, d, bias=False)
            self.fc1, self.fc2 = nn.Linear(d, ffn.d_ff), nn.Linear(ffn.d_ff, d)
            with torch.no_grad():
                for ln, norm in ((self.ln1, layer.norm1), (self.ln2, layer.norm2)):
                    ln.weight.copy_(torch.from_numpy(norm.gamma.data))
                    ln.bias.copy_(torch.from_numpy(norm.beta.data))
                self.qkv.weight.copy_(torch.from_numpy(_qkv_weight(attn).T.copy()))
                self.proj.weight.copy_(torch.from_numpy(attn.W_o.data.T.copy()))
                for fc, W, b in ((self.fc1, ffn.W_1, ffn.b_1), (self.fc2, ffn.W_2, ffn.b_2)):
                    fc.weight.copy_(torch.from_numpy(W.data.T.copy()))
                    fc.bias.copy_(torch.from_numpy(b.data))

        def forward(self, x: Any, cache: Any = None, start: int = 0) -> Any:
            B, T, D = x.shape
            qkv = self.qkv(self.ln1(x)).view(B, T, 3, self.H, self.hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, hd)
            if cache is not None:  # decoding: write the new keys/values, attend to all so far
                k_all, v_all = cache
                k_all[:, :, start : start + T] = k
                v_all[:, :, start : start + T] = v
                k, v = k_all[:, :, : start + T], v_all[:, :, : start + T]
            # causal within the new tokens; a single new query may see every cached key
            o = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
            x = x + self.proj(o.transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class TorchGPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Parameter(torch.from_numpy(model.tok_emb.W.data.copy()))
            self.pos = nn.Parameter(torch.from_numpy(model.pos_emb.W.data.copy()))
            self.blocks = nn.ModuleList(Block(layer) for layer in model.blocks)
            self.ln_f = nn.LayerNorm(model.d_model)
            with torch.no_grad():
                self.ln_f.weight.copy_(torch.from_numpy(model.norm_f.gamma.data))
                self.ln_f.bias.copy_(torch.from_numpy(model.norm_f.beta.data))

        def new_caches(self, B: int, length: int) -> list[tuple[Any, Any]]:
            shape = (B, self.blocks[0].H, length, self.blocks[0].hd)
            return [(torch.empty(shape), torch.empty(shape)) for _ in self.blocks]

        def forward(self, ids: Any, caches: Any = None, start: int = 0) -> Any:
            x = self.tok[ids] + self.pos[start : start + ids.shape[1]]  # (B, T, D)
            for i, block in enumerate(self.blocks):
                x = block(x, None if caches is None else caches[i], start)
            return self.ln_f(x) @ self.tok.T  # tied output projection, (B, T, V)

    return TorchGPT()


def _qkv_weight(attn: Any) -> np.ndarray:
    """npml's query, key and value projections side by side, ``(d_model, 3 d_model)``."""
    if hasattr(attn, "W_qkv"):
        return attn.W_qkv.data
    return np.concatenate([attn.W_q.data, attn.W_k.data, attn.W_v.data], axis=1)


def torch_step(torch: Any, tm: Any, x: np.ndarray, y: np.ndarray, fused: bool) -> Any:
    """The same step in torch: weight decay on the block matrices only, as npml's groups."""
    decay = [p for n, p in tm.named_parameters() if p.ndim == 2 and n not in ("tok", "pos")]
    rest = [p for n, p in tm.named_parameters() if not (p.ndim == 2 and n not in ("tok", "pos"))]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0}]
    opt = torch.optim.AdamW(groups, lr=LR, fused=fused)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)
    F = torch.nn.functional

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        logits = tm(tx)
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ty).backward()
        opt.step()

    return step


def torch_generate(torch: Any, tm: Any, prompt: np.ndarray, n_new: int) -> Any:
    """Sample ``n_new`` tokens after ``prompt`` (B, T_0) with a preallocated KV cache."""
    ids0 = torch.from_numpy(prompt)
    gen = torch.Generator().manual_seed(0)

    def run() -> Any:
        with torch.inference_mode():
            B, T0 = ids0.shape
            caches = tm.new_caches(B, T0 + n_new)
            logits = tm(ids0, caches, 0)[:, -1]  # prefill, (B, V)
            out = [ids0]
            for i in range(n_new):
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)
                out.append(nxt)  # (B, 1)
                if i < n_new - 1:
                    logits = tm(nxt, caches, T0 + i)[:, -1]
            return torch.cat(out, dim=1)

    return run


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


def breakdown(cfg: GPT, repeats: int) -> tuple[dict[str, float], float]:
    """Seconds per step spent in each part of npml's step, each part timed alone (docstring),
    and the whole step timed alone in the same way."""
    model = npml_model(cfg)
    x, y = batch(cfg)
    rng = np.random.default_rng(0)
    B, T, D, L = cfg.batch, cfg.T, cfg.d_model, cfg.n_layers
    H, hd = cfg.n_heads, cfg.d_model // cfg.n_heads

    def act(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    def t(fn: Any) -> float:  # the fastest call: a busy machine's interruptions only add time
        return measure(fn, repeats=repeats, warmup=1).best

    block = model.blocks[0]
    h, dh = act(B, T, D), act(B, T, D)
    parts: dict[str, float] = {}
    emb, pos = model.tok_emb, model.pos_emb
    parts["embedding fwd+bwd"] = t(lambda: emb.backward(pos.backward(pos(emb(x)))))
    norm = block.norm1
    parts["LayerNorm fwd+bwd"] = (2 * L + 1) * t(lambda: (norm(h), norm.backward(dh)))
    # attention: the core alone, then the whole module; the difference is the projections
    attn = block.self_attn
    q, k, v, do = (act(B, H, T, hd) for _ in range(4))
    fwd, bwd = (attention_core, attention_backward)
    if use_fused(T, T, hd, np.float32, n=B * H):
        from npml.nn.flash_attention import fused_attention_backward, fused_attention_forward

        fwd, bwd = fused_attention_forward, fused_attention_backward
    core_f = t(lambda: fwd(q, k, v, None, True))
    core_cache = fwd(q, k, v, None, True)[1]
    core_b = t(lambda: bwd(do, core_cache))
    mha_f = t(lambda: attn(h, causal=True))
    attn(h, causal=True)
    mha_b = t(lambda: attn.backward(dh))
    parts["attention projections fwd"] = L * max(mha_f - core_f, 0.0)
    parts["attention core fwd"] = L * core_f
    parts["attention projections bwd"] = L * max(mha_b - core_b, 0.0)
    parts["attention core bwd"] = L * core_b
    # FFN: the whole module, then GELU alone on its (B, T, d_ff) pre-activation
    ffn = block.ffn
    approx = {"gelu": "none", "gelu_tanh": "tanh"}.get(ffn.activation)
    a, da = act(B, T, ffn.d_ff), act(B, T, ffn.d_ff)
    gelu_f = t(lambda: gelu_forward(a, approx)) if approx else 0.0
    gelu_cache = gelu_forward(a, approx)[1] if approx else None
    gelu_b = t(lambda: gelu_backward(da, gelu_cache)) if approx else 0.0
    ffn_f = t(lambda: ffn(h))
    ffn(h)
    ffn_b = t(lambda: ffn.backward(dh))
    parts["FFN matmuls fwd"] = L * max(ffn_f - gelu_f, 0.0)
    parts["FFN matmuls bwd"] = L * max(ffn_b - gelu_b, 0.0)
    parts["GELU fwd+bwd"] = L * (gelu_f + gelu_b)
    # tied output projection z = h E^T and its backward (dh = dz E, dE += dz^T h)
    E, dz = model.tok_emb.W.data, act(B, T, cfg.vocab)
    parts["output projection fwd+bwd"] = t(
        lambda: (h @ E.T, dz @ E, dz.reshape(-1, cfg.vocab).T @ h.reshape(-1, D))
    )
    logits = act(B, T, cfg.vocab)
    parts["loss fwd+bwd"] = t(
        lambda: softmax_cross_entropy_backward(1.0, softmax_cross_entropy_forward(logits, y)[1])
    )
    opt = make_optimizer(model, lr=LR, weight_decay=WEIGHT_DECAY)
    for p in model.parameters():
        p.grad = act(*p.shape) * 1e-3
    parts["AdamW step"] = t(opt.step)
    whole = t(npml_step(npml_model(cfg), x, y))
    parts["other (residuals, zero_grad, Python)"] = max(whole - sum(parts.values()), 0.0)
    return parts, whole


def _breakdown_rows(report: Report, cfgs: list[GPT], steps: dict[int, float]) -> None:
    results = {}
    for cfg in cfgs:
        parts, total = breakdown(cfg, _repeats(report, cfg))
        other = parts["other (residuals, zero_grad, Python)"]
        results[cfg.d_model] = parts
        case = f"breakdown d_model={cfg.d_model}"
        report.row(
            f"{case}: whole step, timed alone", total,
            note=f"the parts below, 'other' aside, sum to {(total - other) * 1e3:.0f} ms; "
            f"the step alternating with torch took {steps[cfg.d_model] * 1e3:.0f} ms",
        )  # fmt: skip
        largest = max(parts, key=parts.get)
        for name, sec in parts.items():
            report.row(
                f"{case}: {name}", sec,
                note=f"{sec / total:.0%} of the step" + (" (largest)" if name == largest else ""),
                share=sec / total,
            )  # fmt: skip

    def draw(ax: Any) -> None:
        import matplotlib

        names = list(next(iter(results.values())))
        xs = np.arange(len(results))
        bottom = np.zeros(len(results))
        cmap = matplotlib.colormaps["tab20"]
        for i, name in enumerate(names):
            vals = np.array([1e3 * results[d][name] for d in results])
            ax.bar(xs, vals, 0.6, bottom=bottom, label=name, color=cmap(i))
            bottom += vals
        ax.set_xticks(xs, [f"d_model={d}" for d in results])
        ax.set_xlim(-0.5, len(results) + 1.2)  # room on the right for the legend
        ax.set_ylabel("ms per training step")
        ax.set_title("npml training step, parts timed alone")
        ax.legend(fontsize=6, loc="upper right")

    report.plot("train_breakdown", draw)


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
    _breakdown_rows(report, cfgs if report.mode == "full" else cfgs[:1], steps)
    _attention_rows(report, cfgs[0])
    _generate_rows(report, torch, cfgs[0])
