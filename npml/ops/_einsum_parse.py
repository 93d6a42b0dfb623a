"""Parsing and checking of einsum subscripts: the grammar of ``np.einsum``'s string form.

A subscripts string such as ``"...ij,jk->...ik"`` names one term per operand, separated by
commas, and optionally an output term after ``->``:

* a term holds ASCII letters, one per axis, and at most one ellipsis ``...`` standing for
  all the axes the letters do not name; spaces are ignored;
* a letter repeated inside one term takes a diagonal (``ii`` is the diagonal of a matrix);
* the sizes of one letter must agree across operands, except that a size of 1 broadcasts;
  the axes under ``...`` broadcast against each other like NumPy arrays (right-aligned);
* without ``->`` the output is ``...`` followed by the letters that appear exactly once, in
  alphabetical (ASCII) order; with ``->`` each output letter must appear in an input, at most
  once, and the output must hold ``...`` whenever the inputs' ellipses cover any axis.

:func:`parse` turns a subscripts string and the operands' shapes into a :class:`Parsed`
description in which every ``...`` has been replaced by private one-character labels, so
that the planner sees only labels and sizes. Every invalid call raises a ``ValueError``
that names the problem.
"""

from __future__ import annotations

import string
from typing import NamedTuple

_LETTERS = frozenset(string.ascii_letters)


class Parsed(NamedTuple):
    """A checked einsum call.

    Attributes
    ----------
    inputs : tuple of str
        One string of labels per operand, one label per axis, ``...`` already expanded.
    output : str
        The output's labels, one per output axis.
    sizes : dict of str to int
        The size of every label after size-1 broadcasting.
    ellipsis : str
        The private labels that stand for the axes under ``...`` (leftmost first).
    """

    inputs: tuple[str, ...]
    output: str
    sizes: dict[str, int]
    ellipsis: str


def _split_ellipsis(term: str, where: str) -> tuple[str, str | None]:
    """Split ``term`` at its ellipsis: ``(letters_left + letters_right, None or left)``."""
    n_dots = term.count(".")
    if n_dots == 0:
        return term, None
    if n_dots != 3 or "..." not in term:
        raise ValueError(
            f"{where} {term!r} has a '.' outside a single '...'; an ellipsis is exactly three "
            "dots and appears at most once per term"
        )
    left, right = term.split("...")
    return left + right, left


def _private_labels(subscripts: str, n: int) -> str:
    """``n`` one-character labels that do not occur in ``subscripts``, for the axes of '...'."""
    unused = [c for c in string.ascii_letters if c not in subscripts]
    extra = [chr(0x3B1 + k) for k in range(max(0, n - len(unused)))]  # Greek if letters run out
    return "".join((unused + extra)[:n])


def parse(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> Parsed:
    """Check an einsum call and expand its ellipses (module docstring).

    Parameters
    ----------
    subscripts : str
        The einsum expression, e.g. ``"bhqd,bhkd->bhqk"``.
    shapes : tuple of tuple of int
        The shape of each operand.

    Returns
    -------
    Parsed
    """
    if not isinstance(subscripts, str):
        raise TypeError(
            f"subscripts={subscripts!r} of type {type(subscripts).__name__}; expected a str "
            "such as 'ij,jk->ik'"
        )
    if not shapes:
        raise ValueError(f"einsum({subscripts!r}) got no operands; expected at least one array")
    for ch in subscripts:
        if ch not in _LETTERS and ch not in ",.-> ":
            raise ValueError(
                f"unknown character {ch!r} in subscripts {subscripts!r}; indices are ASCII "
                "letters a-z and A-Z, with ',' between operands, '->' before the output, '...' "
                "for broadcast axes"
            )

    # 1. Split the inputs from the output at the one '->'.
    n_arrows = subscripts.count("->")
    if n_arrows > 1 or subscripts.count("-") != n_arrows or subscripts.count(">") != n_arrows:
        raise ValueError(
            f"subscripts {subscripts!r} misuse '-' or '>'; they may only appear together, once, "
            "as the '->' before the output"
        )
    explicit = n_arrows == 1
    in_part, _, out_part = subscripts.replace(" ", "").partition("->")
    if "," in out_part:
        raise ValueError(f"output {out_part!r} of {subscripts!r} holds a ','; it names one array")
    terms = in_part.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"subscripts {subscripts!r} name {len(terms)} operand(s) but {len(shapes)} "
            f"{'was' if len(shapes) == 1 else 'were'} given"
        )

    # 2. Check each term against its operand's number of dimensions.
    named: list[str] = []  # letters of each term, ellipsis removed
    lefts: list[str | None] = []  # letters before '...', None when the term has none
    n_ell: list[int] = []  # axes covered by each term's '...'
    for k, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
        letters, left = _split_ellipsis(term, f"operand {k}: term")
        ndim = len(shape)
        if len(letters) > ndim or (left is None and len(letters) != ndim):
            hint = "" if left is not None or len(letters) > ndim else "; add '...' for the rest"
            raise ValueError(
                f"operand {k} has {ndim} dimension(s) (shape {tuple(shape)}) but its term "
                f"{term!r} names {len(letters)}{hint}"
            )
        named.append(letters)
        lefts.append(left)
        n_ell.append(ndim - len(letters) if left is not None else 0)

    # 3. Replace each '...' by private labels, right-aligned (NumPy broadcasting).
    n_broadcast = max(n_ell)
    ell = _private_labels(subscripts, n_broadcast)
    inputs = []
    for letters, left, m in zip(named, lefts, n_ell, strict=True):
        if left is None:
            inputs.append(letters)
        else:
            inputs.append(left + ell[n_broadcast - m :] + letters[len(left) :])

    # 4. The output: explicit after '->', or implicit (letters seen once, sorted).
    seen = "".join(named)
    if explicit:
        out_letters, out_left = _split_ellipsis(out_part, "the output")
        for c in out_letters:
            if out_letters.count(c) > 1:
                raise ValueError(
                    f"output index {c!r} is repeated in output {out_part!r}; an output index "
                    "appears at most once"
                )
            if c not in seen:
                raise ValueError(
                    f"output index {c!r} of {subscripts!r} does not appear in any input term"
                )
        if out_left is None:
            if n_broadcast:
                raise ValueError(
                    f"the inputs' '...' cover {n_broadcast} axis(es) but output {out_part!r} "
                    "has no '...'; write '...' in the output to keep them"
                )
            output = out_letters
        else:
            output = out_left + ell + out_letters[len(out_left) :]
    else:
        output = ell + "".join(sorted(c for c in set(seen) if seen.count(c) == 1))

    # 5. Sizes: equal within a term (diagonal), equal or 1 across operands (broadcasting).
    sizes: dict[str, int] = {}
    owner: dict[str, int] = {}  # the operand that fixed each label's size
    for k, (labels, shape) in enumerate(zip(inputs, shapes, strict=True)):
        for axis, (c, d) in enumerate(zip(labels, shape, strict=True)):
            first = labels.index(c)
            if first != axis and shape[first] != d:
                raise ValueError(
                    f"index {c!r} is repeated in operand {k} with sizes {shape[first]} and {d}; "
                    "a repeated index takes a diagonal, which needs equal sizes"
                )
            if d == 1 and c in sizes:
                continue
            if c not in sizes or sizes[c] == 1:
                sizes[c], owner[c] = d, k
            elif sizes[c] != d:
                j = owner[c]
                if c in ell:
                    raise ValueError(
                        f"the axes under '...' do not broadcast: operand {j} has "
                        f"{_ell_shape(inputs[j], shapes[j], ell)} and operand {k} has "
                        f"{_ell_shape(labels, shape, ell)}"
                    )
                raise ValueError(
                    f"index {c!r} has size {sizes[c]} in operand {j} but {d} in operand {k}"
                )
    return Parsed(tuple(inputs), output, sizes, ell)


def _ell_shape(labels: str, shape: tuple[int, ...], ell: str) -> tuple[int, ...]:
    """The part of ``shape`` under an operand's ellipsis (for error messages)."""
    return tuple(d for c, d in zip(labels, shape, strict=True) if c in ell)
