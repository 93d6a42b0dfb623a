"""Gaussian processes and kernels against scikit-learn.

* **RBF Gram matrix** (4000 x 4000 x 10 features) against
  ``sklearn.metrics.pairwise.rbf_kernel``: npml computes each row's distances and
  exponentials in one fused Numba pass, the lower triangle only, and mirrors it;
  scikit-learn forms BLAS distances and makes several NumPy passes over the matrix.
  A second row times the compiled squared distances against their NumPy twin.
* **GP fit + predict** (n = 2000 train, 500 test, 5-d, RBF with noise, fixed
  hyperparameters, predictive mean and std): npml factorises once and reuses the factor
  for the log marginal likelihood; scikit-learn's ``fit`` computes the kernel and its
  Cholesky factor twice (once for the likelihood, once for prediction).
* **GP with hyperparameter optimisation** (same kind of data, same number of restarts,
  L-BFGS-B on both sides, RBF variance, length scale and noise): per evaluation npml
  does one Cholesky, ``potri`` for the inverse and the trace trick through two matrix
  products; scikit-learn solves against the identity and contracts an n x n x p
  gradient tensor.
* **Fitted exponent** of the GP fit time in n, judged against the local slope of the cost
  model ``a n^3 + b n^2 d`` fitted to the same times (the Cholesky is n^3 / 3 flops; the
  kernel matrix's n^2 d work flattens the slope at the sizes a quick run affords).
"""

from __future__ import annotations

import numpy as np

from npml.bench import Report, compare, fit_cost_model, fit_exponent
from npml.bench import peer as _peer
from npml.gp import GaussianProcessRegressor
from npml.kernels import RBF
from npml.kernels.distances import _sq_dist_reference, sq_dist

NAME = "gp"
TITLE = "Kernels and Gaussian processes vs scikit-learn"
ORDER = 65

NOISE = 0.1


def regression(n: int, d: int = 5, n_test: int = 500, seed: int = 0):
    """Smooth target plus noise on a cube; C-ordered float64."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (n, d))
    y = np.sin(X).sum(axis=1) + 0.3 * rng.standard_normal(n)
    return X, y, rng.uniform(-3, 3, (n_test, d))


def sklearn_gp(gp_module, optimize: bool, n_restarts: int = 0):
    """scikit-learn's model equal to ``GaussianProcessRegressor(RBF(1.5), noise=NOISE)``."""
    k = gp_module.kernels
    if not optimize:
        kernel = k.ConstantKernel(1.0) * k.RBF(1.5)
        return gp_module.GaussianProcessRegressor(kernel, alpha=NOISE, optimizer=None)
    kernel = k.ConstantKernel(1.0) * k.RBF(1.5) + k.WhiteKernel(NOISE)
    return gp_module.GaussianProcessRegressor(
        kernel, alpha=0.0, n_restarts_optimizer=n_restarts, random_state=0
    )


def _row(report, case, t, peer, target=None, note="", **extra):
    if report.mode == "tiny":  # toy sizes measure overheads: a smoke test, not judged
        target = None
    report.row(
        case,
        t["npml"].median,
        peer=peer,
        peer_value=t[peer].median if peer in t else None,
        target=target,
        note=note,
        npml_best=t["npml"].best,
        **extra,
    )


def _gram_rows(report: Report, sk_pairwise) -> None:
    n, d = report.pick(400, 4000, 4000), 10
    X = np.random.default_rng(1).standard_normal((n, d))
    kernel = RBF(1.0)
    fns = {"npml": lambda: kernel(X)}
    if sk_pairwise is not None:
        fns["sklearn"] = lambda: sk_pairwise.rbf_kernel(X, gamma=0.5)
        err = float(np.max(np.abs(kernel(X) - fns["sklearn"]())))
    t = compare(fns, repeats=report.pick(2, 3, 11), pause=report.pause)
    note = f"max |diff| {err:.1e}" if sk_pairwise is not None else ""
    _row(report, f"RBF Gram {n}x{n}x{d}", t, "sklearn", target=1.0, note=note)

    n_ref = report.pick(100, 500, 500)
    Xr = X[:n_ref]
    t = compare(
        {"npml": lambda: sq_dist(Xr), "reference": lambda: _sq_dist_reference(Xr, Xr)},
        repeats=report.repeats,
        pause=report.pause,
    )
    _row(
        report,
        f"sq_dist {n_ref}x{n_ref}x{d} (compiled) vs its NumPy twin",
        t,
        "reference",
        note="the twin broadcasts an n x n x d difference tensor",
    )


def _fit_predict_row(report: Report, sk_gp) -> None:
    n = report.pick(300, 2000, 2000)
    X, y, X_test = regression(n)

    def ours():
        gp = GaussianProcessRegressor(RBF(1.5), noise=NOISE, optimize=False).fit(X, y)
        return gp.predict(X_test, return_std=True)

    fns = {"npml": ours}
    note = ""
    if sk_gp is not None:

        def theirs():
            return sklearn_gp(sk_gp, optimize=False).fit(X, y).predict(X_test, return_std=True)

        fns["sklearn"] = theirs
        (m1, s1), (m2, s2) = ours(), theirs()
        diffs = np.max(np.abs(m1 - m2)), np.max(np.abs(s1 - s2))
        note = "max |mean diff| {:.1e}, |std diff| {:.1e}".format(*diffs)
    # the calls above compiled and warmed both sides (without scikit-learn, warm up here)
    warmup = 0 if sk_gp is not None else 1
    t = compare(fns, repeats=report.pick(2, 3, 5), warmup=warmup, pause=report.pause)
    _row(
        report,
        f"GP fit+predict(std) n={n} test=500 d=5 RBF+noise",
        t,
        "sklearn",
        target=0.6,
        note=note,
    )


def _optimize_row(report: Report, sk_gp) -> None:
    n = report.pick(150, 400, 2000)
    n_restarts = report.pick(0, 0, 1)  # each restart is another L-BFGS-B run on both sides
    X, y, _ = regression(n, seed=1)

    def ours():
        return GaussianProcessRegressor(
            RBF(1.5), noise=NOISE, optimize=True, n_restarts=n_restarts, rng=0
        ).fit(X, y)

    fns = {"npml": ours}
    note = ""
    if sk_gp is not None:
        fns["sklearn"] = lambda: sklearn_gp(sk_gp, True, n_restarts).fit(X, y)
        lml_ours = ours().log_marginal_likelihood_value_
        lml_theirs = fns["sklearn"]().log_marginal_likelihood_value_
        note = f"LML reached {lml_ours:.4f} vs {lml_theirs:.4f}"
    # The fits above warmed both sides up.
    t = compare(fns, repeats=report.pick(2, 2, 5), warmup=0, pause=report.pause)
    _row(
        report,
        f"GP fit with L-BFGS-B n={n} d=5 restarts={n_restarts}",
        t,
        "sklearn",
        target=1.0,
        note=note,
    )


def _exponent_row(report: Report) -> None:
    """The fit time's exponent in n, and the cost model that explains it.

    Fitting costs ``n^3 / 3`` flops for the Cholesky factor plus ``n^2 d`` for the kernel
    matrix (distances and one exponential per entry, which run far slower per flop than
    the factorisation). At the sizes a quick run affords the second term still matters,
    so the slope sits between 2 and 3; the model ``a n^3 + b n^2`` fitted to the same
    times says where, and the exponent is judged against the model's local slope.
    """
    sizes = report.pick(
        [100, 200, 400], [500, 1000, 2000, 3000], [500, 1000, 2000, 3000, 4000, 5000]
    )
    fit_from = report.pick(0, 1, 2)  # fixed overheads flatten the smallest n
    d = 5
    times = []
    for n in sizes:
        X, y, _ = regression(n, d=d, seed=2)
        t = compare(
            {
                "fit": lambda X=X, y=y: GaussianProcessRegressor(
                    RBF(1.5), noise=NOISE, optimize=False
                ).fit(X, y)
            },
            repeats=3,
            warmup=int(n == sizes[0]),
        )
        times.append(t["fit"].best)  # the least disturbed run: a shared machine adds noise
    n_arr = np.asarray(sizes, dtype=float)
    model = fit_cost_model({"n^3": n_arr**3, "n^2 d": n_arr**2 * d}, times)
    a, b = model.coef["n^3"], model.coef["n^2 d"]
    fitted = sizes[fit_from:]
    expected = fit_exponent(fitted, [a * n**3 + b * n * n * d for n in fitted]).slope
    fit = fit_exponent(fitted, times[fit_from:])
    judged = report.mode != "tiny"  # toy sizes measure overheads, not the n^3 cost
    tiny = "" if judged else " (tiny: not judged)"
    report.row(
        "GP fit time: cost model a n^3 + b n^2 d",
        model.max_relative_error,
        unit="",
        target="max relative error <= 0.25" + tiny,
        met=model.max_relative_error <= 0.25 if judged else None,
        note=f"a={a:.3g} s, b={b:.3g} s; the n^3 term (Cholesky) is "
        f"{a * n_arr[-1] ** 3 / (a * n_arr[-1] ** 3 + b * n_arr[-1] ** 2 * d):.0%} of the "
        f"time at n={sizes[-1]}",
        a=a,
        b=b,
    )
    used = ", ".join(str(s) for s in fitted)
    report.row(
        "GP fit time exponent in n (RBF, d=5, best of 3)",
        fit.slope,
        unit="",
        target=f"{expected:.2f} +- 0.2 (the model's slope; 3 once n^3 dominates)" + tiny,
        met=fit.within(expected) if judged else None,
        note=f"fitted on n = {used}; 95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}]",
        sizes=sizes,
        seconds=times,
        expected=expected,
    )


def run(report: Report) -> None:
    sk_pairwise = _peer("sklearn.metrics.pairwise")
    sk_gp = _peer("sklearn.gaussian_process")
    _gram_rows(report, sk_pairwise)
    _fit_predict_row(report, sk_gp)
    _optimize_row(report, sk_gp)
    _exponent_row(report)
