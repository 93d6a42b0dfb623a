"""The complexity chapter's plots: one log-log figure per sweep, measured times, the fitted
lines over the fitted sizes, and the documented (or predicted) slope for comparison."""

from __future__ import annotations

import numpy as np

from npml.bench import ExponentFit, Report
from npml.bench.chapters._complexity_sweeps import Sweep


def plot_sweep(
    report: Report,
    sweep: Sweep,
    best: dict[str, list[float]],
    fits: dict[str, ExponentFit],
    expected: float | None,
) -> None:
    """Save ``complexity_<family>_<var>.png``: the times in ``best`` with their ``fits``."""

    def draw(ax) -> None:
        s = np.asarray(sweep.sizes, dtype=float)
        fs = np.asarray(sweep.fitted, dtype=float)
        for name, fit in fits.items():
            (line,) = ax.loglog(s, best[name], "o-", label=name)
            ax.loglog(
                fs,
                np.exp(fit.intercept) * fs**fit.slope,
                "--",
                color=line.get_color(),
                label=f"fit: slope {fit.slope:.2f}",
            )
        if expected is not None:
            first = best[next(iter(fits))]
            anchor = first[len(sweep.sizes) - len(fs)]
            ax.loglog(
                fs,
                anchor * (fs / fs[0]) ** expected,
                "k:",
                label=f"expected slope {expected:.2f}",
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
