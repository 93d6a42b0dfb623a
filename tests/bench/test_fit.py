import numpy as np
import pytest

from npml.bench import fit_exponent


@pytest.mark.parametrize("k", [1.0, 2.0, 3.0, 0.5])
def test_fit_exponent_recovers_noisy_power_laws(k, rng):
    n = np.geomspace(64, 8192, 8)
    y = 3e-7 * n**k * np.exp(rng.normal(0, 0.05, n.size))  # 5% multiplicative noise
    fit = fit_exponent(n, y)
    assert abs(fit.slope - k) < 0.05
    assert fit.ci_low < k < fit.ci_high
    assert fit.within(k) and not fit.within(k + 0.5)
    assert fit.n_points == 8


def test_fit_exponent_exact_and_errors():
    fit = fit_exponent([1, 2, 4], [5, 20, 80])
    assert fit.slope == pytest.approx(2.0)
    assert fit.intercept == pytest.approx(np.log(5))
    with pytest.raises(ValueError, match="two distinct"):
        fit_exponent([2, 2], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        fit_exponent([1, 2], [0, 1])


def test_fit_cost_model_recovers_two_terms(rng):
    from npml.bench import fit_cost_model

    T = 512.0
    D = np.array([16, 32, 64, 128, 256, 512, 1024], dtype=float)
    a, b = 2e-11, 6e-10
    t = (a * T**2 * D + b * T**2) * np.exp(rng.normal(0, 0.02, D.size))
    fit = fit_cost_model({"T^2 D": T**2 * D, "T^2": np.full_like(D, T**2)}, t)
    assert fit.coef["T^2 D"] == pytest.approx(a, rel=0.1)
    assert fit.coef["T^2"] == pytest.approx(b, rel=0.2)
    assert fit.max_relative_error < 0.1
    # at D = b / a the two terms cost the same
    assert fit.share("T^2", {"T^2 D": T**2 * b / a, "T^2": T**2}) == pytest.approx(0.5, abs=0.1)
