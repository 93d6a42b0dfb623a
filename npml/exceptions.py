"""Warnings and errors that npml's estimators share.

One class per condition, whichever solver raises it, so that one filter covers them all::

    import warnings
    from npml.exceptions import ConvergenceWarning

    warnings.simplefilter("error", ConvergenceWarning)  # make any unconverged fit fail
"""

from __future__ import annotations

__all__ = ["ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """An iterative solver reached its iteration cap before its tolerance.

    The estimator keeps the last iterate; raise ``max_iter`` or loosen ``tol``. Issued by
    :class:`npml.linear.ElasticNet` (coordinate descent, duality gap) and
    :class:`npml.preference.BradleyTerry` (MM or Newton iterations).
    """
