import numpy as np
import pytest

from npml.preference._bt_kernel import _bt_mm_kernel, _bt_mm_reference
from npml.preference.bradley_terry import (
    BradleyTerry,
    ConvergenceWarning,
    bt_objective,
    count_pairs,
)


def simulate(rng, beta, n_comparisons):
    """(winner, loser) rows drawn from the Bradley-Terry model with scores ``beta``."""
    n = beta.size
    i = rng.integers(0, n, n_comparisons)
    j = (i + rng.integers(1, n, n_comparisons)) % n  # j != i
    i_wins = rng.random(n_comparisons) < 1.0 / (1.0 + np.exp(-(beta[i] - beta[j])))
    return np.where(i_wins[:, None], np.stack([i, j], 1), np.stack([j, i], 1))


def gradient_of_objective(beta, comparisons, alpha):
    """Gradient of Eq. (1), written directly from the comparisons (not from pair counts)."""
    w, l = comparisons[:, 0], comparisons[:, 1]
    z = 1.0 / (1.0 + np.exp(beta[w] - beta[l]))  # sigma(-(beta_w - beta_l))
    g = 2 * alpha * beta
    np.add.at(g, w, -z)
    np.add.at(g, l, z)
    return g


@pytest.fixture
def data(rng):
    beta = rng.normal(size=12)
    return beta, simulate(rng, beta, 600)


def test_recovers_scores_and_error_shrinks_with_data(rng):
    beta = rng.normal(size=20)
    beta -= beta.mean()
    errors = []
    for n in (1_000, 10_000, 100_000):
        fit = BradleyTerry().fit(simulate(rng, beta, n), n_items=20)
        errors.append(np.sqrt(np.mean((fit.scores_ - beta) ** 2)))
    # The MLE's error falls like 1/sqrt(n): each tenfold more data cuts it about 3x.
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05
    assert errors[0] / errors[2] > 5


@pytest.mark.parametrize("alpha", [0.0, 0.3, 5.0])
def test_mm_and_newton_agree_and_are_stationary(data, alpha):
    _, comparisons = data
    mm = BradleyTerry(alpha=alpha, method="mm", tol=1e-12, max_iter=10_000).fit(comparisons)
    newton = BradleyTerry(alpha=alpha, method="newton", tol=1e-12).fit(comparisons)
    np.testing.assert_allclose(mm.scores_, newton.scores_, atol=1e-9)
    assert abs(mm.scores_.mean()) < 1e-12
    # First-order condition of Eq. (1), checked with an independent gradient formula.
    g = gradient_of_objective(mm.scores_, comparisons, alpha)
    assert np.max(np.abs(g)) < 1e-7


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_numba_kernel_matches_numpy_reference(data, alpha):
    _, comparisons = data
    c = count_pairs(comparisons, 12)
    args = (c.pair_i, c.pair_j, c.n_ij, c.wins, alpha, np.zeros(12), 50, 0.0)
    fast = _bt_mm_kernel(*args)
    ref = _bt_mm_reference(*args)
    plain = getattr(_bt_mm_kernel, "py_func", _bt_mm_kernel)(*args)  # as NUMBA_DISABLE_JIT runs
    assert fast[1] == ref[1] == plain[1] == 50
    np.testing.assert_allclose(fast[0], ref[0], atol=1e-12)
    np.testing.assert_allclose(plain[0], ref[0], atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_each_mm_iteration_lowers_the_objective(data, alpha):
    _, comparisons = data
    c = count_pairs(comparisons, 12)
    values = []
    for k in range(1, 15):
        beta, _, _ = _bt_mm_kernel(c.pair_i, c.pair_j, c.n_ij, c.wins, alpha, np.zeros(12), k, 0.0)
        values.append(bt_objective(beta, c, alpha))
    assert np.all(np.diff(values) <= 1e-9)
    assert values[-1] < values[0]


@pytest.mark.parametrize("alpha", [0.05, 2.0])  # alpha = 0: against ILSR, below
def test_matches_choix_opt_pairwise(data, alpha):
    choix = pytest.importorskip("choix")
    _, comparisons = data
    ours = BradleyTerry(alpha=alpha, tol=1e-12, max_iter=10_000).fit(comparisons, n_items=12)
    pairs = [tuple(r) for r in comparisons.tolist()]
    theirs = choix.opt_pairwise(12, pairs, alpha=alpha, tol=1e-12)
    np.testing.assert_allclose(ours.scores_, theirs - theirs.mean(), atol=1e-6)


def test_matches_choix_ilsr_for_the_mle(data):
    choix = pytest.importorskip("choix")
    _, comparisons = data
    ours = BradleyTerry(method="newton", tol=1e-12).fit(comparisons, n_items=12)
    theirs = choix.ilsr_pairwise(12, comparisons.tolist(), alpha=0.0, tol=1e-12, max_iter=1000)
    np.testing.assert_allclose(ours.scores_, theirs - theirs.mean(), atol=1e-6)


def cycle(items):
    """Comparisons in which each item beats the next one, around a cycle."""
    return [(a, b) for a, b in zip(items, items[1:] + items[:1], strict=True)]


@pytest.mark.parametrize("method", ["mm", "newton"])
def test_missing_mle_raises_and_alpha_fixes_it(method):
    never_wins = np.array(cycle([0, 1, 2]) + [(0, 3), (1, 3)])
    never_loses = np.array(cycle([0, 1, 2]) + [(3, 0), (3, 2)])
    # Two groups, each a cycle, and group {0,1,2} always beats group {3,4,5}.
    split = np.array(cycle([0, 1, 2]) + cycle([3, 4, 5]) + [(0, 3), (2, 5)])
    for comparisons, reason in (
        (never_wins, "never win"),
        (never_loses, "never lose"),
        (split, "not strongly connected"),
    ):
        with pytest.raises(ValueError, match=reason) as err:
            BradleyTerry(method=method).fit(comparisons)
        assert "alpha > 0" in str(err.value)
        scores = BradleyTerry(alpha=0.1, method=method).fit(comparisons).scores_
        assert np.all(np.isfinite(scores))
    scores = BradleyTerry(alpha=0.1, method=method).fit(split).scores_
    assert scores[:3].min() > scores[3:].max()  # the winning group scores higher


def test_unseen_item_needs_alpha():
    comparisons = np.array(cycle([0, 1, 2]))
    with pytest.raises(ValueError, match="never win"):
        BradleyTerry().fit(comparisons, n_items=4)
    scores = BradleyTerry(alpha=1.0).fit(comparisons, n_items=4).scores_
    assert scores[3] == pytest.approx(0.0, abs=1e-12)  # only the prior speaks for item 3


@pytest.mark.parametrize("method", ["mm", "newton"])
def test_a_single_item_scores_zero(method):
    fit = BradleyTerry(method=method).fit(np.zeros((0, 2), dtype=int), n_items=1)
    np.testing.assert_array_equal(fit.scores_, [0.0])


def test_probabilities_and_log_likelihood(data):
    beta, comparisons = data
    fit = BradleyTerry().fit(comparisons)
    p = fit.predict_proba(np.array([[0, 1], [1, 0], [3, 3]]))
    assert p[0] + p[1] == pytest.approx(1.0)
    assert p[2] == 0.5
    expected = np.exp(fit.scores_[0]) / (np.exp(fit.scores_[0]) + np.exp(fit.scores_[1]))
    assert fit.probability(0, 1) == pytest.approx(expected)
    ll = fit.log_likelihood(comparisons)
    assert ll == pytest.approx(np.sum(np.log(fit.predict_proba(comparisons))))
    # The MLE maximises the likelihood: the true scores do worse on the same data.
    fit_true = BradleyTerry()
    fit_true.scores_, fit_true.n_items_ = beta - beta.mean(), beta.size
    assert fit_true.log_likelihood(comparisons) < ll


def test_input_validation():
    good = np.array(cycle([0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        BradleyTerry().fit(np.zeros((4, 3), dtype=int))
    with pytest.raises(ValueError, match="itself"):
        BradleyTerry().fit(np.array([[0, 1], [1, 1]]))
    with pytest.raises(ValueError, match="n_items=2"):
        BradleyTerry().fit(good, n_items=2)
    with pytest.raises(ValueError, match="negative"):
        BradleyTerry().fit(np.array([[0, -1]]))
    with pytest.raises(TypeError, match="integers"):
        BradleyTerry().fit(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="alpha"):
        BradleyTerry(alpha=-1.0).fit(good)
    with pytest.raises(ValueError, match="method"):
        BradleyTerry(method="lsr").fit(good)
    with pytest.raises(RuntimeError, match="not fitted"):
        BradleyTerry().predict_proba(good)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        BradleyTerry(max_iter=1).fit(np.array(cycle([0, 1, 2]) + [(0, 2)]))
