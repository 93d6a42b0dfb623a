"""Convolutions: npml's conv2d / conv1d against ``torch.nn.functional`` (oneDNN on CPU).

Cases (issue 15), float32, timings alternating npml / torch with a pause between calls, Numba
and torch on the same number of threads, compile time excluded by the warm-up call:

* ``Conv2d`` forward, batch 64, 32 -> 32 channels, 3 x 3, padding 1, on 16 x 16 and 32 x 32
  images, against ``F.conv2d`` (target <= 1.5x), and forward + backward against torch
  autograd through ``F.conv2d`` (target <= 2.0x); GFLOP/s counted as ``2 B C_out C_in K_h
  K_w H_out W_out`` per product (one forward, two backward);
* the plain-NumPy reference (one im2col of the whole batch, one product) against the kernel
  path (per-image im2col tiles in a Numba ``prange``) at the same shapes;
* ``Conv1d`` causal, dilation 4, batch 32, 64 channels, T = 1024, K = 3, forward and forward +
  backward, against ``F.conv1d`` on the left-padded input;
* peak extra memory (``tracemalloc``) of the reference forward against the formula
  ``(C_in K_h K_w B H_out W_out + B C_in H_p W_p + B C_out H_out W_out) x itemsize``
  (im2col matrix, padded copy, output), and of the kernel path, whose im2col buffer is one
  tile per worker: ``workers (C_in K_h K_w H_out W_out + C_in H_p W_p) + output``.

What limits npml here: torch's CPU convolution is oneDNN's direct convolution, JIT-compiled
for the CPU's vector width on a channel-blocked layout, so it never writes an im2col matrix.
npml writes one im2col tile per image (``C_in K_h K_w`` times the image: about as long as the
product itself at these sizes) and then multiplies a ``(32, 288)`` weight by a ``(288,
H W)`` tile in OpenBLAS, whose kernels are least efficient with so few output rows. On a
shared machine the ratios also move with the load (the header prints it): measured at loads
of 3 to 12 on 2 cores, forward ran 2.2-3.2x torch and forward + backward 1.6-2.4x.
"""

from __future__ import annotations

import numpy as np

from npml.bench import Report, compare, peak_memory, peer

NAME = "conv"
TITLE = "Convolutions (im2col tiles + BLAS in Numba) vs torch.nn.functional.conv2d/conv1d"
ORDER = 27

C, K = 32, 3  # conv2d: 32 -> 32 channels, 3 x 3, padding 1
SIZES = ([8], [16, 32], [16, 32])  # image sides (tiny, quick, full)
BATCH = (4, 64, 64)
CONV1D = ((4, 16, 128), (32, 64, 1024), (32, 64, 1024))  # (B, C, T); K = 3, dilation 4
DILATION = 4
REFERENCE_BACKWARD_MAX = {"tiny": 8, "quick": 16, "full": 32}  # sides where it is timed


def conv2d_inputs(B: int, side: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """x (B, C, side, side), W (C, C, K, K), b (C,) and an upstream gradient, float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, C, side, side), dtype=np.float32)
    W = (rng.standard_normal((C, C, K, K), dtype=np.float32) / np.sqrt(C * K * K)).astype(
        np.float32
    )
    b = rng.standard_normal(C, dtype=np.float32)
    dout = rng.standard_normal((B, C, side, side), dtype=np.float32)
    return x, W, b, dout


def npml_conv2d(x, W, b, dout=None, reference=False):
    """npml's conv2d forward (or forward + backward with ``dout``) as a no-argument call."""
    from npml.nn import conv

    def forward():
        if reference:
            xx, WW, bb, cache = conv.conv2d_args(x, W, b, 1, 1, 1, 1)
            return conv._conv2d_forward_reference(xx, WW, bb, cache), cache
        return conv.conv2d_forward(x, W, b, padding=1)

    def forward_backward():
        y, cache = forward()
        if reference:
            return conv._conv2d_backward_reference(dout, cache)
        return conv.conv2d_backward(dout, cache)

    return forward if dout is None else forward_backward


def torch_conv2d(torch, x, W, b, dout=None):
    """torch's F.conv2d forward (no grad), or forward + backward with ``dout``."""
    F = torch.nn.functional
    tx, tW, tb = (torch.from_numpy(a) for a in (x, W, b))
    if dout is None:

        def forward():
            with torch.no_grad():
                return F.conv2d(tx, tW, tb, padding=1)

        return forward
    gx, gW, gb = (t.clone().requires_grad_() for t in (tx, tW, tb))
    tdo = torch.from_numpy(dout)

    def forward_backward():
        for t in (gx, gW, gb):
            t.grad = None
        F.conv2d(gx, gW, gb, padding=1).backward(tdo)

    return forward_backward


def conv1d_inputs(B: int, Ch: int, T: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, Ch, T), dtype=np.float32)
    W = (rng.standard_normal((Ch, Ch, K), dtype=np.float32) / np.sqrt(Ch * K)).astype(np.float32)
    b = rng.standard_normal(Ch, dtype=np.float32)
    dout = rng.standard_normal((B, Ch, T), dtype=np.float32)
    return x, W, b, dout


def npml_conv1d(x, W, b, dout=None):
    from npml.nn import conv1d_backward, conv1d_forward

    def forward():
        return conv1d_forward(x, W, b, dilation=DILATION, causal=True)

    def forward_backward():
        return conv1d_backward(dout, forward()[1])

    return forward if dout is None else forward_backward


def torch_conv1d(torch, x, W, b, dout=None):
    F = torch.nn.functional
    pad = DILATION * (W.shape[2] - 1)
    tx, tW, tb = (torch.from_numpy(a) for a in (x, W, b))

    def conv(x_, W_, b_):
        return F.conv1d(F.pad(x_, (pad, 0)), W_, b_, dilation=DILATION)

    if dout is None:

        def forward():
            with torch.no_grad():
                return conv(tx, tW, tb)

        return forward
    gx, gW, gb = (t.clone().requires_grad_() for t in (tx, tW, tb))
    tdo = torch.from_numpy(dout)

    def forward_backward():
        for t in (gx, gW, gb):
            t.grad = None
        conv(gx, gW, gb).backward(tdo)

    return forward_backward


def _medians(report: Report, fns: dict) -> dict[str, float]:
    timings = compare(fns, repeats=report.repeats, pause=report.pause)
    return {name: timing.median for name, timing in timings.items()}


def _gflops(macs: float, seconds: float) -> float:
    return 2 * macs / seconds / 1e9


def _conv2d_rows(report: Report, torch, B: int, side: int) -> None:
    x, W, b, dout = conv2d_inputs(B, side)
    macs = B * C * C * K * K * side * side
    shape = f"B={B} {C}->{C} {K}x{K} p=1 {side}x{side} f32"
    for what, passes, target, extra in (("forward", 1, 1.5, None), ("forward+backward", 3, 2.0,
                                        dout)):  # fmt: skip
        fns = {"npml": npml_conv2d(x, W, b, extra)}
        if torch is not None:
            fns["torch"] = torch_conv2d(torch, x, W, b, extra)
        # the reference's forward+backward takes seconds at 32 x 32: quick mode skips it there
        timed_reference = extra is None or side <= REFERENCE_BACKWARD_MAX[report.mode]
        if timed_reference:
            fns["reference"] = npml_conv2d(x, W, b, extra, reference=True)
        t = _medians(report, fns)
        ours, theirs = t["npml"], t.get("torch")
        note = f"GFLOP/s npml {_gflops(passes * macs, ours):.0f}"
        if theirs:
            note += f", torch {_gflops(passes * macs, theirs):.0f}"
        report.row(f"conv2d {what} {shape}", ours, peer="torch", peer_value=theirs,
                   target=target if report.mode != "tiny" else None, note=note,
                   gflops=_gflops(passes * macs, ours))  # fmt: skip
        if not timed_reference:
            continue
        report.row(f"conv2d {what} {shape}: NumPy reference", t["reference"],
                   peer="npml kernel", peer_value=ours,
                   note="one im2col of the whole batch, one product")  # fmt: skip


def _conv1d_rows(report: Report, torch) -> None:
    B, Ch, T = report.pick(*CONV1D)
    x, W, b, dout = conv1d_inputs(B, Ch, T)
    macs = B * Ch * Ch * K * T
    case = f"conv1d causal d={DILATION} B={B} C={Ch} T={T} K={K} f32"
    for what, passes, extra in (("forward", 1, None), ("forward+backward", 3, dout)):
        fns = {"npml": npml_conv1d(x, W, b, extra)}
        if torch is not None:
            fns["torch"] = torch_conv1d(torch, x, W, b, extra)
        t = _medians(report, fns)
        ours, theirs = t["npml"], t.get("torch")
        note = f"GFLOP/s npml {_gflops(passes * macs, ours):.0f}"
        if theirs:
            note += f", torch {_gflops(passes * macs, theirs):.0f}"
        report.row(f"{case} {what}", ours, peer="torch", peer_value=theirs, note=note)


def _memory_rows(report: Report, B: int, side: int) -> None:
    from npml.nn import _conv_kernels

    x, W, b, _ = conv2d_inputs(B, side)
    item = x.itemsize
    cols = C * K * K * B * side * side * item  # the im2col matrix
    padded = B * C * (side + 2) ** 2 * item
    out = B * C * side * side * item
    shape = f"B={B} {C}->{C} {K}x{K} {side}x{side} f32"
    measured = peak_memory(npml_conv2d(x, W, b, reference=True))
    formula = cols + padded + out
    ok = abs(measured - formula) <= 0.05 * formula
    report.row(f"conv2d reference forward peak extra memory {shape}", measured, unit="B",
               peer="formula", peer_value=formula, target="within 5% of the formula", met=ok,
               note=f"im2col matrix {cols / 2**20:.1f} MiB of it")  # fmt: skip
    from npml.nn.conv import conv2d_args

    cache = conv2d_args(x, W, b, 1, 1, 1, 1)[3]
    if _conv_kernels.use_kernel(cache):
        import numba

        workers = min(numba.get_num_threads(), B)
        tile = C * K * K * side * side * item + C * (side + 2) ** 2 * item
        formula = workers * tile + out
        measured = peak_memory(npml_conv2d(x, W, b))
        ok = measured <= 1.05 * formula
        report.row(f"conv2d kernel forward peak extra memory {shape}", measured, unit="B",
                   peer="formula", peer_value=formula, target="at most the formula + 5%",
                   met=ok, note=f"{workers} im2col tiles of {tile / 2**10:.0f} KiB")  # fmt: skip


def run(report: Report) -> None:
    torch = peer("torch")  # the runner gives torch Numba's number of threads
    B = report.pick(*BATCH)
    sides = report.pick(*SIZES)
    for side in sides:
        _conv2d_rows(report, torch, B, side)
    _conv1d_rows(report, torch)
    _memory_rows(report, B, sides[-1])
