"""The benchmarked char-level GPT on both sides: its sizes, npml's model, batch and training step,
and the PyTorch peer with npml's weights copied in, its step and its KV-cache generation loop.

Private to the ``train`` chapter (modules starting with ``_`` are not chapters); the chapter's
docstring says what the peer matches (fused ``W_qkv``, exact GELU, SDPA, AdamW groups).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from npml.models import CausalLM, CharTokenizer, tiny_corpus
from npml.models.training import make_optimizer, sample_lm_batch
from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward

LR, WEIGHT_DECAY = 3e-3, 0.01


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
