"""One measured case of the report: the row, its verdict, and how its values are written.

A row holds npml's measurement, optionally a peer's from the same run and the ratio
between them, and optionally a target. A numeric target is a ceiling: on the ratio
:math:`r = t_\\text{npml} / t_\\text{peer}` when there is a peer, on the value itself when
there is none, and the verdict is :math:`r \\le` target. A string target describes a
condition the chapter checks itself and passes in as the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from npml._checks import check_bool


@dataclass
class Row:
    """One measured case of a chapter."""

    chapter: str
    case: str
    value: float | None
    unit: str = "s"
    peer: str | None = None
    peer_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.met is not None:  # a verdict, written to the JSON: True, False or None
            self.met = check_bool(self.met, "met")


class Verdict(NamedTuple):
    """Result of :func:`judge`."""

    ratio: float | None  # value / peer_value, when both are known
    target: str | None  # the target as printed ("<= 1.2x torch")
    met: bool | None  # None: no target, or nothing to judge it on


def judge(
    value: float | None,
    peer: str | None,
    peer_value: float | None,
    target: float | str | None,
    met: bool | None,
) -> Verdict:
    """The ratio, the printed target and the verdict of a row (the rule in the docstring).

    ``met`` given by the caller wins; it is computed only for numeric targets.
    """
    ratio = value / peer_value if value is not None and peer_value else None
    text = None
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        text = f"<= {target:g}x {peer}" if peer else f"<= {target:g}"
        if met is None:
            if ratio is not None:
                met = ratio <= target
            elif peer is None and value is not None:
                met = value <= target
    elif isinstance(target, str):
        text = target
    return Verdict(ratio, text, met)


def format_value(value: float | None, unit: str) -> str:
    """A value for the table: seconds and bytes in a readable scale, counts as integers."""
    if value is None:
        return "-"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale or suffix == "us":
                return f"{value / scale:.3g} {suffix}"
    if unit == "B":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B")):
            if abs(value) >= scale or suffix == "B":
                return f"{value / scale:.3g} {suffix}"
    if unit == "":
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value)}"
        return f"{value:.4g}"
    return f"{value:.4g} {unit}"


def jsonable(value: Any) -> Any:
    """Plain Python values for JSON (NumPy scalars become Python's, NaN/inf become None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
