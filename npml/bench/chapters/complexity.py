"""Documented costs, measured: attention O(T^2 D), FFN O(T D^2), 4D^2 and 8D^2 parameters.

The notes state the cost of the transformer's two sublayers; this chapter checks them on
the real modules. For each operation it times a sweep in T at fixed D and a sweep in D at
fixed T, in steps of sqrt(2), fits the log-log slope over the upper part of the sweep
(where per-call overheads no longer matter and BLAS has reached its speed; each fit row
names the points it used) and compares it with the documented exponent (verdict: within
+-0.2). torch is timed in the same passes and its exponent printed beside npml's, unjudged:
it shows what this machine does at these sizes.

How the sweeps are timed, and why (each point measured here):

* **One thread per library** (BLAS, Numba, torch). With two threads the speed itself still
  grows with size (a small product cannot keep both cores busy), which bends the line.
* **In passes**: every size of every contender once, in a shuffled order, then again; each
  case keeps its best. Speed on this shared machine drifts by up to 20% for seconds at a
  time; passes spread a slow spell over all sizes instead of bending the line where it hit.
* **One head of width D = 256 in the T sweep.** Plain attention writes and rereads its
  T x T scores several times; as they outgrow the caches the memory traffic per score
  rises, and with one head of 64 its slope in T came out at 2.1-2.25 while torch's and
  the fused kernel's stayed at 1.95-2.0. At D = 256 the products outweigh that traffic
  (the same T^2 D work as four heads of 64).
* **Attention's O(T^2) term.** One exponential per score does not grow with D, which
  flattens the slope in D at small head sizes; the two-term model ``a T^2 D + b T^2`` is
  fitted over the whole D sweep and printed, with the head size where the terms are equal.
* **The encoder layer** mixes ``T^2 D`` (attention) and ``T D^2`` (projections and FFN),
  which run at different speeds per flop, plus a lower-order ``T D`` (layer norms,
  residuals, activations), so its expected slope in each sweep is not a documented number
  but lies between them. A three-term model ``a T^2 D + b T D^2 + c T D`` fitted to both
  sweeps says whether those terms explain the layer (verdict: largest relative error).
  Judging each sweep's slope against that model's own slope would judge the timings by
  themselves: the model was fitted to them, so the verdict could hardly fail. Instead the
  layer's three parts (self-attention ``T^2 D + T D^2``, FFN ``T D^2``, norms and residual
  adds ``T D``) are timed in the same passes, each fitted with its documented terms on the
  *other* sweep (the T sweep's expected slope comes from the parts timed in the D sweep,
  and the other way round), and the layer's slope is judged against the local slope of
  their sum. One sweep cannot separate the three-term model's ``T^2 D`` from its ``T D``
  (at fixed T both grow as D), but each part has at most one term per power of the swept
  variable, so each is determined by either sweep. The parts' lower-order work (bias adds,
  reshapes, the FFN's activation) is counted in their leading term, which errs towards a
  steeper expected slope. A cost that grows differently from what the other sweep
  predicts (softmax traffic per score rising with T, a copy that grows as T^2) shows as a
  missed verdict.

The chapter's parts, each a private sibling: the operations, peers and flop counts
(``_complexity_ops``), the sweeps and how they are timed (``_complexity_sweeps``), the
exponent and cost-model fits (``_complexity_fits``) and the plots (``_complexity_plots``).
"""

from __future__ import annotations

from npml.bench import Report, fit_exponent, matmul_peak_gflops, peak_memory
from npml.bench.chapters._complexity_fits import (
    attention_two_term,
    encoder_model,
    fit_rows,
    parts_slope,
)
from npml.bench.chapters._complexity_ops import DTYPE, FAMILIES
from npml.bench.chapters._complexity_sweeps import Sweep, one_thread, sweeps, time_sweep

NAME = "complexity"
TITLE = "Documented costs: attention O(T^2 D), FFN O(T D^2), parameters 4D^2 and 8D^2"
ORDER = 20


def count_parameters(D: int, d_ff: int | None = None, n_heads: int = 1) -> dict[str, int]:
    """Parameter counts read from the real modules (not from the formulas)."""
    from npml.nn import FeedForward, MultiHeadAttention

    return {
        "mha": MultiHeadAttention(D, n_heads, bias=False, rng=0, dtype=DTYPE).n_params(),
        "mha_bias": MultiHeadAttention(D, n_heads, bias=True, rng=0, dtype=DTYPE).n_params(),
        "ffn": FeedForward(D, d_ff, bias=True, rng=0, dtype=DTYPE).n_params(),
        "ffn_nobias": FeedForward(D, d_ff, bias=False, rng=0, dtype=DTYPE).n_params(),
    }


def _parameter_rows(report: Report) -> None:
    for D in report.pick([64, 128], [64, 128, 256, 512, 1024], [64, 128, 256, 512, 1024]):
        n_heads = max(1, D // 64)
        counts = count_parameters(D, n_heads=n_heads)
        formulas = {
            "mha": ("4 D^2", 4 * D * D),
            "mha_bias": ("4 D^2 + 4 D", 4 * D * D + 4 * D),
            "ffn_nobias": ("8 D^2", 8 * D * D),
            "ffn": ("8 D^2 + 5 D", 8 * D * D + 5 * D),
        }
        for key, (text, expected) in formulas.items():
            label = {"mha": "MultiHeadAttention", "mha_bias": "MultiHeadAttention(bias=True)"}
            label |= {"ffn": "FeedForward", "ffn_nobias": "FeedForward(bias=False)"}
            report.row(
                f"params {label[key]} D={D}",
                counts[key],
                unit="",
                target=f"== {text} = {expected}",
                met=counts[key] == expected,
            )


def _memory(report: Report) -> None:
    sizes = report.pick([128, 256, 512], [512, 1024, 2048, 4096], [1024, 2048, 4096, 8192])
    for op, make in FAMILIES["attention"].contenders.items():
        if make(8, 8) is None:
            report.row(f"{op}: peak extra memory", None, note="fused attention not available")
            continue
        peaks = []
        for T in sizes:
            fn = make(T, 64)
            fn()  # compile / warm up outside the measurement
            peaks.append(peak_memory(fn))
            report.row(f"{op}: peak extra memory T={T} D=64", peaks[-1], unit="B")
        fit = fit_exponent(sizes, peaks)
        judged = report.mode != "tiny"
        if "plain" in op:  # the T x T probabilities kept for the backward pass
            target, met = "2 +- 0.2", fit.within(2.0)
        else:  # outputs and log-sum-exps grow as T; per-thread tiles are a constant
            target, met = "<= 1.2 (linear or better)", fit.slope <= 1.2
        report.row(
            f"{op}: memory exponent in T",
            fit.slope,
            unit="",
            target=target + ("" if judged else " (tiny: not judged)"),
            met=met if judged else None,
            note=f"95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], T in {sizes}",
        )


def run(report: Report) -> None:
    _parameter_rows(report)
    with one_thread() as threads:
        peak = matmul_peak_gflops(DTYPE, n=report.pick(256, 1024, 1024))
        report.row(
            "np.matmul peak (float32)", peak, unit="GFLOP/s", note=f"the yardstick; {threads}"
        )
        encoder: dict[str, tuple[Sweep, dict[str, list[float]]]] = {}
        for sweep in sweeps(report):
            best = time_sweep(report, sweep)
            fam = FAMILIES[sweep.family]
            if fam.exponents is None:  # judged once both sweeps are in (parts_slope)
                encoder[sweep.var] = (sweep, best)
                continue
            expected = fam.exponents[0] if sweep.var == "T" else fam.exponents[1]
            fit_rows(report, sweep, best, expected)
            if sweep.family == "attention" and sweep.var == "D":
                attention_two_term(report, sweep, best)
        if encoder:
            swept, results = zip(*encoder.values(), strict=True)
            encoder_model(report, list(swept), list(results))
            for var, (sweep, best) in encoder.items():
                other = encoder.get("D" if var == "T" else "T")
                expected, basis = (None, "") if other is None else parts_slope(sweep, *other)
                fit_rows(report, sweep, best, expected, basis)
    _memory(report)
