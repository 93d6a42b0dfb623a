"""What npml's estimators share: scikit-learn's estimator protocol, without scikit-learn.

An estimator stores each constructor argument unchanged, under the argument's own name,
and validates it in ``fit`` (scikit-learn's convention). Its parameters can then be read
from the constructor's signature, which gives ``get_params``, ``set_params`` and a
``repr`` for free. The rest of the protocol that scikit-learn's tools rely on (``clone``,
pipelines, grid searches, ``cross_val_score``, the estimator checks) is here too:

- ``get_params(deep=True)`` expands a parameter that has parameters of its own (a GP's
  kernel) into ``kernel__length_scale`` entries, and ``set_params`` takes such keys;
- ``__sklearn_tags__`` describes the estimator (regressor or not, what ``X`` and ``y`` may
  be) with scikit-learn's ``Tags``, built only when scikit-learn calls it, so npml never
  imports scikit-learn itself;
- ``__sklearn_is_fitted__``, and :class:`Regressor`'s ``score``, the coefficient of
  determination exactly as ``sklearn.base.RegressorMixin.score`` computes it,

.. math::

    R^2 = 1 - \\frac{\\sum_i w_i (y_i - \\hat y_i)^2}{\\sum_i w_i (y_i - \\bar y_w)^2},
    \\qquad \\bar y_w = \\frac{\\sum_i w_i y_i}{\\sum_i w_i},

averaged over the columns of a 2-D ``y`` (1 where a column is predicted exactly, 0 where
it is constant but not predicted exactly).

:func:`check_X` and :func:`check_y` validate an estimator's data with the messages that
scikit-learn's estimator checks look for ("Reshape your data", "X has 1 features, but ...
is expecting 3 features as input", "A column-vector y was passed ...").
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, TypeVar

import numpy as np

from npml._checks import check_array, check_bool, check_same_length
from npml.exceptions import DataConversionWarning, UndefinedMetricWarning, sklearn_flavoured

E = TypeVar("E", bound="Estimator")


def constructor_params(cls: type) -> list[str]:
    """The names of ``cls.__init__``'s arguments, ``self`` and ``*args``/``**kwargs`` aside.

    Shared by :class:`Estimator` and :class:`npml.kernels.Kernel`: both store each argument
    under its own name, so these names are their parameters.
    """
    params = inspect.signature(cls.__init__).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.name != "self" and p.kind not in variadic]


def deep_params(obj: Any, names: list[str], deep: bool) -> dict[str, Any]:
    """``{name: value}`` for ``names``; with ``deep``, a value with ``get_params`` (but not a
    class) adds its own parameters as ``name__sub`` (scikit-learn's nesting)."""
    check_bool(deep, "deep")
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = value
        if deep and hasattr(value, "get_params") and not isinstance(value, type):
            for sub, sub_value in value.get_params(deep=True).items():
                out[f"{name}__{sub}"] = sub_value
    return out


def split_nested(obj: Any, params: dict[str, Any], valid: list[str]) -> dict[str, dict]:
    """Check ``set_params`` keys against ``valid``; return ``{name: {sub: value}}`` for the
    nested keys (``kernel__length_scale``) and leave the plain ones in ``params``."""
    nested: dict[str, dict] = {}
    for key in list(params):
        name, sep, sub = key.partition("__")
        if name not in valid:
            raise ValueError(
                f"{name!r} is not a parameter of {type(obj).__name__}; expected one of {valid}"
            )
        if sep:
            value = getattr(obj, name)
            if not hasattr(value, "set_params"):
                raise ValueError(f"{key!r}: {name}={value!r} has no parameters of its own to set")
            nested.setdefault(name, {})[sub] = params.pop(key)
    return nested


class Estimator:
    """Mixin: the parameter protocol from ``__init__``'s signature, tags and fitted state.

    Subclasses describe themselves to scikit-learn by overriding :meth:`_update_tags`.
    """

    _estimator_type: str | None = None

    @classmethod
    def _param_names(cls) -> list[str]:
        return constructor_params(cls)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name (the objects themselves, not copies).

        With ``deep=True`` (the default, as in scikit-learn) an argument that has parameters
        of its own (a GP's kernel) also contributes them as ``kernel__length_scale``, the
        names a grid search or :meth:`set_params` uses.
        """
        return deep_params(self, self._param_names(), deep)

    def set_params(self: E, **params: Any) -> E:
        """Set constructor arguments (checked at the next ``fit``); returns ``self``.

        ``name__sub=value`` sets ``sub`` on the object held as ``name`` (a kernel's
        ``length_scale`` as ``kernel__length_scale``), after the plain names.

        Raises
        ------
        ValueError
            For a name that is not a constructor argument.
        """
        nested = split_nested(self, params, self._param_names())
        for name, value in params.items():
            setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has run: a learned attribute (``name_``) exists, as scikit-learn's
        ``check_is_fitted`` decides it."""
        return any(k.endswith("_") and not k.startswith("__") for k in vars(self))

    def _update_tags(self, tags: Any) -> None:
        """Adjust scikit-learn's ``Tags`` for this estimator (in place); the default says
        nothing beyond :meth:`__sklearn_tags__`'s."""

    def __sklearn_tags__(self) -> Any:
        """This estimator's ``sklearn.utils.Tags`` (scikit-learn's current tags protocol).

        Only scikit-learn calls this, so importing it here costs npml nothing and keeps it
        an optional peer. Dense 2-D float input, no NaN, a required target (for
        :class:`Regressor`); subclasses refine it in :meth:`_update_tags`.
        """
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        regressor = self._estimator_type == "regressor"
        tags = Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=regressor),
            regressor_tags=RegressorTags() if regressor else None,
            input_tags=InputTags(),
        )
        self._update_tags(tags)
        return tags

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class Regressor(Estimator):
    """Mixin for regressors: :class:`Estimator` plus ``score`` (:math:`R^2`, module docstring)."""

    _estimator_type = "regressor"

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """:math:`R^2` of ``self.predict(X)`` against ``y`` (module docstring).

        Parameters
        ----------
        X : array_like, shape (n, p)
        y : array_like, shape (n,) or (n, K)
        sample_weight : array_like, shape (n,), optional
            Non-negative weights :math:`w_i` (all 1 by default).

        Returns
        -------
        float
            1 for perfect predictions, 0 for predicting the (weighted) mean, negative for
            worse; NaN, with an :class:`~npml.exceptions.UndefinedMetricWarning`, for fewer
            than two samples (as scikit-learn).
        """
        y_pred = np.asarray(self.predict(X))
        return r2_score(y, y_pred, sample_weight)


def r2_score(y: Any, y_pred: np.ndarray, sample_weight: Any = None) -> float:
    """The coefficient of determination of the module docstring, uniform over columns."""
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64, object_as_number=True)
    if y.shape[0] != y_pred.shape[0] or y.size != y_pred.size:
        raise ValueError(f"y has shape {y.shape} but the predictions have shape {y_pred.shape}")
    y = y.reshape(y.shape[0], -1)  # (n, K)
    y_pred = y_pred.reshape(y.shape).astype(np.float64, copy=False)
    if y.shape[0] < 2:
        warnings.warn(
            "R^2 score is not well-defined with less than two samples.",
            sklearn_flavoured(UndefinedMetricWarning),
            stacklevel=3,
        )
        return float("nan")
    if sample_weight is None:
        w = np.ones((y.shape[0], 1))
    else:
        w = check_array(sample_weight, "sample_weight", ndim=1, dtype=np.float64)
        check_same_length(y, "y", w, "sample_weight")
        w = w[:, None]  # (n, 1)
    y_bar = np.sum(w * y, axis=0) / np.sum(w)  # (K,)
    numerator = np.sum(w * (y - y_pred) ** 2, axis=0)  # (K,)
    denominator = np.sum(w * (y - y_bar) ** 2, axis=0)  # (K,)
    scores = np.ones(y.shape[1])  # exact predictions score 1, even of a constant column
    valid = (numerator != 0) & (denominator != 0)
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[(numerator != 0) & (denominator == 0)] = 0.0  # constant y, not predicted exactly
    return float(np.mean(scores))


def check_X(
    X: Any,
    estimator: Any,
    *,
    fitting: bool,
    finite: bool = True,
    copy: bool = False,
) -> np.ndarray:
    """An estimator's ``X`` as a 2-D float64 array, with scikit-learn's messages.

    Object arrays that hold numbers are converted (as ``sklearn.utils.check_array`` does);
    sparse matrices, complex numbers, 1-D input ("Reshape your data"), 0 samples or
    features at ``fit``, and (after ``fit``) a number of features other than
    ``n_features_in_`` are refused.
    """
    name = _who(estimator)
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        raise TypeError(
            f"X is a sparse {type(X).__name__}; sparse input is not supported by {name}, "
            "expected a dense array (X.toarray())"
        )
    X = check_array(X, "X", dtype=np.float64, finite=finite, copy=copy, object_as_number=True)
    if X.ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead: X has ndim=1 (shape {X.shape}). "
            "Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim != 2:
        raise ValueError(f"X has ndim={X.ndim} (shape {X.shape}); expected 2")
    if fitting:
        for axis, what in ((0, "sample"), (1, "feature")):
            if X.shape[axis] == 0:
                raise ValueError(
                    f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 "
                    f"is required: X has no {what}s"
                )
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X


def check_y(y: Any, estimator: Any, *, multi_output: bool = False) -> np.ndarray:
    """An estimator's target as a float64 array of shape (n,) (or (n, K) if ``multi_output``).

    ``None`` is refused with scikit-learn's wording; a column vector (n, 1) given to a
    single-output estimator is raveled with a :class:`~npml.exceptions.DataConversionWarning`
    (scikit-learn's behaviour and message).
    """
    name = _who(estimator)
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None")
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64, object_as_number=True)
    if y.ndim == 2 and not multi_output:
        if y.shape[1] != 1:
            raise ValueError(
                f"y has shape {y.shape}; {name} takes one target, expected shape (n,) or (n, 1)"
            )
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            sklearn_flavoured(DataConversionWarning),
            stacklevel=3,
        )
        y = y.ravel()
    return y


def _who(estimator: Any) -> str:
    """The name for messages: the class of an estimator, or a function's own name."""
    return estimator.__name__ if inspect.isfunction(estimator) else type(estimator).__name__
