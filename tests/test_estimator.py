"""The parameter protocol every npml estimator shares (npml._estimator.Estimator)."""

import numpy as np
import pytest

from npml.gp import GaussianProcessRegressor
from npml.kernels import RBF, KernelRidge
from npml.linear import ElasticNet
from npml.preference import BradleyTerry

ESTIMATORS = [
    (ElasticNet, {"alpha": 0.3, "l1_ratio": 0.2, "max_iter": 50}),
    (GaussianProcessRegressor, {"kernel": RBF(2.0), "noise": 0.1, "n_restarts": 2, "rng": 3}),
    (KernelRidge, {"kernel": RBF(0.5), "alpha": 0.01}),
    (BradleyTerry, {"alpha": 1.0, "method": "newton", "tol": 1e-6}),
]


@pytest.mark.parametrize(("cls", "kwargs"), ESTIMATORS)
def test_get_params_returns_the_constructor_arguments(cls, kwargs):
    est = cls(**kwargs)
    params = est.get_params(deep=False)
    for name, value in kwargs.items():
        assert params[name] is value
    # every argument of the signature is there, defaults included
    assert set(params) == set(cls._param_names())
    assert cls(**params).get_params(deep=False) == params
    # deep=True (the default, as scikit-learn's) adds a kernel's own parameters, nothing else
    deep = est.get_params()
    assert {k: deep[k] for k in params} == params
    for key, value in deep.items():
        if key not in params:
            name, sub = key.split("__", 1)
            assert value is params[name].get_params()[sub]


@pytest.mark.parametrize(("cls", "kwargs"), ESTIMATORS)
def test_set_params_sets_known_names_and_rejects_others(cls, kwargs):
    est = cls(**kwargs)
    name = next(iter(kwargs))
    assert est.set_params(**{name: kwargs[name]}) is est
    with pytest.raises(ValueError, match=r"'no_such_param' is not a parameter of " + cls.__name__):
        est.set_params(no_such_param=1)


@pytest.mark.parametrize(("cls", "kwargs"), ESTIMATORS)
def test_repr_names_the_class_and_its_arguments(cls, kwargs):
    text = repr(cls(**kwargs))
    assert text.startswith(f"{cls.__name__}(")
    for name in kwargs:
        assert f"{name}=" in text


@pytest.mark.parametrize(("cls", "kwargs"), ESTIMATORS)
def test_sklearn_clone_gives_an_unfitted_copy(cls, kwargs):
    base = pytest.importorskip("sklearn.base", reason="scikit-learn is an optional peer")
    est = cls(**kwargs)
    copy = base.clone(est)
    assert type(copy) is cls and copy is not est
    assert copy.get_params().keys() == est.get_params().keys()


def test_set_params_takes_effect_at_the_next_fit():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X @ np.array([2.0, 0, 0, -1.0, 0]) + 0.5 * rng.standard_normal(40)
    model = ElasticNet(alpha=0.001)  # weak penalty: the noise features get weights too
    loose = np.count_nonzero(model.fit(X, y).coef_)
    strict = np.count_nonzero(model.set_params(alpha=1.0).fit(X, y).coef_)
    assert strict < loose
