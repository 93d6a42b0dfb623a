import numpy as np
import pytest

from npml.analysis._levenshtein import (
    _levenshtein_kernel,
    _levenshtein_reference,
    _levenshtein_rows_kernel,
)
from npml.analysis.emergence import (
    brier_score,
    exact_match,
    simulate_scaling,
    token_accuracy,
    token_edit_distance,
)


def python_source(kernel):
    """The kernel's Python function, as NUMBA_DISABLE_JIT=1 runs it."""
    return getattr(kernel, "py_func", kernel)


def tokens(text):
    return np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64)


@pytest.mark.parametrize(
    "a,b,d",
    [
        ("kitten", "sitting", 3),  # two substitutions and an insertion
        ("flaw", "lawn", 2),  # a deletion and an insertion
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("same", "same", 0),
        ("ab", "ba", 2),  # no transpositions in Levenshtein
    ],
)
def test_known_distances(a, b, d):
    assert token_edit_distance(tokens(a), tokens(b)) == d
    assert _levenshtein_reference(tokens(a), tokens(b)) == d
    assert python_source(_levenshtein_kernel)(tokens(a), tokens(b)) == d


def test_kernel_matches_reference_and_metric_axioms(rng):
    for _ in range(60):
        a = rng.integers(0, 4, size=rng.integers(0, 12))
        b = rng.integers(0, 4, size=rng.integers(0, 12))
        c = rng.integers(0, 4, size=rng.integers(0, 12))
        d_ab = token_edit_distance(a, b)
        assert d_ab == _levenshtein_reference(a, b)
        assert d_ab == token_edit_distance(b, a)
        assert abs(a.size - b.size) <= d_ab <= max(a.size, b.size)
        assert token_edit_distance(a, c) <= d_ab + token_edit_distance(b, c)
        if a.size == b.size:  # substitutions alone suffice: at most the Hamming distance
            assert d_ab <= np.sum(a != b)


def test_rows(rng):
    A = rng.integers(0, 3, size=(7, 5))
    B = rng.integers(0, 3, size=(7, 9))
    out = token_edit_distance(A, B)
    assert out.shape == (7,)
    expected = [_levenshtein_reference(a, b) for a, b in zip(A, B, strict=True)]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(python_source(_levenshtein_rows_kernel)(A, B), expected)
    with pytest.raises(ValueError, match="same number of rows"):
        token_edit_distance(A, B[:3])


def test_exact_match_and_token_accuracy():
    target = np.array([[1, 2, 3], [4, 5, 6]])
    pred = np.array([[1, 2, 3], [4, 0, 6]])
    assert exact_match(pred, target) == 0.5
    assert token_accuracy(pred, target) == pytest.approx(5 / 6)
    assert exact_match(target[0], target[0]) == 1.0
    with pytest.raises(ValueError, match="shape"):
        exact_match(pred, target[:, :2])


def test_brier_score():
    target = np.array([0, 2])
    certain = np.eye(3)[target]
    assert brier_score(certain, target) == 0.0
    assert brier_score(np.full((2, 3), 1 / 3), target) == pytest.approx(2 / 3)  # 1 - 1/K
    assert brier_score(np.eye(3)[[1, 0]], target) == 2.0  # certain and wrong
    assert brier_score(np.array([0.8, 0.3]), np.array([1, 0])) == pytest.approx(
        (0.2**2 + 0.3**2) / 2
    )
    with pytest.raises(ValueError, match="sum to 1"):
        brier_score(np.full((2, 3), 0.5), target)
    with pytest.raises(ValueError, match="0/1"):
        brier_score(np.array([0.5]), np.array([2]))


@pytest.fixture(scope="module")
def scaling():
    return simulate_scaling(seq_len=20, n_samples=2000, rng=0)


def test_exact_match_is_p_to_the_L_within_sampling_error(scaling):
    p_L = scaling.exact_match_expected
    np.testing.assert_allclose(p_L, scaling.per_token_accuracy**20)
    # Each measured exact match is a mean of 2000 Bernoulli(p^L) draws: its standard error
    # is sqrt(p^L (1 - p^L) / 2000). 17 sizes at 4 standard errors: a false alarm has
    # probability about 17 * 6e-5 ~ 1e-3 (and the seed is fixed).
    se = np.sqrt(p_L * (1 - p_L) / 2000)
    assert np.all(np.abs(scaling.exact_match - p_L) <= 4 * se + 1e-12)
    # Token accuracy estimates p itself, with 20x more draws.
    se_tok = np.sqrt(scaling.per_token_accuracy * (1 - scaling.per_token_accuracy) / 40_000)
    assert np.all(np.abs(scaling.token_accuracy - scaling.per_token_accuracy) <= 4 * se_tok)


def test_edit_distance_improves_smoothly_where_exact_match_shows_nothing(scaling):
    em, ed = scaling.exact_match, scaling.edit_distance
    # The mean edit distance is about L (1 - p), Eq. (2): within 4 standard errors (minus
    # a little, since Levenshtein can beat the Hamming count).
    hamming = 20 * (1 - scaling.per_token_accuracy)
    assert np.all(ed <= hamming + 4 * scaling.edit_distance_se)
    assert np.all(ed >= 0.9 * hamming - 4 * scaling.edit_distance_se)
    # It falls steadily over every step of scale ...
    assert np.all(np.diff(ed) < 0)
    # ... including the small models, where exact match stays flat near zero: there the
    # "ability" is invisible to exact match but the edit distance already halves.
    flat = em < 0.01
    assert flat.sum() >= 4
    assert ed[flat][-1] < 0.5 * ed[flat][0]
    # Then exact match jumps: from below 1% to above 75% within the remaining sizes.
    assert em[-1] > 0.75
    # The Brier score of the same predictions is smooth and monotone as well.
    assert np.all(np.diff(scaling.brier) < 0)


@pytest.mark.parametrize("L", [5, 20, 100])
def test_exact_match_is_near_zero_only_above_a_few_over_L(L, rng):
    # Module docstring: p^L < 0.05 once 1 - p > 3/L; about e^-1 at 1 - p = 1/L (not near
    # zero); above 0.9 once 1 - p < 0.1/L.
    p = 1 - np.array([3 / L, 1 / L, 0.1 / L])
    p_L = p**L
    assert p_L[0] < 0.05
    assert 0.32 < p_L[1] <= np.exp(-1)
    assert p_L[2] > 0.9
    # ... and exact_match measures p^L: within 4 standard errors of 20,000 sequences.
    n = 20_000
    for pk, expected in zip(p, p_L, strict=True):
        pred = (rng.random((n, L)) >= pk).astype(np.int64)  # token 0 is right, 1 is wrong
        measured = exact_match(pred, np.zeros((n, L), dtype=np.int64))
        assert abs(measured - expected) <= 4 * np.sqrt(expected * (1 - expected) / n)


def test_simulate_scaling_validation():
    with pytest.raises(ValueError, match="alpha"):
        simulate_scaling(alpha=0.5, rng=0)
    with pytest.raises(ValueError, match="positive"):
        simulate_scaling(n_params=np.array([-1.0, 1.0]), rng=0)
    a = simulate_scaling(n_params=np.array([1e8, 1e9]), n_samples=50, rng=3)
    b = simulate_scaling(n_params=np.array([1e8, 1e9]), n_samples=50, rng=3)
    np.testing.assert_array_equal(a.edit_distance, b.edit_distance)  # rng makes it repeatable
