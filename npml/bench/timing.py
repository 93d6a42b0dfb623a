"""Timing primitives: warm-up, repeats, medians, alternating comparisons, peak memory.

Benchmarks in npml are ratios against a peer measured in the same run, because these
machines are noisy (about +-20% between runs). Two habits keep the ratios honest:

* **warm-up**: the first call of a Numba function compiles it; :func:`measure` calls the
  function ``warmup`` times before timing so compile time is never counted;
* **alternation with a pause**: :func:`compare` times the contenders in turn (A, B, A, B,
  ...), so slow drifts of the machine hit both alike, and sleeps ``pause`` seconds between
  them, because one library's idle worker threads keep spinning for a while after a
  parallel call and slow whichever library runs next (measured here: up to 1.7x).
"""

from __future__ import annotations

import gc
import numbers
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from npml._checks import as_rng, check_scalar

K = TypeVar("K")


@dataclass
class Timing:
    """Wall-clock times of repeated calls, in seconds."""

    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def best(self) -> float:
        return float(np.min(self.times))


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _check_timing_args(repeats: int, warmup: int) -> None:
    check_scalar(repeats, "repeats", kind=numbers.Integral, low=1)
    check_scalar(warmup, "warmup", kind=numbers.Integral, low=0)


def measure(
    fn: Callable[[], object], repeats: int = 7, warmup: int = 1, min_time: float = 0.0
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeats : int, default 7
        Number of timed calls (the median is what reports use).
    warmup : int, default 1
        Untimed calls first (JIT compilation, caches, page faults).
    min_time : float, default 0
        Keep timing beyond ``repeats`` until this many seconds have been spent in total,
        which steadies the median of very fast calls.
    """
    _check_timing_args(repeats, warmup)
    if not callable(fn):
        raise TypeError(f"fn={fn!r} is not callable; expected a function of no arguments")
    check_scalar(min_time, "min_time", low=0.0)
    for _ in range(warmup):
        fn()
    timing = Timing()
    spent = 0.0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(timing.times) < repeats or (spent < min_time and len(timing.times) < 1000):
            t = _once(fn)
            timing.times.append(t)
            spent += t
    finally:
        if gc_was_enabled:
            gc.enable()
    return timing


def compare(
    fns: dict[K, Callable[[], object]],
    repeats: int = 7,
    warmup: int = 1,
    pause: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> dict[K, Timing]:
    """Time several functions alternately (A, B, A, B, ...) and return each one's timings.

    Parameters
    ----------
    fns : dict
        Name (any hashable) to a function called with no arguments.
    repeats : int, default 7
        Rounds; each round calls every function once.
    warmup : int, default 1
        Untimed calls of each function first.
    pause : float, default 0
        Seconds of sleep between consecutive calls (see the module docstring); 0.2 s is
        enough for OpenMP/OpenBLAS/Numba worker threads to go idle.
    rng : Generator, int or None
        When given, each round calls the functions in a fresh random order. Order itself
        can bias a sweep: measured here, the largest array of a sweep timed smallest to
        largest ran up to 40% slower per element than when it came first in the round.
    """
    _check_timing_args(repeats, warmup)
    check_scalar(pause, "pause", low=0.0)
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError(f"fns={fns!r}; expected a non-empty dict of name to function")
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"fns[{name!r}]={fn!r} is not callable; expected a function")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out = {name: Timing() for name in fns}
    names = list(fns)
    gen = None if rng is None else as_rng(rng)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            order = names if gen is None else [names[i] for i in gen.permutation(len(names))]
            for name in order:
                if pause:
                    time.sleep(pause)
                out[name].times.append(_once(fns[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's and NumPy's allocators while ``fn()`` runs.

    NumPy reports its array buffers to :mod:`tracemalloc`, so this measures the scratch
    arrays of NumPy code. Memory that a Numba kernel allocates inside compiled code is not
    seen by tracemalloc; kernels that need measuring take their scratch buffers as arguments
    allocated in Python, or report them separately.
    """
    if not callable(fn):
        raise TypeError(f"fn={fn!r} is not callable; expected a function of no arguments")
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.clear_traces()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - base)


def matmul_peak_gflops(dtype: type = np.float32, n: int = 1024, repeats: int = 5) -> float:
    """The machine's ``np.matmul`` speed on ``n x n`` matrices, in GFLOP/s (2 n^3 flops).

    The yardstick for "achieved GFLOP/s" columns: a kernel near this number is limited by
    the hardware, not by its code.
    """
    check_scalar(n, "n", kind=numbers.Integral, low=1)
    try:
        dtype_kind = np.dtype(dtype).kind
    except TypeError:
        dtype_kind = None
    if dtype_kind != "f":
        raise TypeError(f"dtype={dtype!r}; expected a float dtype (np.float32 or np.float64)")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    t = measure(lambda: a @ b, repeats=repeats, warmup=1).median
    return 2.0 * n**3 / t / 1e9
