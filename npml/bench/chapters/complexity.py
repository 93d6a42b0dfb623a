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
  residuals, activations). A three-term model is fitted to both sweeps; its largest
  relative error is the verdict, and each sweep's expected slope is the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from npml.bench import (
    ExponentFit,
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
HEADS = 1  # attention sweeps time one head: every size then runs in a single BLAS call


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
        from npml.nn.flash_attention import fused_attention
    except ImportError:
        return None
    q, k, v = (_inputs((1, HEADS, T, D), s) for s in range(3))
    return lambda: fused_attention(q, k, v)


def _no_grad(torch, fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` under ``torch.no_grad()``: the forward pass only, as npml's is timed."""

    def run() -> object:
        with torch.no_grad():
            return fn(*args)

    return run


def _torch_attention(T: int, D: int) -> Callable[[], object] | None:
    torch = _peer("torch")
    if torch is None:
        return None
    q, k, v = (torch.from_numpy(_inputs((1, HEADS, T, D), s)) for s in range(3))
    return _no_grad(torch, torch.nn.functional.scaled_dot_product_attention, q, k, v)


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
    return _no_grad(torch, net, torch.from_numpy(_inputs((1, T, D))))


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
    return _no_grad(torch, layer, torch.from_numpy(_inputs((1, T, D))))


# flops of one forward pass (multiply-adds count 2)
def _attention_flops(T: float, D: float) -> float:
    return HEADS * 4.0 * T * T * D  # Q K^T and A V, per head


def _ffn_flops(T: float, D: float) -> float:
    return 16.0 * T * D * D  # (T, D) @ (D, 4D) and (T, 4D) @ (4D, D)


def _encoder_flops(T: float, D: float) -> float:
    return 4.0 * T * T * D + 8.0 * T * D * D + 16.0 * T * D * D  # attention + projections + FFN


@dataclass(frozen=True)
class Family:
    """Operations timed together: npml's contenders, the peer, their flops and the formula."""

    contenders: dict[str, Callable[[int, int], Callable[[], object] | None]]
    peer: tuple[str, Callable[[int, int], Callable[[], object] | None]]
    flops: Callable[[float, float], float]
    documented: str
    exponents: tuple[float, float] | None  # (in T, in D); None: judged by a cost model


FAMILIES = {
    "attention": Family(
        {"attention (plain)": _plain_attention, "attention (fused)": _fused_attention},
        ("torch SDPA", _torch_attention),
        _attention_flops,
        "O(T^2 D)",
        (2.0, 1.0),
    ),
    "FFN": Family({"FFN": _ffn}, ("torch", _torch_ffn), _ffn_flops, "O(T D^2)", (1.0, 2.0)),
    "encoder layer": Family(
        {"encoder layer": _encoder},
        ("torch", _torch_encoder),
        _encoder_flops,
        "O(T^2 D + T D^2)",
        None,
    ),
}


@dataclass(frozen=True)
class Sweep:
    """Sizes of one variable at a fixed value of the other; the fit uses sizes >= fit_from."""

    family: str
    var: str  # "T" or "D"
    fixed: int
    sizes: list[int]
    fit_from: int

    def shape(self, n: int) -> tuple[int, int]:
        return (n, self.fixed) if self.var == "T" else (self.fixed, n)

    @property
    def fitted(self) -> list[int]:
        return [n for n in self.sizes if n >= self.fit_from]


def _ladder(lo: int, hi: int, multiple: int = 1) -> list[int]:
    """Sizes from lo to hi in steps of sqrt(2) (twice the points of a doubling ladder),
    rounded to a multiple of ``multiple``."""
    out: list[int] = []
    k = 0
    while lo * 2 ** (k / 2) <= hi * 1.001:
        n = multiple * round(lo * 2 ** (k / 2) / multiple)
        if not out or n != out[-1]:
            out.append(n)
        k += 1
    return out


# (operation, swept variable): (fixed size, sizes, smallest size in the fit) for the tiny,
# quick and full modes. Chosen from measurements on this machine: each fit starts where the
# cost per flop has levelled off (BLAS and the kernels at speed, per-call overheads a few
# percent) and spans a factor of 4 to 8. Attention is swept in T with one head of width
# 256 (module docstring), in D at T = 512; the encoder's D is a multiple of its 64-wide heads.
SWEEPS = {
    ("attention", "T"): (
        (64, [64, 128, 256], 64),
        (256, _ladder(256, 4096), 724),
        (256, _ladder(256, 8192), 724),
    ),
    ("attention", "D"): (
        (128, [32, 64, 128], 32),
        (512, [16, 32, 64, 128, *_ladder(256, 4096)], 512),
        (512, [16, 32, 64, 128, *_ladder(256, 8192)], 512),
    ),
    ("FFN", "T"): (
        (32, [64, 128, 256], 64),
        (256, _ladder(128, 4096), 512),
        (256, _ladder(128, 8192), 512),
    ),
    ("FFN", "D"): (
        (32, [32, 64, 128], 32),
        (128, _ladder(64, 2048), 512),
        (256, _ladder(64, 4096), 512),
    ),
    ("encoder layer", "T"): (
        (64, [32, 64, 128], 32),
        (128, _ladder(128, 2896), 724),
        (128, _ladder(128, 5793), 724),
    ),
    ("encoder layer", "D"): (
        (64, [64, 128], 64),
        (256, _ladder(64, 1472, 64), 384),
        (256, _ladder(64, 2944, 64), 384),
    ),
}


def _sweeps(report: Report) -> list[Sweep]:
    """The sweeps of this report's mode, in the order they run."""
    return [Sweep(op, var, *report.pick(*modes)) for (op, var), modes in SWEEPS.items()]


def _time_sweep(report: Report, sweep: Sweep) -> dict[str, list[float]]:
    """Time every contender and the peer at every size; print a row per npml contender.

    The calls run in passes: every size of every contender once, in a shuffled order (a
    fixed seed), then again, ``passes`` times; each case keeps its best. On this shared
    machine speed drifts by up to 20% for seconds at a time; passes spread a slow spell over
    all sizes instead of bending the line at the sizes it happened to hit, and the shuffle
    keeps any one size from always following the same neighbour.
    """
    fam = FAMILIES[sweep.family]
    peer_name, make_peer = fam.peer
    fns: dict[tuple[str, int], Callable[[], object]] = {}
    missing = []
    for name, make in {**fam.contenders, peer_name: make_peer}.items():
        for n in sweep.sizes:
            fn = make(*sweep.shape(n))
            if fn is None:
                missing.append(name)
                break
            fns[(name, n)] = fn
    if not fns:
        return {}
    for name in {name for name, _ in fns}:  # compile, warm the caches and thread pools
        fns[(name, sweep.sizes[0])]()
    passes = report.pick(1, 4, 7)
    timing = compare(fns, repeats=passes, warmup=0, rng=0)
    best: dict[str, list[float]] = {}
    for (name, _), t in timing.items():
        best.setdefault(name, []).append(t.best)
    have_peer = peer_name in best
    for i, n in enumerate(sweep.sizes):
        T, D = sweep.shape(n)
        for name in fam.contenders:
            if name in missing:
                continue
            t = best[name][i]
            gflops = fam.flops(T, D) / t / 1e9
            report.row(
                f"{name} T={T} D={D}",
                t,
                peer=peer_name.split()[0],  # "not installed" when its value is None
                peer_value=best[peer_name][i] if have_peer else None,
                gflops=gflops,
                note=f"{gflops:.1f} GFLOP/s",
            )
    for name in missing:
        report.row(f"{name}: {sweep.var} sweep", None, note=f"{name} is not available here")
    return best


def _fit_rows(
    report: Report, sweep: Sweep, best: dict[str, list[float]], expected: float | None
) -> dict[str, ExponentFit]:
    """Fit and print the exponent of each contender (judged) and of the peer (not judged)."""
    fam = FAMILIES[sweep.family]
    peer_name = fam.peer[0]
    points = sweep.fitted
    first = len(sweep.sizes) - len(points)  # sizes ascend: the fit takes the last ones
    judged = report.mode != "tiny"  # toy sizes measure overheads, not the asymptotic cost
    fits = {}
    for name, times in best.items():
        fit = fit_exponent(points, times[first:])
        fits[name] = fit
        is_peer = name == peer_name
        target = None if expected is None else f"{expected:.2f} +- 0.2"
        if target and not judged and not is_peer:
            target += " (tiny: not judged)"
        report.row(
            f"{name}: exponent in {sweep.var} ({fam.documented})",
            fit.slope,
            unit="",
            target=None if is_peer else target,
            met=fit.within(expected) if judged and expected is not None and not is_peer else None,
            note=f"95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], fit over {sweep.var} in "
            f"{points}" + ("; the peer, for comparison: not judged" if is_peer else ""),
            ci=[fit.ci_low, fit.ci_high],
            points=points,
            expected=expected,
        )
    _plot_sweep(report, sweep, best, fits, expected)
    return fits


def _plot_sweep(report, sweep, best, fits, expected) -> None:
    def draw(ax) -> None:
        s = np.asarray(sweep.sizes, dtype=float)
        fs = np.asarray(sweep.fitted, dtype=float)
        for name, times in best.items():
            (line,) = ax.loglog(s, times, "o-", label=name)
            fit = fits[name]
            ax.loglog(
                fs,
                np.exp(fit.intercept) * fs**fit.slope,
                "--",
                color=line.get_color(),
                label=f"fit: slope {fit.slope:.2f}",
            )
        if expected is not None:
            first = next(iter(best.values()))
            anchor = first[len(sweep.sizes) - len(fs)]
            ax.loglog(
                fs,
                anchor * (fs / fs[0]) ** expected,
                "k:",
                label=f"documented slope {expected:.2f}",
            )
        from matplotlib.ticker import NullFormatter

        ticks = sweep.sizes[::2]  # doublings, labelled as plain numbers
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        other = "D" if sweep.var == "T" else "T"
        ax.set(
            xlabel=sweep.var,
            ylabel="seconds",
            title=f"{sweep.family}: time vs {sweep.var} ({other}={sweep.fixed})",
        )
        ax.legend(fontsize=7)

    slug = "".join(c if c.isalnum() else "_" for c in sweep.family.lower())
    report.plot(f"complexity_{slug}_{sweep.var}", draw)


def _attention_two_term(report: Report, sweep: Sweep, best: dict[str, list[float]]) -> None:
    """Fit ``a T^2 D + b T^2`` over the whole D sweep of each attention contender."""
    T = sweep.fixed
    D = np.asarray(sweep.sizes, dtype=float)
    for name in FAMILIES["attention"].contenders:
        if name not in best:
            continue
        model = fit_cost_model({"T^2 D": T * T * D, "T^2": np.full_like(D, T * T)}, best[name])
        a, b = model.coef["T^2 D"], model.coef["T^2"]
        report.row(
            f"{name}: two-term model a T^2 D + b T^2 (T={T})",
            model.max_relative_error,
            unit="",
            note=f"a={a:.3g} s, b={b:.3g} s, the T^2 term equals the T^2 D term at "
            f"D={b / a if a > 0 else float('inf'):.0f}; max relative error of the model "
            f"{model.max_relative_error:.2f}",
            a=a,
            b=b,
        )


def _encoder_model(
    report: Report, sweeps: list[Sweep], results: list[dict[str, list[float]]]
) -> dict[str, float]:
    """Fit ``a T^2 D + b T D^2 + c T D`` to the encoder's fitted points of both sweeps.

    The layer's documented cost is the sum of its attention (``T^2 D``) and its projections
    and FFN (``T D^2``). Two things keep the flop formula ``4 T^2 D + 24 T D^2`` from
    predicting the slopes: the two parts run at different speeds per flop (the softmax is
    memory work), and the layer norms, residual adds and activations add a lower-order
    ``T D`` term that is still a sizeable share at ``D = 128``. The coefficients measured
    here account for both; each sweep's expected slope is the local slope of this model,
    and the model's largest relative error says whether the three terms explain the layer.
    """
    rows_T, rows_D, times = [], [], []
    for sweep, best in zip(sweeps, results, strict=True):
        for n, t in zip(sweep.sizes, best.get("encoder layer", []), strict=False):
            if n >= sweep.fit_from:
                T, D = sweep.shape(n)
                rows_T.append(T)
                rows_D.append(D)
                times.append(t)
    if not times:
        return {}
    T, D = np.asarray(rows_T, float), np.asarray(rows_D, float)
    model = fit_cost_model({"T^2 D": T * T * D, "T D^2": T * D * D, "T D": T * D}, times)
    coef = {"a": model.coef["T^2 D"], "b": model.coef["T D^2"], "c": model.coef["T D"]}
    judged = report.mode != "tiny"
    report.row(
        "encoder layer: cost model a T^2 D + b T D^2 + c T D",
        model.max_relative_error,
        unit="",
        target="max relative error <= 0.25" + ("" if judged else " (tiny: not judged)"),
        met=model.max_relative_error <= 0.25 if judged else None,
        note=f"a={coef['a']:.3g} s, b={coef['b']:.3g} s, c={coef['c']:.3g} s, fitted over both "
        f"sweeps' fitted points; attention and the matrix products cost the same at "
        f"T = {coef['b'] / coef['a'] if coef['a'] > 0 else float('inf'):.2g} D",
        **coef,
    )
    return coef


def _model_slope(sweep: Sweep, coef: dict[str, float]) -> float:
    """The log-log slope of the encoder's cost model over the sweep's fitted sizes."""
    shapes = [sweep.shape(n) for n in sweep.fitted]
    cost = [coef["a"] * T * T * D + coef["b"] * T * D * D + coef["c"] * T * D for T, D in shapes]
    return fit_exponent(sweep.fitted, cost).slope


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
        encoder: list[tuple[Sweep, dict[str, list[float]]]] = []
        for sweep in _sweeps(report):
            best = _time_sweep(report, sweep)
            fam = FAMILIES[sweep.family]
            if fam.exponents is None:  # judged once both sweeps are in (_encoder_model)
                encoder.append((sweep, best))
                continue
            expected = fam.exponents[0] if sweep.var == "T" else fam.exponents[1]
            _fit_rows(report, sweep, best, expected)
            if sweep.family == "attention" and sweep.var == "D":
                _attention_two_term(report, sweep, best)
        if encoder:
            sweeps, results = zip(*encoder, strict=True)
            coef = _encoder_model(report, list(sweeps), list(results))
            for sweep, best in encoder:
                _fit_rows(report, sweep, best, _model_slope(sweep, coef) if coef else None)
    _memory(report)
