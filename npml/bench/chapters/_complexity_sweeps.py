"""The complexity chapter's sweeps: which sizes, on how many threads, timed in which order.

Each operation is swept in T at fixed D and in D at fixed T, in steps of sqrt(2); the
exponent fit uses the upper part of each sweep, where per-call overheads no longer matter
and BLAS has reached its speed. The sizes and the reasons for them are in :data:`SWEEPS`;
how the calls are ordered, in :func:`time_sweep`; why one thread, in :func:`one_thread`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from npml.bench import Report, compare
from npml.bench import peer as _peer
from npml.bench.chapters._complexity_ops import FAMILIES


@dataclass(frozen=True)
class Sweep:
    """Sizes of one variable at a fixed value of the other; the fit uses sizes >= fit_from."""

    family: str
    var: str  # "T" or "D"
    fixed: int
    sizes: list[int]
    fit_from: int

    def shape(self, n: int) -> tuple[int, int]:
        """``(T, D)`` at size ``n`` of the swept variable."""
        return (n, self.fixed) if self.var == "T" else (self.fixed, n)

    @property
    def fitted(self) -> list[int]:
        """The sizes the exponent fit uses (the sweep's last ones: sizes ascend)."""
        return [n for n in self.sizes if n >= self.fit_from]


def ladder(lo: int, hi: int, multiple: int = 1) -> list[int]:
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
# 256 (the chapter's docstring), in D at T = 512; the encoder's D is a multiple of its
# 64-wide heads.
SWEEPS = {
    ("attention", "T"): (
        (64, [64, 128, 256], 64),
        (256, ladder(256, 4096), 724),
        (256, ladder(256, 8192), 724),
    ),
    ("attention", "D"): (
        (128, [32, 64, 128], 32),
        (512, [16, 32, 64, 128, *ladder(256, 4096)], 512),
        (512, [16, 32, 64, 128, *ladder(256, 8192)], 512),
    ),
    ("FFN", "T"): (
        (32, [64, 128, 256], 64),
        (256, ladder(128, 4096), 512),
        (256, ladder(128, 8192), 512),
    ),
    ("FFN", "D"): (
        (32, [32, 64, 128], 32),
        (128, ladder(64, 2048), 512),
        (256, ladder(64, 4096), 512),
    ),
    ("encoder layer", "T"): (
        (64, [32, 64, 128], 32),
        (128, ladder(128, 2896), 724),
        (128, ladder(128, 5793), 724),
    ),
    ("encoder layer", "D"): (
        (64, [64, 128], 64),
        (256, ladder(64, 1472, 64), 384),
        (256, ladder(64, 2944, 64), 384),
    ),
}


def sweeps(report: Report) -> list[Sweep]:
    """The sweeps of this report's mode, in the order they run."""
    return [Sweep(op, var, *report.pick(*modes)) for (op, var), modes in SWEEPS.items()]


def time_sweep(report: Report, sweep: Sweep) -> dict[str, list[float]]:
    """Time every contender, the peer and the parts at every size; print a row per contender.

    The calls run in passes: every size of every contender once, in a shuffled order (a
    fixed seed), then again, ``passes`` times; each case keeps its best. On this shared
    machine speed drifts by up to 20% for seconds at a time; passes spread a slow spell over
    all sizes instead of bending the line at the sizes it happened to hit, and the shuffle
    keeps any one size from always following the same neighbour.

    Returns the best time at each size, by contender, peer and part name (only those
    available here).
    """
    fam = FAMILIES[sweep.family]
    peer_name, make_peer = fam.peer
    makers = {**fam.contenders, peer_name: make_peer}
    makers |= {name: part.make for name, part in fam.parts.items()}
    fns: dict[tuple[str, int], Callable[[], object]] = {}
    missing = []
    for name, make in makers.items():
        for n in sweep.sizes:
            fn = make(*sweep.shape(n))
            if fn is None:
                missing.append(name)
                break
            fns[(name, n)] = fn
    fns = {key: fn for key, fn in fns.items() if key[0] not in missing}
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
        if name not in fam.parts:  # a missing peer is reported too
            report.row(f"{name}: {sweep.var} sweep", None, note=f"{name} is not available here")
    return best


@contextmanager
def one_thread() -> Iterator[str]:
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
