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
made once and cached (``_einsum_plan.py``, after ``_einsum_parse.py`` has checked the
subscripts): a repeated call costs a dictionary lookup plus the NumPy calls of
:func:`einsum` below, which is where the steps are carried out.

References
----------
.. [1] D. G. A. Smith and J. Gray, "opt_einsum - A Python package for optimizing
   contraction order for einsum-like expressions", JOSS 3(26), 2018.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npml._checks import check_bool
from npml.ops._einsum_parse import parse
from npml.ops._einsum_plan import _plan


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


def _check_optimize(optimize: object) -> bool:
    """``True`` and ``"greedy"`` mean the greedy order, ``False`` left to right.

    Another string (``"optimal"``, ``"yes"``) is an unknown strategy (``ValueError``);
    anything else that is not a bool (``1``, ``None``) is a ``TypeError``.
    """
    if isinstance(optimize, str):
        if optimize != "greedy":
            raise ValueError(
                f"optimize={optimize!r}; expected True (greedy order), 'greedy' or False"
            )
        return True
    return check_bool(optimize, "optimize")


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
    plan = _plan(subscripts, tuple(a.shape for a in arrays), _check_optimize(optimize))
    return EinsumPath(list(plan.path), plan.flops, plan.naive_flops, plan.steps_text)


def einsum(subscripts: str, *operands: np.ndarray, optimize: bool = True) -> np.ndarray:
    """Einstein summation over ``operands`` as named by ``subscripts``, written from scratch.

    Letters name axes; a letter in several operands is multiplied along, a letter missing
    from the output is summed over, e.g. ``"ik,kj->ij"`` is the matrix product. The
    expression is parsed, diagonals and lone sums are taken first, then pairs of operands are
    contracted as batched matrix products (``np.matmul``, on BLAS) in the greedy order of
    opt_einsum (the four steps are in :mod:`npml.ops.einsum`). Results agree with
    ``numpy.einsum``.

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
