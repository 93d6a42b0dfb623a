"""The complexity chapter's fits: exponents judged against the documented costs, and the
cost models that explain what a single power law cannot.

* :func:`fit_rows`: the log-log slope of each contender over a sweep's fitted sizes,
  judged within +-0.2 of the expected exponent; the peer's, printed beside it, unjudged.
* :func:`attention_two_term`: ``a T^2 D + b T^2`` over attention's whole D sweep.
* :func:`encoder_model`: ``a T^2 D + b T D^2 + c T D`` over both encoder sweeps; its
  largest relative error is the verdict on whether three terms explain the layer.
* :func:`parts_slope`: the encoder's expected exponent in one sweep, predicted from its
  parts timed on the *other* sweep (the chapter's docstring says why).
"""

from __future__ import annotations

import numpy as np

from npml.bench import CostModelFit, ExponentFit, Report, fit_cost_model, fit_exponent
from npml.bench.chapters._complexity_ops import COST_TERMS, FAMILIES
from npml.bench.chapters._complexity_plots import plot_sweep
from npml.bench.chapters._complexity_sweeps import Sweep


def fit_rows(
    report: Report,
    sweep: Sweep,
    best: dict[str, list[float]],
    expected: float | None,
    basis: str = "",
) -> dict[str, ExponentFit]:
    """Fit and print the exponent of each contender (judged) and of the peer (not judged).

    ``basis`` is added to the contenders' notes: where ``expected`` comes from, when it is
    not the documented exponent.
    """
    fam = FAMILIES[sweep.family]
    peer_name = fam.peer[0]
    points = sweep.fitted
    first = len(sweep.sizes) - len(points)  # sizes ascend: the fit takes the last ones
    judged = report.mode != "tiny"  # toy sizes measure overheads, not the asymptotic cost
    fits = {}
    for name in [*fam.contenders, peer_name]:
        if name not in best:
            continue
        fit = fit_exponent(points, best[name][first:])
        fits[name] = fit
        is_peer = name == peer_name
        target = None if expected is None else f"{expected:.2f} +- 0.2"
        if target and not judged and not is_peer:
            target += " (tiny: not judged)"
        report.row(
            f"{name}: exponent in {sweep.var} ({fam.documented})",
            fit.slope,
            unit="",
            target=None if is_peer else target,
            met=fit.within(expected) if judged and expected is not None and not is_peer else None,
            note=f"95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], fit over {sweep.var} in "
            f"{points}"
            + ("; the peer, for comparison: not judged" if is_peer else "")
            + (f"; {basis}" if basis and not is_peer else ""),
            ci=[fit.ci_low, fit.ci_high],
            points=points,
            expected=expected,
        )
    plot_sweep(report, sweep, best, fits, expected)
    return fits


def attention_two_term(report: Report, sweep: Sweep, best: dict[str, list[float]]) -> None:
    """Fit ``a T^2 D + b T^2`` over the whole D sweep of each attention contender."""
    T = sweep.fixed
    D = np.asarray(sweep.sizes, dtype=float)
    for name in FAMILIES["attention"].contenders:
        if name not in best:
            continue
        model = fit_cost_model({"T^2 D": T * T * D, "T^2": np.full_like(D, T * T)}, best[name])
        a, b = model.coef["T^2 D"], model.coef["T^2"]
        report.row(
            f"{name}: two-term model a T^2 D + b T^2 (T={T})",
            model.max_relative_error,
            unit="",
            note=f"a={a:.3g} s, b={b:.3g} s, the T^2 term equals the T^2 D term at "
            f"D={b / a if a > 0 else float('inf'):.0f}; max relative error of the model "
            f"{model.max_relative_error:.2f}",
            a=a,
            b=b,
        )


def _fitted_points(sweep: Sweep, times: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(T, D, seconds)`` at the sweep's fitted sizes."""
    first = len(sweep.sizes) - len(sweep.fitted)
    T, D = np.asarray([sweep.shape(n) for n in sweep.fitted], dtype=float).T
    return T, D, np.asarray(times[first:], dtype=float)


def encoder_model(
    report: Report, sweeps: list[Sweep], results: list[dict[str, list[float]]]
) -> dict[str, float]:
    """Fit ``a T^2 D + b T D^2 + c T D`` to the encoder's fitted points of both sweeps.

    The layer's documented cost is the sum of its attention (``T^2 D``) and its projections
    and FFN (``T D^2``). Two things keep the flop formula ``4 T^2 D + 24 T D^2`` from
    describing the timings: the two parts run at different speeds per flop (the softmax is
    memory work), and the layer norms, residual adds and activations add a lower-order
    ``T D`` term that is still a sizeable share at ``D = 128``. The model's largest relative
    error says whether the three terms explain the layer; its coefficients are printed.
    """
    points = [
        _fitted_points(sweep, best["encoder layer"])
        for sweep, best in zip(sweeps, results, strict=True)
        if "encoder layer" in best
    ]
    if not points:
        return {}
    T, D, times = (np.concatenate(column) for column in zip(*points, strict=True))
    model = fit_cost_model({name: COST_TERMS[name](T, D) for name in COST_TERMS}, times)
    coef = {"a": model.coef["T^2 D"], "b": model.coef["T D^2"], "c": model.coef["T D"]}
    judged = report.mode != "tiny"
    report.row(
        "encoder layer: cost model a T^2 D + b T D^2 + c T D",
        model.max_relative_error,
        unit="",
        target="max relative error <= 0.25" + ("" if judged else " (tiny: not judged)"),
        met=model.max_relative_error <= 0.25 if judged else None,
        note=f"a={coef['a']:.3g} s, b={coef['b']:.3g} s, c={coef['c']:.3g} s, fitted over both "
        f"sweeps' fitted points; attention and the matrix products cost the same at "
        f"T = {coef['b'] / coef['a'] if coef['a'] > 0 else float('inf'):.2g} D",
        **coef,
    )
    return coef


def parts_model(sweep: Sweep, best: dict[str, list[float]]) -> dict[str, CostModelFit] | None:
    """Fit each encoder part's documented terms to its times over ``sweep``'s fitted sizes.

    Every part has at most one term per power of the swept variable (self-attention
    ``T^2 D`` and ``T D^2``, FFN ``T D^2``, norms and residuals ``T D``), so one sweep
    determines its coefficients. ``None`` when a part was not timed.
    """
    parts = FAMILIES["encoder layer"].parts
    if not all(name in best for name in parts):
        return None
    models = {}
    for name, part in parts.items():
        T, D, times = _fitted_points(sweep, best[name])
        models[name] = fit_cost_model({t: COST_TERMS[t](T, D) for t in part.terms}, times)
    return models


def predict(models: dict[str, CostModelFit], T: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The layer's cost predicted as the sum of its parts' models, at each ``(T, D)``."""
    return sum(c * COST_TERMS[term](T, D) for m in models.values() for term, c in m.coef.items())


def parts_slope(
    sweep: Sweep, other: Sweep, other_best: dict[str, list[float]]
) -> tuple[float | None, str]:
    """The expected exponent of the layer over ``sweep``, from its parts timed on ``other``.

    Returns the local log-log slope of the parts' summed model over ``sweep``'s fitted sizes
    (``None`` when a part is missing) and a note for the row. Only the slope is predicted:
    the two sweeps run minutes apart, and a machine that is slower in one of them scales all
    of that sweep's parts alike, which changes the model's level but not its slope.
    """
    models = parts_model(other, other_best)
    if models is None:
        return None, ""
    T, D = np.asarray([sweep.shape(n) for n in sweep.fitted], dtype=float).T
    cost = predict(models, T, D)
    if not np.all(cost > 0):
        return None, f"the parts' model fitted on the {other.var} sweep predicts no cost here"
    slope = fit_exponent(sweep.fitted, cost).slope
    return slope, f"expected: the slope of its parts' cost model fitted on the {other.var} sweep"
