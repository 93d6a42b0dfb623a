"""Warnings and errors that npml's estimators share.

One class per condition, whichever solver raises it, so that one filter covers them all::

    import warnings
    from npml.exceptions import ConvergenceWarning

    warnings.simplefilter("error", ConvergenceWarning)  # make any unconverged fit fail
"""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "NotFittedError"]


class ConvergenceWarning(UserWarning):
    """An iterative solver reached its iteration cap before its tolerance.

    The estimator keeps the last iterate; raise ``max_iter`` or loosen ``tol``. Issued by
    :class:`npml.linear.ElasticNet` (coordinate descent, duality gap) and
    :class:`npml.preference.BradleyTerry` (MM or Newton iterations).
    """


class NotFittedError(ValueError, AttributeError, RuntimeError):
    """An estimator was used (``predict``, ``score``, ...) before ``fit``.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError`` is (its
    estimator checks catch either), and a ``RuntimeError``, which is what npml raised for
    this condition before the class existed, so older ``except RuntimeError`` still work.
    Raised by :func:`npml._checks.check_is_fitted`.
    """
