"""Where npml's training step spends its time: each part of the step timed alone, on inputs of
the shapes it sees in the model, times the number of calls a step makes, plus "other".

Private to the ``train`` chapter, whose docstring lists the parts; rows and the stacked-bar
plot ``train_breakdown.png``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml.bench import Report, measure
from npml.bench.chapters._train_models import (
    GPT,
    LR,
    WEIGHT_DECAY,
    batch,
    npml_model,
    npml_step,
)
from npml.models.training import make_optimizer
from npml.nn import gelu_backward, gelu_forward, use_fused
from npml.nn.attention import attention_backward, attention_core
from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward


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


def _breakdown_rows(
    report: Report, cfgs: list[GPT], steps: dict[int, float], repeats: dict[int, int]
) -> None:
    """Rows and plot of :func:`breakdown`; ``repeats`` and ``steps`` are by d_model."""
    results = {}
    for cfg in cfgs:
        parts, total = breakdown(cfg, repeats[cfg.d_model])
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
