"""The plan of an einsum call: what to do to each operand, and which pairs to contract when.

Everything ``einsum`` does depends only on the subscripts and the operands' shapes, so it
is decided once here and cached (``_plan`` is an ``lru_cache``); ``npml.ops.einsum`` then
runs the plan with NumPy calls. The steps are those of ``einsum.py``'s docstring:

1. per operand, the diagonals to take, the size-1 axes to squeeze and the letters to sum;
2. for each pair, the letters split into batch, contracted and one-operand letters, and the
   transposes and reshapes that make the pair one batched matrix product
   :math:`C_{bmn} = \\sum_k A_{bmk} B_{bkn}` (or a broadcast product when nothing is
   contracted);
3. the order of the pairs: greedy, the cheapest contraction first (opt_einsum's rule), or
   left to right;
4. the final transpose into the output's order.

The cost model counts a multiply and an add per term of each matrix product and one
operation per element of sums and broadcast products.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from typing import NamedTuple

from npml.ops._einsum_parse import parse


class _Prep(NamedTuple):
    """Step 1 for one operand."""

    diagonals: tuple[tuple[int, int], ...]  # np.diagonal(axis1, axis2) calls, in order
    squeeze: tuple[int, ...]  # size-1 axes that broadcast against a larger size
    sum_axes: tuple[int, ...]  # letters that only this operand holds


class _Step(NamedTuple):
    """Step 2 for one pair: ``a`` is operand ``i`` (or ``j`` when ``swap``), ``b`` the other."""

    i: int
    j: int
    swap: bool
    matmul: bool  # False: broadcast product (nothing to contract)
    perm_a: tuple[int, ...] | None  # None when no transpose is needed
    shape_a: tuple[int, ...] | None  # None when no reshape is needed
    perm_b: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    shape_out: tuple[int, ...] | None


class _Plan(NamedTuple):
    """Steps 1-4 for one call, and what :class:`~npml.ops.einsum.EinsumPath` reports."""

    preps: tuple[_Prep | None, ...]  # one per operand, None when nothing is done to it
    steps: tuple[_Step, ...]  # the pairs, in contraction order
    perm_out: tuple[int, ...] | None
    scalar: bool  # 0-d output: return a NumPy scalar, as np.einsum does
    path: tuple[tuple[int, int], ...]
    flops: int
    naive_flops: int
    steps_text: tuple[str, ...]


def _perm(src: str, dst: str) -> tuple[int, ...] | None:
    """Axes permutation taking labels ``src`` to ``dst`` (``None`` for the identity)."""
    perm = tuple(src.index(c) for c in dst)
    return None if perm == tuple(range(len(src))) else perm


def _prod(labels: str, sizes: dict[str, int]) -> int:
    return math.prod(sizes[c] for c in labels)


def _plan_pair(
    la: str, lb: str, keep: set[str], sizes: dict[str, int]
) -> tuple[str, int, tuple, str]:
    """Plan the contraction of operands with labels ``la`` and ``lb`` (step 2).

    Returns the result's labels, the flops, the fields of :class:`_Step` from ``matmul`` on,
    and a readable description.
    """
    lead = la if _prod(la, sizes) >= _prod(lb, sizes) else lb  # fixes shared letters' order
    batch = "".join(c for c in lead if c in la and c in lb and c in keep)
    con = "".join(c for c in lead if c in la and c in lb and c not in keep)
    a_only = "".join(c for c in la if c not in lb)
    b_only = "".join(c for c in lb if c not in la)
    out = batch + a_only + b_only
    nb, m, k, n = (_prod(g, sizes) for g in (batch, a_only, con, b_only))
    if con:  # (nb, M, K) @ (nb, K, N); vectors where there is no batch and no rows/cols
        src_a, src_b = batch + a_only + con, batch + con + b_only
        if batch:
            shape_a, shape_b, shape_c = (nb, m, k), (nb, k, n), (nb, m, n)
        else:
            shape_a = (m, k) if a_only else (k,)
            shape_b = (k, n) if b_only else (k,)
            shape_c = shape_a[:-1] + shape_b[1:]
        flops = 2 * nb * m * k * n
        what = f"matmul {shape_a} @ {shape_b}"
    else:  # nothing to sum: A[b, m, 1] * B[b, 1, n] by broadcasting
        src_a, src_b = batch + a_only, batch + b_only
        shape_a = tuple(sizes[c] for c in src_a) + (1,) * len(b_only)
        shape_b = tuple(sizes[c] for c in batch) + (1,) * len(a_only)
        shape_b += tuple(sizes[c] for c in b_only)
        shape_c = tuple(sizes[c] for c in out)
        flops = nb * m * n
        what = "broadcast product"

    def reshape(src: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        return None if tuple(sizes[c] for c in src) == shape else shape

    shape_out = tuple(sizes[c] for c in out)
    fields = (bool(con), _perm(la, src_a), reshape(src_a, shape_a), _perm(lb, src_b))
    fields += (reshape(src_b, shape_b), None if shape_c == shape_out else shape_out)
    return out, flops, fields, f"{la},{lb}->{out}  {what}"


@functools.lru_cache(maxsize=256)
def _plan(subscripts: str, shapes: tuple[tuple[int, ...], ...], optimize: bool) -> _Plan:
    """Parse, check and plan an einsum call (steps 1-4 of ``einsum.py``); cached."""
    p = parse(subscripts, shapes)
    sizes, output = p.sizes, p.output
    steps_text: list[str] = []
    flops = 0

    # Step 1a: diagonals, then squeeze broadcast size-1 axes.
    labels: list[str] = []
    diag_squeeze = []
    for term, shape in zip(p.inputs, shapes, strict=True):
        lab, dims, diagonals = list(term), list(shape), []
        while len(set(lab)) < len(lab):
            c = next(c for c in lab if lab.count(c) > 1)
            a1 = lab.index(c)
            a2 = lab.index(c, a1 + 1)
            diagonals.append((a1, a2))  # np.diagonal moves the diagonal axis to the end
            d = dims[a1]
            del lab[a2], lab[a1], dims[a2], dims[a1]
            lab.append(c)
            dims.append(d)
        squeeze = tuple(a for a, (c, d) in enumerate(zip(lab, dims, strict=True)) if d != sizes[c])
        lab = [c for a, c in enumerate(lab) if a not in squeeze]
        labels.append("".join(lab))
        diag_squeeze.append((tuple(diagonals), squeeze))

    # Step 1b: sum out letters that only one operand holds and the output does not.
    counts = Counter(c for lab in labels for c in set(lab))
    preps: list[_Prep | None] = []
    for k, (diagonals, squeeze) in enumerate(diag_squeeze):
        lab = labels[k]
        sum_axes = tuple(a for a, c in enumerate(lab) if counts[c] == 1 and c not in output)
        if sum_axes:
            flops += _prod(lab, sizes)
            labels[k] = "".join(c for c in lab if c not in {lab[a] for a in sum_axes})
        if diagonals or squeeze or sum_axes:
            steps_text.append(f"operand {k}: {p.inputs[k]}->{labels[k]}  diagonal/squeeze/sum")
        preps.append(
            _Prep(diagonals, squeeze, sum_axes) if diagonals or squeeze or sum_axes else None
        )

    # Steps 2 and 3: contract pairs, cheapest first (greedy) or left to right.
    current = list(labels)
    steps, path = [], []
    while len(current) > 1:
        best = None
        pairs = [(0, 1 if len(current) == len(labels) else len(current) - 1)]
        if optimize:
            pairs = [(i, j) for i in range(len(current)) for j in range(i + 1, len(current))]
        for i, j in pairs:
            others = [lab for t, lab in enumerate(current) if t not in (i, j)]
            keep = set(output).union(*others)
            for swap in (False, True):
                la, lb = (current[j], current[i]) if swap else (current[i], current[j])
                out, cost, fields, text = _plan_pair(la, lb, keep, sizes)
                # the last pair prefers the orientation that lands in output order
                last_bad = not others and out != output
                key = (cost, _prod(out, sizes), last_bad, i, j, swap)
                if best is None or key < best[0]:
                    best = (key, out, fields, text)
        (cost, _, _, i, j, swap), out, fields, text = best
        steps.append(_Step(i, j, swap, *fields))
        path.append((i, j))
        flops += cost
        steps_text.append(text)
        current = [lab for t, lab in enumerate(current) if t not in (i, j)] + [out]

    # Step 4: transpose into the output's order.
    perm_out = _perm(current[0], output)
    if perm_out is not None:
        steps_text.append(f"{current[0]}->{output}  transpose (a view)")
    naive = len(shapes) * _prod("".join(sizes), sizes)
    return _Plan(
        tuple(preps),
        tuple(steps),
        perm_out,
        not output,
        tuple(path),
        flops,
        naive,
        tuple(steps_text),
    )
