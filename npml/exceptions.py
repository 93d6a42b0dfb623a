"""Warnings and errors that npml's estimators share.

One class per condition, whichever solver raises it, so that one filter covers them all::

    import warnings
    from npml.exceptions import ConvergenceWarning

    warnings.simplefilter("error", ConvergenceWarning)  # make any unconverged fit fail
"""

from __future__ import annotations

import sys

__all__ = [
    "ConvergenceWarning",
    "DataConversionWarning",
    "NotFittedError",
    "UndefinedMetricWarning",
    "sklearn_flavoured",
]


class ConvergenceWarning(UserWarning):
    """An iterative solver reached its iteration cap before its tolerance.

    The estimator keeps the last iterate; raise ``max_iter`` or loosen ``tol``. Issued by
    :class:`npml.linear.ElasticNet` (coordinate descent, duality gap) and
    :class:`npml.preference.BradleyTerry` (MM or Newton iterations); also scikit-learn's
    ``ConvergenceWarning`` when scikit-learn is loaded (:func:`sklearn_flavoured`), so that
    a grid search's filter for it covers npml's estimators too.
    """


class NotFittedError(ValueError, AttributeError, RuntimeError):
    """An estimator was used (``predict``, ``score``, ...) before ``fit``.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError`` is (its
    estimator checks catch either), and a ``RuntimeError``, which is what npml raised for
    this condition before the class existed, so older ``except RuntimeError`` still work.
    Raised by :func:`npml._checks.check_is_fitted`; when scikit-learn is loaded, the error
    raised is also its ``sklearn.exceptions.NotFittedError`` (see :func:`sklearn_flavoured`).
    """


class DataConversionWarning(UserWarning):
    """Input was converted to what the estimator takes: a column vector ``y`` of shape
    (n, 1) given to a single-output regressor is raveled to (n,) (scikit-learn's warning of
    the same name and message; also a subclass of it when scikit-learn is loaded)."""


class UndefinedMetricWarning(UserWarning):
    """A score is not defined for this input (:math:`R^2` of fewer than two samples) and NaN
    is returned, as scikit-learn does under its warning of the same name."""


_FLAVOURED: dict[type, type] = {}


def sklearn_flavoured(cls: type) -> type:
    """``cls``, or, when scikit-learn is already imported, a subclass of both ``cls`` and
    scikit-learn's class of the same name in ``sklearn.exceptions``.

    npml never imports scikit-learn; but a user (or scikit-learn's estimator checks) who
    has loaded it and catches ``sklearn.exceptions.NotFittedError`` or filters its
    ``DataConversionWarning`` should catch npml's too. The subclass keeps the name, the
    module and (for pickling) the reduction of ``cls``.
    """
    peer_module = sys.modules.get("sklearn.exceptions")
    peer = getattr(peer_module, cls.__name__, None) if peer_module is not None else None
    if not isinstance(peer, type) or issubclass(cls, peer):
        return cls
    if cls not in _FLAVOURED:

        def __reduce__(self):  # pickles as the plain npml class, which needs no scikit-learn
            return (cls, self.args)

        namespace = {"__module__": cls.__module__, "__doc__": cls.__doc__}
        namespace["__reduce__"] = __reduce__
        _FLAVOURED[cls] = type(cls.__name__, (cls, peer), namespace)
    return _FLAVOURED[cls]
