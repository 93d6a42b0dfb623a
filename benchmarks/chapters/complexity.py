"""Documented costs, measured: attention O(T^2 D), FFN O(T D^2), 4D^2 and 8D^2 parameters.

The notes state the cost of the transformer's two sublayers; this chapter checks them on
the real modules. For each operation it times a sweep in T at fixed D and a sweep in D at
fixed T, fits the log-log slope over the upper part of the sweep (where fixed per-call
overheads no longer dominate; each fit row names the points it used) and compares it with
the documented exponent (verdict: within +-0.2).

The sweeps run on one thread per library (BLAS, Numba, torch): with two threads the speed
itself still grows with size, which bends the log-log line. What is left is the machine's
own behaviour, and the report shows it rather than hides it: plain attention's T x T arrays
stop fitting in any cache as T grows, so its slope in T comes out a little above 2 (the
memory traffic that fused attention removes), and BLAS runs large products faster than
small ones, which keeps slopes in D a little below their flop counts.

Attention also pays an O(T^2) term that does not grow with D (one exponential per score),
which flattens its slope in D at small head sizes; the two-term model
``time = a T^2 D + b T^2`` is fitted over the whole D sweep and printed as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from npml.bench import (
    Report,
    compare,
    fit_cost_model,
    fit_exponent,
    matmul_peak_gflops,
    peak_memory,
)
from npml.bench import peer as _peer

NAME = "complexity"
TITLE = "Documented costs: attention O(T^2 D), FFN O(T D^2), parameters 4D^2 and 8D^2"
ORDER = 20

DTYPE = np.float32
HEADS = 4  # attention sweeps run 4 independent heads, so both cores have work at every size


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


# -- the operations ---------------------------------------------------------------------------
def _inputs(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(DTYPE)


def _plain_attention(T: int, D: int) -> Callable[[], object]:
    from npml.nn import attention_forward

    q, k, v = (_inputs((1, HEADS, T, D), s) for s in range(3))
    return lambda: attention_forward(q, k, v)


def _fused_attention(T: int, D: int) -> Callable[[], object] | None:
    try:
        from npml.nn.fused_attention import fused_attention
    except ImportError:
        return None
    q, k, v = (_inputs((1, HEADS, T, D), s) for s in range(3))
    return lambda: fused_attention(q, k, v)


def _torch_attention(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    q, k, v = (torch.from_numpy(_inputs((1, HEADS, T, D), s)) for s in range(3))
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def run() -> object:
        with torch.no_grad():
            return sdpa(q, k, v)

    return run


def _ffn(T: int, D: int) -> Callable[[], object]:
    from npml.nn import FeedForward

    ffn = FeedForward(D, rng=0, dtype=DTYPE)
    x = _inputs((1, T, D))
    return lambda: ffn.forward(x)


def _torch_ffn(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    net = torch.nn.Sequential(
        torch.nn.Linear(D, 4 * D), torch.nn.ReLU(), torch.nn.Linear(4 * D, D)
    ).float()
    x = torch.from_numpy(_inputs((1, T, D)))

    def run() -> object:
        with torch.no_grad():
            return net(x)

    return run


def _encoder(T: int, D: int) -> Callable[[], object]:
    from npml.nn.transformer import TransformerEncoderLayer

    layer = TransformerEncoderLayer(D, max(1, D // 64), rng=0, dtype=DTYPE)
    x = _inputs((1, T, D))
    return lambda: layer.forward(x)


def _torch_encoder(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    layer = torch.nn.TransformerEncoderLayer(
        D, max(1, D // 64), 4 * D, dropout=0.0, batch_first=True, norm_first=True
    ).eval()
    x = torch.from_numpy(_inputs((1, T, D)))

    def run() -> object:
        with torch.no_grad():
            return layer(x)

    return run


# flops of one forward pass (multiply-adds count 2)
def _attention_flops(T: float, D: float) -> float:
    return HEADS * 4.0 * T * T * D  # Q K^T and A V, per head


def _ffn_flops(T: float, D: float) -> float:
    return 16.0 * T * D * D  # (T, D) @ (D, 4D) and (T, 4D) @ (4D, D)


def _encoder_flops(T: float, D: float) -> float:
    return 4.0 * T * T * D + 8.0 * T * D * D + 16.0 * T * D * D  # attention + projections + FFN


OPERATIONS = {
    # name: (npml factory, torch factory, flops, documented exponents (T, D) or None)
    "attention (plain)": (_plain_attention, _torch_attention, _attention_flops, (2.0, 1.0)),
    "attention (fused)": (_fused_attention, _torch_attention, _attention_flops, (2.0, 1.0)),
    "FFN": (_ffn, _torch_ffn, _ffn_flops, (1.0, 2.0)),
    "encoder layer": (_encoder, _torch_encoder, _encoder_flops, None),
}


# Sweep sizes per mode: (tiny, quick, full). Toy sizes only smoke-test the code path. BLAS
# and the kernels reach their full speed only at moderate sizes (their GFLOP/s still rise
# below that), so each fit starts where the achieved GFLOP/s have levelled off here.
T_SWEEP = ([64, 128, 256], [256, 512, 1024, 2048, 4096], [256, 512, 1024, 2048, 4096, 8192])
D_SWEEP = (
    [32, 64, 128],
    [32, 128, 512, 1024, 2048, 4096],
    [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
)
FFN_T = ([64, 128, 256], [128, 256, 512, 1024, 2048, 4096], [128, 256, 512, 1024, 2048, 4096, 8192])
FFN_D = ([32, 64, 128], [64, 128, 256, 512, 1024, 2048], [64, 128, 256, 512, 1024, 2048, 4096])
ENC_T = ([32, 64, 128], [128, 256, 512, 1024, 2048], [128, 256, 512, 1024, 2048, 4096])
ENC_D = ([64, 128], [64, 128, 256, 512, 1024, 2048], [64, 128, 256, 512, 1024, 2048])


def _sweeps(report: Report) -> list[tuple[str, str, int, list[int], int]]:
    """(operation, swept variable, fixed size, sizes, smallest size used in the fit)."""
    p = report.pick
    out = []
    for op in ("attention (plain)", "attention (fused)"):
        out.append((op, "T", 64, p(*T_SWEEP), p(128, 1024, 1024)))
        # The T^2 exponentials rival the T^2 D products up to D ~ 200 (two-term fit below),
        # so the slope in D approaches 1 only past D ~ 1000.
        out.append((op, "D", p(128, 256, 256), p(*D_SWEEP), p(64, 1024, 1024)))
    out.append(("FFN", "T", p(32, 512, 512), p(*FFN_T), p(128, 512, 512)))
    out.append(("FFN", "D", p(64, 512, 512), p(*FFN_D), p(64, 512, 512)))
    out.append(("encoder layer", "T", p(64, 256, 256), p(*ENC_T), p(64, 512, 512)))
    out.append(("encoder layer", "D", p(64, 512, 512), p(*ENC_D), p(64, 512, 512)))
    return out


def _plot_sweep(report, op, var, sizes, times, fit, documented, fixed) -> None:
    def draw(ax) -> None:
        s = np.asarray(sizes, dtype=float)
        ax.loglog(s, times, "o-", label="measured")
        fs = s[-fit.n_points :]
        ax.loglog(
            fs, np.exp(fit.intercept) * fs**fit.slope, "--", label=f"fit: slope {fit.slope:.2f}"
        )
        if documented is not None:
            anchor = times[-fit.n_points]
            ax.loglog(
                fs, anchor * (fs / fs[0]) ** documented, ":", label=f"documented: {documented:g}"
            )
        other = "D" if var == "T" else "T"
        ax.set(xlabel=var, ylabel="seconds", title=f"{op}: time vs {var} ({other}={fixed})")
        ax.legend()

    slug = "".join(c if c.isalnum() else "_" for c in op.lower()).strip("_")
    report.plot(f"complexity_{slug}_{var}".replace("__", "_"), draw)


def _time_sweep(report: Report, op: str, var: str, fixed: int, sizes: list[int], fit_from: int):
    make, make_peer, flops, documented = OPERATIONS[op]
    repeats = report.pick(2, 3, 7)  # best of the repeats steadies the fit; rows show the best
    times = []
    for n in sizes:
        T, D = (n, fixed) if var == "T" else (fixed, n)
        fn = make(T, D)
        if fn is None:
            report.row(f"{op} T={T} D={D}", None, note="npml.nn.fused_attention not available")
            return
        fns = {"npml": fn}
        # the peer only where the fit looks (the small sizes only draw the curve)
        peer_fn = make_peer(T, D) if n >= fit_from else None
        if peer_fn is not None:
            fns["torch"] = peer_fn
        timing = compare(fns, repeats=repeats, pause=0.05 if peer_fn else 0.0)
        # Best of the repeats: on a shared machine the least disturbed run is the one that
        # measures the operation's cost, which is what the fit is about.
        t = timing["npml"].best
        times.append(t)
        report.row(
            f"{op} T={T} D={D}",
            t,
            # "not installed" only when torch is missing, not where it was left out
            peer="torch" if "torch" in timing or _peer("torch") is None else None,
            peer_value=timing["torch"].best if "torch" in timing else None,
            gflops=flops(T, D) / t / 1e9,
            note=f"{flops(T, D) / t / 1e9:.1f} GFLOP/s",
        )
    used = [i for i, n in enumerate(sizes) if n >= fit_from]
    fit = fit_exponent([sizes[i] for i in used], [times[i] for i in used])
    if documented is None:  # the encoder layer: the local slope of its flop formula
        fs = [(n, fixed) if var == "T" else (fixed, n) for n in (sizes[i] for i in used)]
        expected = fit_exponent([sizes[i] for i in used], [flops(T, D) for T, D in fs]).slope
        doc_text = "O(T^2 D + T D^2)"
    else:
        expected = documented[0] if var == "T" else documented[1]
        doc_text = {"attention": "O(T^2 D)", "FFN": "O(T D^2)"}[op.split()[0]]
    judged = report.mode != "tiny"  # toy sizes measure overheads, not the asymptotic cost
    report.row(
        f"{op}: exponent in {var} ({doc_text})",
        fit.slope,
        unit="",
        target=f"{expected:.2f} +- 0.2" + ("" if judged else " (tiny: not judged)"),
        met=fit.within(expected) if judged else None,
        note=f"95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], fit over {var} in "
        f"{[sizes[i] for i in used]}",
        ci=[fit.ci_low, fit.ci_high],
        points=[sizes[i] for i in used],
        expected=expected,
    )
    _plot_sweep(report, op, var, sizes, times, fit, expected, fixed)
    if op.startswith("attention") and var == "D":
        T = fixed
        D = np.asarray(sizes, dtype=float)
        model = fit_cost_model({"T^2 D": T * T * D, "T^2": np.full_like(D, T * T)}, times)
        a, b = model.coef["T^2 D"], model.coef["T^2"]
        report.row(
            f"{op}: two-term model a T^2 D + b T^2 (T={T})",
            model.max_relative_error,
            unit="",
            note=f"a={a:.3g} s, b={b:.3g} s, the T^2 term equals the T^2 D term at "
            f"D={b / a if a > 0 else float('inf'):.0f}; max relative error of the model "
            f"{model.max_relative_error:.2f}",
            a=a,
            b=b,
        )


def _memory(report: Report) -> None:
    sizes = report.pick([128, 256, 512], [512, 1024, 2048, 4096], [1024, 2048, 4096, 8192])
    for op in ("attention (plain)", "attention (fused)"):
        make = OPERATIONS[op][0]
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


@contextmanager
def _one_thread() -> Iterator[str]:
    """Run BLAS, Numba and torch on one thread each, then restore their settings.

    The fits are about how an operation's cost grows with T and D. With two threads the
    speed itself still grows with size (a small product cannot keep both cores busy), which
    bends the log-log line; on one thread every size runs at the core's full speed.
    """
    import numba

    torch = _peer("torch")
    numba_before = numba.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # only in the bench/test extras
        threadpool_limits = None
    numba.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    try:
        if threadpool_limits is None:
            yield "BLAS threads unchanged (threadpoolctl not installed)"
        else:
            with threadpool_limits(limits=1):
                yield "BLAS, Numba and torch on 1 thread each"
    finally:
        numba.set_num_threads(numba_before)
        if torch is not None:
            torch.set_num_threads(torch_before)


def run(report: Report) -> None:
    _parameter_rows(report)
    with _one_thread() as threads:
        peak = matmul_peak_gflops(DTYPE, n=report.pick(256, 1024, 1024))
        report.row(
            "np.matmul peak (float32)", peak, unit="GFLOP/s", note=f"the yardstick; {threads}"
        )
        for op, var, fixed, sizes, fit_from in _sweeps(report):
            _time_sweep(report, op, var, fixed, sizes, fit_from)
    _memory(report)
