"""npml.ops.einsum against np.einsum (the oracle) on random valid and invalid expressions."""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from npml.ops import einsum, einsum_path

LETTERS = "abcdeAB"  # few letters, so they repeat within and across operands
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_calls(draw):
    """(subscripts, shapes): 1-4 operands, <= 5 axes each, '...', diagonals, size-1 axes."""
    letters = LETTERS[: draw(st.integers(1, len(LETTERS)))]
    sizes = {c: draw(st.integers(1, 3)) for c in letters}
    ell_shape = draw(st.lists(st.integers(1, 3), max_size=2))  # the broadcast shape of '...'
    terms, shapes, n_ells = [], [], []
    for _ in range(draw(st.integers(1, 4))):
        has_ell = draw(st.booleans())
        n_ell = draw(st.integers(0, len(ell_shape))) if has_ell else 0
        n_named = draw(st.integers(0, 5 - n_ell))
        term = draw(st.lists(st.sampled_from(letters), min_size=n_named, max_size=n_named))
        ones = {c: draw(st.integers(0, 3)) == 0 for c in set(term)}  # size-1 broadcasting
        shape = [1 if ones[c] else sizes[c] for c in term]
        ell_dims = [
            1 if draw(st.integers(0, 3)) == 0 else d for d in ell_shape[len(ell_shape) - n_ell :]
        ]
        pos = draw(st.integers(0, len(term)))
        terms.append("".join(term[:pos]) + ("..." if has_ell else "") + "".join(term[pos:]))
        shapes.append(tuple(shape[:pos] + ell_dims + shape[pos:]))
        n_ells.append(n_ell if has_ell else -1)
    subscripts = ",".join(terms)
    if draw(st.booleans()):  # explicit output
        used = sorted(set("".join(terms)) - {"."})
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        if max(n_ells) > 0 or (max(n_ells) == 0 and draw(st.booleans())):
            pos = draw(st.integers(0, len(out)))
            out = out[:pos] + ["..."] + out[pos:]
        subscripts += "->" + "".join(out)
    return subscripts, shapes


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _assert_matches_numpy(subscripts, ops, optimize=True):
    expected = np.einsum(subscripts, *ops)
    got = einsum(subscripts, *ops, optimize=optimize)
    assert np.shape(got) == np.shape(expected), subscripts
    assert np.result_type(got) == np.result_type(expected)
    # Rounding error of a sum of products is at most (terms * eps) * sum(|products|): the
    # bound below is relative to that scale, so cancellation to ~0 cannot fail it unfairly.
    scale = np.einsum(subscripts, *[np.abs(op) for op in ops])
    err = np.abs(np.asarray(got) - expected)
    assert np.all(err <= 1e-12 * scale), (subscripts, float(np.max(err - 1e-12 * scale)))


@SETTINGS
@given(call=valid_calls(), optimize=st.booleans())
def test_random_valid_expressions_match_numpy(call, optimize):
    subscripts, shapes = call
    _assert_matches_numpy(subscripts, _operands(shapes), optimize)


def _mutate(draw, subscripts, shapes):
    """One random corruption of a valid call (it may happen to stay valid)."""
    kind = draw(st.sampled_from(["char", "n_ops", "size", "out", "dots", "arrow", "ndim"]))
    shapes = list(shapes)
    if kind == "char":
        pos = draw(st.integers(0, len(subscripts)))
        ch = draw(st.sampled_from(list("0129#!?*_[]α;é")))
        subscripts = subscripts[:pos] + ch + subscripts[pos:]
    elif kind == "n_ops":
        k = draw(st.integers(0, len(shapes) - 1))
        shapes = shapes[:k] + shapes[k + 1 :] if draw(st.booleans()) else shapes + [shapes[k]]
    elif kind == "size":
        k = draw(st.integers(0, len(shapes) - 1))
        if shapes[k]:
            axis = draw(st.integers(0, len(shapes[k]) - 1))
            shapes[k] = shapes[k][:axis] + (draw(st.integers(4, 5)),) + shapes[k][axis + 1 :]
    elif kind == "out":
        inputs, _, out = subscripts.partition("->")
        extra = draw(st.sampled_from(["z"] + [c for c in out if c.isalpha()]))  # new or repeated
        pos = draw(st.integers(0, len(out)))
        subscripts = inputs + "->" + out[:pos] + extra + out[pos:]
    elif kind == "dots":
        variants = [subscripts.replace("...", "..", 1), subscripts.replace("...", "....", 1)]
        variants += [subscripts.replace("->...", "->", 1), subscripts.replace("...", ".", 1)]
        pos = draw(st.integers(0, len(subscripts)))
        variants += [
            subscripts[:pos] + "..." + subscripts[pos:],
            subscripts[:pos] + "." + subscripts[pos:],
        ]
        subscripts = draw(st.sampled_from(variants))
    elif kind == "arrow":
        pos = draw(st.integers(0, len(subscripts)))
        subscripts = (
            subscripts[:pos] + draw(st.sampled_from(["-", ">", "->", "- >"])) + subscripts[pos:]
        )
    else:  # one axis more or fewer than the term names
        k = draw(st.integers(0, len(shapes) - 1))
        shapes[k] = shapes[k][1:] if shapes[k] and draw(st.booleans()) else (2,) + shapes[k]
    return subscripts, shapes


@SETTINGS
@given(data=st.data())
def test_random_invalid_expressions_raise_where_numpy_raises(data):
    subscripts, shapes = _mutate(data.draw, *data.draw(valid_calls()))
    ops = _operands(shapes)
    try:
        np.einsum(subscripts, *ops)
    except ValueError:  # numpy rejects it (UnicodeEncodeError is a ValueError too)
        event("numpy rejects the call")
        with pytest.raises(ValueError):
            einsum(subscripts, *ops)
    else:  # the corruption happened to leave a valid call
        event("the call stayed valid")
        _assert_matches_numpy(subscripts, ops)


@pytest.mark.parametrize(
    ("subscripts", "shapes", "message"),
    [
        ("ij,jk->ik", [(2, 3), (4, 5)], "index 'j' has size 3 in operand 0 but 4 in operand 1"),
        ("ij#,jk", [(2, 3), (3, 4)], "unknown character '#'"),
        ("ij,jk->ik", [(2, 3)], r"name 2 operand\(s\) but 1 was given"),
        ("ij", [(2, 3), (3, 4)], r"name 1 operand\(s\) but 2 were given"),
        ("ij->ik", [(2, 3)], "output index 'k' of 'ij->ik' does not appear in any input"),
        ("ij->ii", [(2, 3)], "output index 'i' is repeated"),
        ("..i", [(3,)], r"'\.' outside a single '\.\.\.'"),
        ("...i...", [(3, 3)], r"'\.' outside a single '\.\.\.'"),
        ("...i->i", [(2, 3)], r"cover 1 axis\(es\) but output 'i' has no '\.\.\.'"),
        ("...i,...i", [(2, 3), (4, 3)], r"axes under '\.\.\.' do not broadcast"),
        ("ii", [(2, 3)], "index 'i' is repeated in operand 0 with sizes 2 and 3"),
        (
            "ij",
            [(2,)],
            r"operand 0 has 1 dimension\(s\) \(shape \(2,\)\) but its term 'ij' names 2",
        ),
        ("i", [(2, 3)], r"names 1; add '\.\.\.'"),
        ("i-i", [(2,)], "misuse '-' or '>'"),
        ("i->i->i", [(2,)], "misuse '-' or '>'"),
        ("i,j->i,j", [(2,), (3,)], "holds a ','"),
    ],
)
def test_each_error_names_the_problem(subscripts, shapes, message):
    with pytest.raises(ValueError, match=message):
        einsum(subscripts, *[np.ones(s) for s in shapes])
    with pytest.raises(ValueError):  # numpy rejects each of these too
        np.einsum(subscripts, *[np.ones(s) for s in shapes])


def test_type_errors_and_no_operands():
    with pytest.raises(TypeError, match="expected a str"):
        einsum(["i", "i"], np.ones(2))
    with pytest.raises(TypeError, match="operand 0 has dtype"):
        einsum("i", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="no operands"):
        einsum("i")
    with pytest.raises(ValueError, match="optimize='optimal'"):
        einsum("i", np.ones(2), optimize="optimal")


@pytest.mark.parametrize(
    ("subscripts", "shapes"),
    [
        ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 7, 4)]),
        ("bhqk,bhkd->bhqd", [(2, 3, 5, 7), (2, 3, 7, 4)]),
        ("ij,jk,kl->il", [(5, 6), (6, 7), (7, 3)]),
        ("bij,bjk->bik", [(4, 5, 6), (4, 6, 3)]),
        ("ii->", [(5, 5)]),
        ("ij->ji", [(5, 6)]),
        ("i,i->", [(7,), (7,)]),
        ("ij,ij->i", [(5, 6), (5, 6)]),
        ("ij,jk->ki", [(5, 6), (6, 4)]),
        ("ijk,ijk,ijk->", [(2, 3, 4)] * 3),
        ("ab,cd,ef,fa->bce", [(2, 3), (4, 5), (3, 6), (6, 2)]),  # an outer product in the middle
        ("i,j,k", [(2,), (3,), (4,)]),
        ("iij,jk->ik", [(3, 3, 4), (4, 2)]),
    ],
)
def test_named_expressions_match_numpy(subscripts, shapes, rng):
    ops = [rng.standard_normal(s) for s in shapes]
    for optimize in (True, False):
        _assert_matches_numpy(subscripts, ops, optimize)


def test_scalars_zero_size_integers_and_complex(rng):
    assert einsum(",->", 2.0, 3.0) == 6.0
    a = rng.standard_normal(4)
    np.testing.assert_allclose(einsum("i,->i", a, 2.5), 2.5 * a, rtol=1e-15)
    np.testing.assert_array_equal(einsum("ij,jk->ik", np.ones((2, 0)), np.ones((0, 3))), 0.0)
    assert einsum("i->", np.ones(0)) == 0.0
    for subscripts, shapes in [("i,i->i", [(1,), (0,)]), ("ij,jk->ik", [(2, 1), (0, 3)])]:
        _assert_matches_numpy(subscripts, [np.ones(s) for s in shapes])  # size 1 broadcasts to 0
    assert einsum("i->...i", a).shape == (4,)  # an output '...' may cover zero axes
    ints = rng.integers(-5, 5, size=(3, 4)), rng.integers(-5, 5, size=(4, 2))
    got = einsum("ij,jk->ik", *ints)
    assert got.dtype.kind == "i"
    np.testing.assert_array_equal(got, np.einsum("ij,jk->ik", *ints))
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    np.testing.assert_allclose(einsum("ij,ij->i", z, z.conj()), np.einsum("ij,ij->i", z, z.conj()))


def test_transpose_is_a_view_and_scalar_results_are_numpy_scalars(rng):
    a = rng.standard_normal((3, 4))
    t = einsum("ij->ji", a)
    assert np.shares_memory(t, a)
    np.testing.assert_array_equal(t, a.T)
    r = einsum("ii->", a[:, :3])
    assert isinstance(r, np.floating)
    assert r == pytest.approx(np.trace(a[:, :3]), rel=1e-14)


def test_never_calls_np_einsum_or_tensordot(monkeypatch, rng):
    def forbidden(*args, **kwargs):
        raise AssertionError("npml.ops.einsum must not delegate to NumPy's einsum/tensordot")

    ops = [rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((5, 3))]
    expected = np.einsum("ij,jk,ki->i", *ops)
    monkeypatch.setattr(np, "einsum", forbidden)
    monkeypatch.setattr(np, "tensordot", forbidden)
    monkeypatch.setattr(np, "einsum_path", forbidden)
    np.testing.assert_allclose(einsum("ij,jk,ki->i", *ops), expected, rtol=1e-12)
    assert einsum_path("ij,jk,ki->i", *ops).flops > 0


def test_einsum_path_picks_the_cheap_order():
    a, b, c = np.ones((100, 2)), np.ones((2, 100)), np.ones((100, 2))
    greedy = einsum_path("ij,jk,kl->il", a, b, c)
    # b @ c first: 2*2*100*2 flops, then a @ (bc): 2*100*2*2; never the 100 x 100 matrix.
    assert greedy.path == [(1, 2), (0, 1)]
    assert greedy.flops == 2 * 2 * 100 * 2 + 2 * 100 * 2 * 2
    assert greedy.naive_flops == 3 * 100 * 2 * 100 * 2
    left_to_right = einsum_path("ij,jk,kl->il", a, b, c, optimize=False)
    assert left_to_right.path == [(0, 1), (0, 1)]
    assert left_to_right.flops == 2 * 100 * 2 * 100 + 2 * 100 * 100 * 2
    assert "matmul" in str(greedy)
    np.testing.assert_allclose(einsum("ij,jk,kl->il", a, b, c), 2 * 100)  # sum over j and k


def test_repeated_calls_reuse_the_cached_plan(rng):
    from npml.ops.einsum import _plan

    a = rng.standard_normal((6, 7))
    einsum("ij,ij->i", a, a)
    hits = _plan.cache_info().hits
    einsum("ij,ij->i", a, a)
    assert _plan.cache_info().hits == hits + 1
