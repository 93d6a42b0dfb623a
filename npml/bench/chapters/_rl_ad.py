"""The ``rl`` chapter's algorithm-distillation row: training tokens per second, npml vs torch.

The model and batch are those of the tests' bandit distillation (5 arms, 100 pulls as 200
tokens, d_model 32, 2 layers, 2 heads, batch 16) with the loss masked to the action tokens;
positions are learned here (the distillation itself uses RoPE) so that the train chapter's
torch GPT, which copies npml's weights, is the same network. Both sides take full AdamW
steps (zero_grad, forward, masked cross-entropy, backward, step).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npml.bench import Report, compare
from npml.bench.chapters._train_models import LR, WEIGHT_DECAY, torch_gpt
from npml.models import CausalLM
from npml.models.training import lm_loss, make_optimizer

K, PULLS, D_MODEL, N_LAYERS, N_HEADS, BATCH = 5, 100, 32, 2, 2, 16


def ad_batch(
    pulls: int = PULLS, batch: int = BATCH, seed: int = 0
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """Layout, inputs (B, T), targets (B, T) and the action mask (B, T) of UCB1 histories."""
    from npml.rl.algorithm_distillation import TokenLayout, bandit_histories, to_tokens

    rng = np.random.default_rng(seed)
    layout = TokenLayout(1, K)
    hist = bandit_histories(rng.random((batch, K)), pulls, rng=rng)
    seqs = [to_tokens(h, layout) for h in hist]
    tok = np.stack([s[0] for s in seqs])  # (B, 2 * PULLS + 1)
    act = np.stack([s[1] for s in seqs])
    return layout, tok[:, :-1], tok[:, 1:], act[:, 1:]


def npml_ad_model(vocab: int, T: int) -> CausalLM:
    return CausalLM(vocab, D_MODEL, N_HEADS, N_LAYERS, T, positional="learned", rng=0)


def ad_row(report: Report, torch: Any) -> None:
    pulls = report.pick(20, PULLS, PULLS)  # tiny mode: the suite's smoke run
    layout, x, y, mask = ad_batch(pulls, report.pick(4, BATCH, BATCH))
    B, T = x.shape
    model = npml_ad_model(layout.vocab_size, T)
    opt = make_optimizer(model, lr=LR, weight_decay=WEIGHT_DECAY)

    def npml_step() -> None:
        model.zero_grad()
        lm_loss(model, x, y, mask=mask)
        opt.step()

    fns = {"npml": npml_step}
    if torch is not None:
        tm = torch_gpt(torch, model)
        decay = [p for n, p in tm.named_parameters() if p.ndim == 2 and n not in ("tok", "pos")]
        rest = [p for p in tm.parameters() if all(p is not q for q in decay)]
        topt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0}],
            lr=LR,
        )
        tx = torch.from_numpy(x)
        ty = torch.from_numpy(np.where(mask, y, -100).reshape(-1))  # -100: torch's ignore

        def torch_step() -> None:
            topt.zero_grad(set_to_none=True)
            z = tm(tx)
            torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), ty).backward()
            topt.step()

        fns["torch"] = torch_step
    t = {k: v.median for k, v in compare(fns, repeats=report.repeats, pause=report.pause).items()}
    tps = {k: B * T / v for k, v in t.items()}
    case = f"algorithm distillation train step (bandit, {K} arms x {pulls} pulls)"
    shape = f"d_model={D_MODEL}, {N_LAYERS} layers, B={B}, T={T}, f32, loss on actions"
    note = f"{shape}; npml {tps['npml']:.0f} tokens/s"
    if torch is None:
        report.row(case, t["npml"], peer="torch", peer_value=None, note=note)
        return
    report.row(
        f"{case} vs torch", t["npml"], peer="torch", peer_value=t["torch"],
        note=f"{note}, torch {tps['torch']:.0f} tokens/s",
        npml_tokens_per_s=tps["npml"], torch_tokens_per_s=tps["torch"],
    )  # fmt: skip
