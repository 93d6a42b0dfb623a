"""Foundations: import time; einsum from scratch against NumPy and opt_einsum; streaming
variance.

The import row times ``import npml`` in a fresh interpreter against ``import numpy`` in
another, alternating, and takes the medians (target: at most 1x numpy, which any use of npml
imports anyway). ``import npml`` only registers its subpackages, which load on first use,
so it should cost a small fraction of NumPy's import; one eager import of Numba (0.3-0.7 s)
would miss the target. The clock runs inside the child, so interpreter start-up is not
counted.

einsum rows time ``npml.ops.einsum`` against ``np.einsum(optimize=True)`` on each
expression of the foundation issue (target: at most 1.2x), and, for the two batched
attention expressions, against ``opt_einsum.contract`` (target: faster). Calls that take
microseconds are timed in loops long enough for the clock, and the per-call time is
reported. npml's batched contractions run on BLAS through ``np.matmul``; NumPy and
opt_einsum fall back to single-threaded sum-of-products loops when a contraction keeps a
batch index, so these rows also depend on how many cores BLAS gets (the note names the
machine's load when it was busy: contended BLAS threads slow down badly, so these cases are
timed a second time with one BLAS thread for every library, as information).

The statistics rows stream 10^7 float64 values through ``RunningStats`` in chunks and
compare with ``np.var`` on the whole array (target: at most 1.5x), and time the Numba
Welford kernel against its NumPy reference twin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from npml.bench import Report, compare, load_average
from npml.bench import peer as _peer
from npml.ops import RunningStats, einsum, variance
from npml.ops.stats import _welford_kernel, _welford_reference

NAME = "ops"
TITLE = "Foundations: import time, einsum vs NumPy and opt_einsum, streaming variance vs np.var"
ORDER = 0

# (subscripts, shapes at quick/full size, runs on multi-threaded BLAS); tiny divides sizes by 8
EINSUM_CASES = [
    ("bhqd,bhkd->bhqk", [(4, 8, 256, 64), (4, 8, 256, 64)], True),
    ("bhqk,bhkd->bhqd", [(4, 8, 256, 256), (4, 8, 256, 64)], True),
    ("ij,jk,kl->il", [(256, 256)] * 3, True),
    ("bij,bjk->bik", [(8, 256, 256)] * 2, True),
    ("ii->", [(256, 256)], False),
    ("ij->ji", [(256, 256)], False),
    ("i,i->", [(4096,)] * 2, False),
    ("ij,ij->i", [(256, 256)] * 2, False),
]
ATTENTION = {"bhqd,bhkd->bhqk", "bhqk,bhkd->bhqd"}


# Run in a fresh interpreter: seconds spent in the import, and whether it loaded Numba.
IMPORT_CODE = (
    "import sys, time; t0 = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t0, 'numba' in sys.modules)"
)


def _import_once(module: str) -> tuple[float, bool]:
    """Seconds ``import module`` takes in a fresh interpreter, and whether Numba got loaded."""
    root = str(Path(__file__).resolve().parents[3])  # the npml being measured comes first
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_CODE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    seconds, numba = out.stdout.split()
    return float(seconds), numba == "True"


def _import_rows(report: Report) -> None:
    times: dict[str, list[float]] = {"npml": [], "numpy": []}
    numba_loaded = False
    for _ in range(max(3, report.repeats)):  # alternate, so drifts hit both alike
        for module in times:
            seconds, numba = _import_once(module)
            times[module].append(seconds)
            numba_loaded |= numba and module == "npml"
    t = {k: float(np.median(v)) for k, v in times.items()}
    report.row(
        "import npml (fresh interpreter)",
        t["npml"],
        peer="import numpy",
        peer_value=t["numpy"],
        target=1.0,
        note=f"median of {len(times['npml'])}; Numba loaded: {'yes' if numba_loaded else 'no'}",
    )


def _looped(fn: Callable[[], object], inner: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(inner):
            fn()

    return run


def _inner_count(fn: Callable[[], object], budget: float) -> int:
    """Calls per timed sample so that one sample lasts about ``budget`` seconds."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return int(min(10_000, max(1, budget / max(once, 1e-7))))


def _pause(report: Report, threaded: bool = True) -> float:
    """Sleep between contenders so one's idle threads do not slow the other.

    All the contenders here share NumPy's OpenBLAS pool, so a spinning worker left by one
    is one the next would use anyway: a tenth of ``report.pause`` is enough, and less for
    single-threaded microsecond calls.
    """
    return report.pause / 10 if threaded else report.pause / 100


def _load_note() -> str:
    load, cores = load_average(), os.cpu_count() or 1
    return f"machine busy: load {load:.1f} on {cores} cores" if load and load > cores else ""


def _time_calls(report: Report, fns: dict, pause: float) -> dict[str, float]:
    """Median seconds per call of each contender, alternating, in loops long enough to time."""
    inner = _inner_count(fns["numpy"], report.pick(1e-3, 0.01, 0.05))
    timed = compare(
        {k: _looped(f, inner) for k, f in fns.items()},
        repeats=max(3, report.repeats),  # 3: a median that one preempted sample cannot move
        pause=pause,
    )
    return {k: v.median / inner for k, v in timed.items()}


def _einsum_rows(report: Report) -> None:
    rng = np.random.default_rng(0)
    oe = _peer("opt_einsum")
    threadpoolctl = _peer("threadpoolctl")
    for subscripts, shapes, threaded in EINSUM_CASES:
        if report.mode == "tiny":
            shapes = [tuple(max(1, d // 8) for d in s) for s in shapes]
        ops = [rng.standard_normal(s) for s in shapes]
        fns = {
            "npml": lambda s=subscripts, o=ops: einsum(s, *o),
            "numpy": lambda s=subscripts, o=ops: np.einsum(s, *o, optimize=True),
        }
        if subscripts in ATTENTION and oe is not None:
            fns["opt_einsum"] = lambda s=subscripts, o=ops: oe.contract(s, *o)
        np.testing.assert_allclose(fns["npml"](), fns["numpy"](), rtol=1e-10, atol=1e-10)
        t = _time_calls(report, fns, _pause(report, threaded))
        case = f"einsum {subscripts} {' x '.join(str(s) for s in shapes)}"
        note = _load_note()
        report.row(case, t["npml"], peer="numpy", peer_value=t["numpy"], target=1.2, note=note)
        if subscripts in ATTENTION:
            report.row(
                case, t["npml"], peer="opt_einsum", peer_value=t.get("opt_einsum"), target=1.0,
                note=note,
            )  # fmt: skip
        if threaded and threadpoolctl is not None and report.mode != "tiny":
            # The same calls with one BLAS thread for everyone: on a busy machine, contended
            # BLAS threads swing single calls by 10x; this row shows the algorithms' ratio.
            with threadpoolctl.threadpool_limits(1):
                t1 = _time_calls(report, fns, 0.02)
            for peer_name in ("numpy", "opt_einsum"):
                if peer_name in t1:
                    report.row(
                        f"{case} [1 BLAS thread]", t1["npml"], peer=peer_name,
                        peer_value=t1[peer_name], note="information: no target",
                    )  # fmt: skip


def _stats_rows(report: Report) -> None:
    rng = np.random.default_rng(1)
    n, chunk = report.pick((10**5, 10**4), (10**7, 10**6), (10**7, 10**6))
    x = 1e3 + rng.standard_normal(n)
    chunks = np.split(x, n // chunk)

    def running() -> float:
        rs = RunningStats()
        for c in chunks:
            rs.update(c)
        return rs.variance()

    assert abs(running() / np.var(x) - 1) < 1e-10
    timed = compare(
        {"npml": running, "numpy": lambda: np.var(x), "variance": lambda: variance(x)},
        repeats=max(3, report.repeats),  # 3: a median that one preempted sample cannot move
        pause=_pause(report),
    )
    t = {k: v.median for k, v in timed.items()}
    size = f"10^{round(np.log10(n))} float64"
    report.row(
        f"RunningStats, {size} in chunks of {chunk}", t["npml"], peer="np.var",
        peer_value=t["numpy"], target=1.5, note=_load_note(),
    )  # fmt: skip
    report.row(
        f"variance (two-pass, corrected), {size}", t["variance"], peer="np.var",
        peer_value=t["numpy"], note="no target: one pass more than np.var",
    )  # fmt: skip

    m = report.pick(10**3, 10**4, 10**5)  # the twin is a Python loop: keep it short
    xs = np.ascontiguousarray(x[:m].reshape(m, 1))
    timed = compare(
        {"kernel": lambda: _welford_kernel(xs, 1), "reference": lambda: _welford_reference(xs)},
        repeats=max(2, report.repeats // 3),
        pause=_pause(report),
    )
    report.row(
        f"Welford kernel (Numba) on 10^{round(np.log10(m))} values, one lane",
        timed["kernel"].median, peer="NumPy twin", peer_value=timed["reference"].median,
        note="the readable reference loop, for scale",
    )  # fmt: skip


def run(report: Report) -> None:
    _import_rows(report)
    _einsum_rows(report)
    _stats_rows(report)
