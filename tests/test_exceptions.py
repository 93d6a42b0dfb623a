"""One ConvergenceWarning for every solver, so one filter covers them all."""

import warnings

import numpy as np
import pytest

import npml
from npml.exceptions import ConvergenceWarning
from npml.linear import ElasticNet
from npml.preference import BradleyTerry


def test_every_solver_warns_with_the_same_class():
    assert npml.linear.ConvergenceWarning is ConvergenceWarning
    assert npml.preference.ConvergenceWarning is ConvergenceWarning
    assert issubclass(ConvergenceWarning, UserWarning)


def test_one_filter_turns_both_solvers_warnings_into_errors():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 50)), rng.standard_normal(30)
    pairs = np.array([[0, 1], [1, 2], [2, 0], [0, 2], [1, 0], [2, 1], [0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="max_iter=2"):
            ElasticNet(alpha=0.01, max_iter=2, tol=1e-12).fit(X, y)
        with pytest.raises(ConvergenceWarning, match="max_iter=1"):
            BradleyTerry(max_iter=1, tol=1e-14).fit(pairs, 3)
