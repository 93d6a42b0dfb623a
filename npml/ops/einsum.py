"""Einstein summation from scratch: pairwise contractions that hand the arithmetic to BLAS.

An einsum expression names each axis of each operand with a letter. The result is the
product of the operands' entries, summed over every letter that is not in the output:

.. math::

    \\texttt{einsum("ij,jk->ik", A, B)}_{ik} = \\sum_j A_{ij} B_{jk}, \\qquad
    \\texttt{einsum("bhqd,bhkd->bhqk", Q, K)}_{bhqk} = \\sum_d Q_{bhqd} K_{bhkd}.

Evaluated as one nested loop over all letters this costs :math:`n_{\\text{ops}} \\prod_c
|c|` operations and runs in Python-speed loops. npml evaluates it in four steps instead:

1. **Per operand.** A letter repeated inside one term takes a diagonal view (``ii`` ->
   ``np.diagonal``); an axis of size 1 whose letter is larger elsewhere is a broadcast, so it
   is squeezed away; a letter that no other operand and not the output holds is summed out
   at once (it can only shrink the work).
2. **Pairwise contraction.** Two operands ``A`` and ``B`` split their letters into *batch*
   letters (in both, still needed later), *contracted* letters (in both, not needed later)
   and letters of one operand only. Transposing and reshaping each operand into
   ``(batch, rows, contracted)`` and ``(batch, contracted, cols)`` turns the pair into one
   batched matrix product,

   .. math:: C_{bmn} = \\sum_k A_{bmk} B_{bkn},

   which ``np.matmul`` runs on BLAS (a pair with no contracted letter is a broadcast
   product instead). A pair with one row and one column is a dot product.
3. **Order.** With more than two operands the order matters (``ij,jk,kl`` can cost
   :math:`n^3` or :math:`n^4`); the next pair is the one whose contraction costs the fewest
   flops, the greedy rule of opt_einsum [1]_.
4. **Output.** A final transpose (a view) puts the axes in the output's order, so
   ``einsum("ij->ji", A)`` is ``A.T`` without a copy, as in NumPy.

The plan of steps 1-4 depends only on the subscripts and the operands' shapes, so it is
cached: a repeated call costs a dictionary lookup plus the NumPy calls themselves.

References
----------
.. [1] D. G. A. Smith and J. Gray, "opt_einsum - A Python package for optimizing
   contraction order for einsum-like expressions", JOSS 3(26), 2018.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from typing import NamedTuple

import numpy as np

from npml.ops._einsum_parse import parse


class EinsumPath(NamedTuple):
    """The plan of an einsum call, as returned by :func:`einsum_path`.

    Attributes
    ----------
    path : list of (int, int)
        The pairs contracted in order; each pair indexes the current list of operands, from
        which both are removed and to whose end their result is appended (the convention
        of ``np.einsum_path`` and opt_einsum).
    flops : int
        Estimated floating-point operations of the plan (a multiply and an add per term of
        each matrix product, one operation per element of sums and broadcast products).
    naive_flops : int
        Estimated operations of the single nested loop over all letters.
    steps : tuple of str
        One readable line per operation, e.g. ``"ij,jk->ik  matmul (256, 256) @ (256, 256)"``.
    """

    path: list[tuple[int, int]]
    flops: int
    naive_flops: int
    steps: tuple[str, ...]

    def __str__(self) -> str:
        speedup = self.naive_flops / max(self.flops, 1)
        head = f"{self.flops:,} flops (naive loop {self.naive_flops:,}, {speedup:.3g}x fewer)"
        return "\n".join([head, *("  " + s for s in self.steps)])


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
    preps: tuple[_Prep | None, ...]
    steps: tuple[_Step, ...]
    perm_out: tuple[int, ...] | None
    scalar: bool  # 0-d output: return a NumPy scalar, as np.einsum does
    info: EinsumPath


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
    """Parse, check and plan an einsum call (module docstring, steps 1-4); cached."""
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
    info = EinsumPath(path, flops, naive, tuple(steps_text))
    return _Plan(tuple(preps), tuple(steps), perm_out, not output, info)


def _check_optimize(optimize: object) -> bool:
    if optimize is True or optimize is False or optimize == "greedy":
        return optimize is not False
    raise ValueError(f"optimize={optimize!r}; expected True (greedy order), 'greedy' or False")


def _arrays(subscripts: str, operands: tuple) -> list[np.ndarray]:
    if not isinstance(subscripts, str):  # before hashing it for the plan cache
        parse(subscripts, ())
    arrays = [np.asarray(op) for op in operands]
    for k, a in enumerate(arrays):
        if a.dtype.kind not in "biufc":
            raise TypeError(f"operand {k} has dtype {a.dtype}; expected numbers")
    return arrays


def einsum_path(subscripts: str, *operands: np.ndarray, optimize: bool = True) -> EinsumPath:
    """The order in which :func:`einsum` contracts its operands, and its estimated cost.

    Parameters
    ----------
    subscripts : str
        The expression, e.g. ``"ij,jk,kl->il"``.
    *operands : array_like
        The operands (only their shapes are used).
    optimize : bool, default True
        ``True`` picks the cheapest pair at each step; ``False`` contracts left to right.

    Returns
    -------
    EinsumPath
        ``path`` (pairs contracted in order), ``flops``, ``naive_flops`` and readable
        ``steps``; ``print`` it for a summary.

    Examples
    --------
    >>> import numpy as np
    >>> a, b, c = np.ones((100, 2)), np.ones((2, 100)), np.ones((100, 2))
    >>> einsum_path("ij,jk,kl->il", a, b, c).path  # b and c first: never form the 100 x 100
    [(1, 2), (0, 1)]
    """
    arrays = _arrays(subscripts, operands)
    return _plan(subscripts, tuple(a.shape for a in arrays), _check_optimize(optimize)).info


def einsum(subscripts: str, *operands: np.ndarray, optimize: bool = True) -> np.ndarray:
    """Einstein summation over ``operands`` as named by ``subscripts`` (module docstring).

    Parameters
    ----------
    subscripts : str
        One term of letters per operand, separated by commas, optionally ``->`` and the
        output's letters: ``"bhqd,bhkd->bhqk"``. ``...`` stands for broadcast axes; a letter
        repeated in one term takes a diagonal; without ``->`` the output holds the letters
        seen once, sorted.
    *operands : array_like
        The arrays, one per term (numbers; 0-d arrays and scalars have an empty term).
    optimize : bool, default True
        ``True`` contracts the cheapest pair first (greedy); ``False`` goes left to right.

    Returns
    -------
    ndarray or NumPy scalar
        The result; may be a view of an operand when nothing is computed (``"ij->ji"``).

    Raises
    ------
    ValueError
        For every invalid expression: an unknown character, a wrong number of operands or
        of indices for an operand, an index whose sizes disagree, an output index that is
        repeated or in no input, a misused ellipsis.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> einsum("ij,ij->i", A, A)  # row-wise squared norms
    array([ 5., 50.])
    """
    arrays = _arrays(subscripts, operands)
    plan = _plan(subscripts, tuple(a.shape for a in arrays), _check_optimize(optimize))
    current = []
    for a, prep in zip(arrays, plan.preps, strict=True):
        if prep is not None:  # step 1 (methods rather than np.* functions: less overhead)
            for a1, a2 in prep.diagonals:
                a = a.diagonal(0, a1, a2)
            if prep.squeeze:
                a = a.squeeze(axis=prep.squeeze)
            if prep.sum_axes:
                a = a.sum(axis=prep.sum_axes)
        current.append(a)
    for s in plan.steps:  # step 2, in the order of step 3
        a, b = current[s.i], current[s.j]
        del current[s.j], current[s.i]  # j > i
        if s.swap:
            a, b = b, a
        if s.perm_a is not None:
            a = a.transpose(s.perm_a)
        if s.perm_b is not None:
            b = b.transpose(s.perm_b)
        if s.shape_a is not None:
            a = a.reshape(s.shape_a)
        if s.shape_b is not None:
            b = b.reshape(s.shape_b)
        c = np.matmul(a, b) if s.matmul else a * b
        current.append(c if s.shape_out is None else c.reshape(s.shape_out))
    out = current[0]
    if plan.perm_out is not None:  # step 4
        out = out.transpose(plan.perm_out)
    return out[()] if plan.scalar else out
