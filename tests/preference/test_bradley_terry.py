import warnings

import numpy as np
import pytest

from npml.preference._bt_kernel import (
    _bt_mm_kernel,
    _bt_mm_reference,
    _prior_root_reference,
    _prior_root_scalar,
    _squarem,
)
from npml.preference.bradley_terry import (
    BradleyTerry,
    ConvergenceWarning,
    bt_objective,
    count_pairs,
    fit_squarem,
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


@pytest.mark.parametrize("method", ["mm", "squarem"])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 5.0])
def test_mm_and_newton_agree_and_are_stationary(data, alpha, method):
    _, comparisons = data
    mm = BradleyTerry(alpha=alpha, method=method, tol=1e-12, max_iter=10_000).fit(comparisons)
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


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.5])
def test_each_squarem_cycle_lowers_the_objective(alpha):
    # Extrapolated steps are kept only when they do not raise Eq. (1) (_bt_kernel, Eq. 3).
    c = count_pairs(weak_prior_problem(), 150)
    values = [bt_objective(fit_squarem(c, alpha, np.zeros(150), k, 0.0)[0], c, alpha)
              for k in range(1, 25)]  # fmt: skip
    assert np.all(np.diff(values) <= 1e-9)
    assert values[-1] < values[0]


def test_squarem_solves_a_scalar_linear_map_in_a_few_cycles():
    # For F(b) = 0.9 b, r = -0.1 b and v = 0.01 b, so s = -10 lands on the fixed point 0
    # exactly (Eq. 3). The step is capped at 4 in the first cycle (to 0.324) and at 16 in
    # the second, which reaches 0; the third sees no change. Plain MM-style steps would need
    # about 175 (0.9^k < 1e-8).
    beta, it, change = _squarem(lambda b: 0.9 * b, lambda b: float(b @ b), np.ones(3), 100, 1e-8)
    assert it == 3
    np.testing.assert_allclose(beta, 0.0, atol=1e-15)


def test_default_converges_where_plain_mm_crawls():
    # 150 items, 5 comparisons each, weak prior: MM needs about 1,500 iterations.
    rng = np.random.default_rng(0)
    comparisons = simulate(rng, rng.normal(size=150), 750)
    newton = BradleyTerry(alpha=0.01, method="newton", tol=1e-12).fit(comparisons, 150)
    with pytest.warns(ConvergenceWarning, match="max_iter=1000"):
        BradleyTerry(alpha=0.01, method="mm").fit(comparisons, 150)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = BradleyTerry(alpha=0.01).fit(comparisons, 150)
    assert fit.n_iter_ < 150
    np.testing.assert_allclose(fit.scores_, newton.scores_, atol=1e-5)


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


def weak_prior_problem(seed=0):
    """150 items with N(0, 1) scores, 4,000 uniformly random pairs (issue 13's case).

    About 27 comparisons per item and 4,000 of the 11,175 possible pairs: with seed 0 the
    old MM default wandered up to 100 away from the optimum at alpha=0.01 (see
    test_prior_root_started_at_its_root_stays_there for why).
    """
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=150)
    return simulate(rng, beta, 4_000)


def test_prior_root_started_at_its_root_stays_there():
    # Item 54 of weak_prior_problem(0) at the MM iteration where the old root finder broke:
    # started on the root, a zero (or round-off) Newton step landed on the bracket's lower
    # edge, was taken for a step out of the bracket and replaced by a bisection towards the
    # far upper end (W / (2 alpha) = 700), and 100 Newton steps from there ended near 251.
    W, Dp, m, alpha = 14.0, 296.77389077, 2.043256245716198, 0.01
    root = _prior_root_scalar(W, Dp, m, alpha, 0.0)
    assert abs(Dp * np.exp(root - m) + 2 * alpha * root - W) < 1e-12  # Eq. (1)
    for b0 in (root, np.nextafter(root, -np.inf), np.nextafter(root, np.inf)):
        assert _prior_root_scalar(W, Dp, m, alpha, b0) == pytest.approx(root, abs=1e-14)
        ref = _prior_root_reference(np.array([W, 3.0]), np.array([Dp, 5.0]), m, alpha,
                                    np.array([b0, -20.0]))  # fmt: skip
        assert ref[0] == pytest.approx(root, abs=1e-14)
        assert ref[1] == pytest.approx(_prior_root_scalar(3.0, 5.0, m, alpha, -20.0), abs=1e-14)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.1])
def test_mm_stays_at_its_fixed_point(alpha):
    # Started at the optimum (Newton's), MM iterations must not move: it is a fixed point.
    comparisons = weak_prior_problem()
    c = count_pairs(comparisons, 150)
    beta = BradleyTerry(alpha=alpha, method="newton", tol=1e-12).fit(comparisons, 150).scores_
    for fn in (_bt_mm_kernel, _bt_mm_reference):
        again, it, change = fn(c.pair_i, c.pair_j, c.n_ij, c.wins, alpha, beta, 300, 0.0)
        assert it == 300 or change == 0.0  # tol=0 stops only on an exact fixed point
        assert change < 1e-12
        np.testing.assert_allclose(again, beta, atol=1e-12)


@pytest.mark.parametrize("method", [None, "mm"])  # None: the default
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_reaches_newtons_optimum_under_a_weak_prior(alpha, seed, method):
    comparisons = weak_prior_problem(seed)
    kwargs = {} if method is None else {"method": method}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = BradleyTerry(alpha=alpha, **kwargs).fit(comparisons, n_items=150)
    newton = BradleyTerry(alpha=alpha, method="newton", tol=1e-12).fit(comparisons, n_items=150)
    np.testing.assert_allclose(fit.scores_, newton.scores_, atol=1e-5)


@pytest.mark.slow  # choix's objective, gradient and Hessian are Python loops: seconds a fit
@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_default_matches_choix_under_a_weak_prior(alpha):
    choix = pytest.importorskip("choix")
    comparisons = weak_prior_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = BradleyTerry(alpha=alpha).fit(comparisons, n_items=150)
    pairs = [tuple(r) for r in comparisons.tolist()]
    theirs = choix.opt_pairwise(150, pairs, alpha=alpha, tol=1e-10)  # same Eq. (1), same alpha
    assert np.max(np.abs(theirs)) < 4  # the optimum is moderate; the old MM reached 100
    np.testing.assert_allclose(ours.scores_, theirs - theirs.mean(), atol=1e-5)


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
