"""Variance and standard deviation, in one array or streamed (Welford; Chan, Golub, LeVeque).

.. math::

    \\bar x = \\frac{1}{n}\\sum_{i=1}^n x_i, \\qquad
    \\sigma^2 = \\frac{1}{n - \\text{ddof}} \\sum_{i=1}^n (x_i - \\bar x)^2
    = \\frac{M_2}{n - \\text{ddof}}.

``ddof=0`` is the notes' :math:`1/n` definition; ``ddof=1`` the unbiased sample variance.
The textbook shortcut :math:`\\overline{x^2} - \\bar x^2` subtracts two nearly equal
numbers when the mean is large compared with the spread: for data :math:`10^9 + \\epsilon`
both terms are about :math:`10^{18}`, where float64 resolves steps of 128, so a spread of
order 1 is lost entirely. :func:`variance` uses two passes instead (mean first, then the
squared deviations, plus the correction term of Chan, Golub and LeVeque [2]_ that removes
the rounding error of the mean).

Streaming data cannot be passed over twice. Welford's update [1]_ keeps the count, the
mean and :math:`M_2` and folds in one value at a time, without any cancellation:

.. math::

    n \\leftarrow n + 1, \\quad \\delta = x - \\bar x, \\quad
    \\bar x \\leftarrow \\bar x + \\frac{\\delta}{n}, \\quad
    M_2 \\leftarrow M_2 + \\delta\\,(x - \\bar x).

Two summaries :math:`(n_A, \\bar x_A, M_{2,A})` and :math:`(n_B, \\bar x_B, M_{2,B})` of
disjoint data merge exactly by the pairwise formula of Chan, Golub and LeVeque [2]_:

.. math::

    n = n_A + n_B, \\quad \\delta = \\bar x_B - \\bar x_A, \\quad
    \\bar x = \\bar x_A + \\delta \\frac{n_B}{n}, \\quad
    M_2 = M_{2,A} + M_{2,B} + \\delta^2 \\frac{n_A n_B}{n}.

:class:`RunningStats` uses both: each batch is summarised by the Welford kernel and merged
into the running totals. A stream of scalars is dealt round-robin onto :math:`L` lanes
(one per column of a ``(n / L, L)`` view), so the CPU runs :math:`L` independent Welford
recurrences at once instead of waiting on one chain of dependent additions; the lanes are
then merged by the :math:`k`-way form of the same formula,
:math:`M_2 = \\sum_l M_{2,l} + \\sum_l n_l (\\bar x_l - \\bar x)^2`.

References
----------
.. [1] B. P. Welford, "Note on a method for calculating corrected sums of squares and
   products", Technometrics 4(3), 1962.
.. [2] T. F. Chan, G. H. Golub and R. J. LeVeque, "Algorithms for computing the sample
   variance: analysis and recommendations", The American Statistician 37(3), 1983.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from npml._checks import check_array, check_bool, check_scalar
from npml.ops._axes import check_axis
from npml.ops._stats_kernels import _chan_merge, _welford_kernel

_LANES = 32  # scalar values per row of the lane view; a multiple of the SIMD width


def _n_reduced(shape: tuple[int, ...], axis: int | tuple[int, ...] | None) -> int:
    """Number of values in each slice that ``axis`` reduces (checking the axes)."""
    return math.prod(shape[a] for a in check_axis(axis, shape))


def _check_ddof(ddof: int, n: int, what: str) -> None:
    check_scalar(ddof, "ddof", kind=numbers.Integral, low=0)
    if n <= ddof:
        raise ValueError(f"{what} has {n} value(s); expected more than ddof={ddof}")


def _two_pass(x: np.ndarray, axis: int | tuple[int, ...] | None, n: int, ddof: int) -> np.ndarray:
    """:math:`M_2 / (n - \\text{ddof})` over ``axis`` in float64, reduced axes kept (size 1)."""
    mean = np.mean(x, axis=axis, keepdims=True, dtype=np.float64)
    d = x - mean  # deviations, (...) in float64, a fresh array
    correction = np.sum(d, axis=axis, keepdims=True) ** 2 / n  # ~0: the mean's rounding error
    d *= d  # squared in place: no second array of x's size
    m2 = np.sum(d, axis=axis, keepdims=True) - correction
    return np.maximum(m2, 0.0) / (n - ddof)  # the correction can round just below 0


def _scaled_variance(
    x: np.ndarray, axis: int | tuple[int, ...] | None, n: int, ddof: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(v, s)`` with the variance ``v * s**2`` (reduced axes kept); ``s`` is None if 1.

    The two-pass sums overflow float64 for values beyond about 1e154 (the squares) or 1e308
    (the sum for the mean) even when the standard deviation is representable; those slices
    are recomputed on ``x / s`` with :math:`s = \\max |x|` of the slice, in [-1, 1]. Slices
    that did not overflow keep their direct result, bit for bit.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        v = _two_pass(x, axis, n, ddof)
    if np.isfinite(v).all():
        return v, None
    bad = ~np.isfinite(v)
    scale = np.max(np.abs(x), axis=axis, keepdims=True).astype(np.float64)
    scale = np.where(bad & (scale > 0), scale, 1.0)
    v_scaled = _two_pass(x / scale, axis, n, ddof)
    return np.where(bad, v_scaled, v), scale


def _squeeze(out: np.ndarray, axis: int | tuple[int, ...] | None, keepdims: bool):
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return float(out) if out.ndim == 0 else out


def variance(
    x: np.ndarray,
    axis: int | tuple[int, ...] | None = None,
    ddof: int = 0,
    keepdims: bool = False,
) -> np.ndarray | float:
    """Variance of ``x`` over ``axis`` by the corrected two-pass algorithm.

    The mean first, then ``sum((x - mean)^2) - (sum(x - mean))^2 / n`` over ``n - ddof``: the
    second term corrects the rounding of the mean (Chan, Golub & LeVeque 1983; the
    derivation is in :mod:`npml.ops.stats`). Unlike the one-pass ``E[x^2] - E[x]^2`` it
    keeps its digits when the mean is large.

    Parameters
    ----------
    x : array_like, shape (...)
        Finite real numbers.
    axis : int, tuple of int or None, default None
        Axes to reduce; ``None`` reduces all.
    ddof : int, default 0
        Delta degrees of freedom: divide by ``n - ddof`` (0 is the notes' 1/n definition).
    keepdims : bool, default False
        Keep reduced axes with size 1.

    Returns
    -------
    float or ndarray
        A Python float when every axis is reduced and ``keepdims`` is False; otherwise the
        dtype of ``x`` (computed in float64 either way).

    Raises
    ------
    ValueError
        If ``x`` holds NaN or inf, or if the variance itself is too large for ``x``'s dtype
        (``[1e200, -1e200]``: the variance 1e400 is not a float64; :func:`std` is).

    Examples
    --------
    >>> x = 1e9 + np.array([4.0, 7.0, 13.0, 16.0])
    >>> variance(x)  # the shortcut mean(x**2) - mean(x)**2 gives -128.0 here
    22.5
    >>> variance(np.array([1.0, 2.0, 3.0, 4.0]))
    1.25
    >>> variance(np.array([1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]), ddof=1)
    1.0
    >>> variance(np.arange(6.0).reshape(2, 3), axis=1)
    array([0.66666667, 0.66666667])
    """
    x = check_array(x, "x")
    n = _n_reduced(x.shape, axis)
    keepdims = check_bool(keepdims, "keepdims")
    _check_ddof(ddof, n, "each reduced slice of x" if axis is not None else "x")
    v, scale = _scaled_variance(x, axis, n, ddof)
    with np.errstate(over="ignore"):
        out = (v if scale is None else v * scale * scale).astype(x.dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(
            f"the variance of x overflows {x.dtype} (|x| reaches {np.max(np.abs(x)):g}); "
            "std(x) is still representable, or rescale x"
        )
    return _squeeze(out, axis, keepdims)


def std(
    x: np.ndarray,
    axis: int | tuple[int, ...] | None = None,
    ddof: int = 0,
    keepdims: bool = False,
) -> np.ndarray | float:
    """Standard deviation: the square root of :func:`variance` (same arguments).

    Computed on the rescaled data where the variance would overflow, so it is finite for
    every finite ``x`` (it never exceeds :math:`\\max |x|`).
    """
    x = check_array(x, "x")
    n = _n_reduced(x.shape, axis)
    keepdims = check_bool(keepdims, "keepdims")
    _check_ddof(ddof, n, "each reduced slice of x" if axis is not None else "x")
    v, scale = _scaled_variance(x, axis, n, ddof)
    if scale is None:
        with np.errstate(over="ignore"):
            v_x = v.astype(x.dtype, copy=False)
        if np.isfinite(v_x).all():  # the square root of variance(x), as it returns it
            var = _squeeze(v_x, axis, keepdims)
            return float(np.sqrt(var)) if isinstance(var, float) else np.sqrt(var)
        scale = np.ones_like(v)  # float32 x whose variance only float64 holds
    return _squeeze((np.sqrt(v) * scale).astype(x.dtype, copy=False), axis, keepdims)


def _welford_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and :math:`M_2` of each column of ``x`` (n, D) by Welford's update: the definition."""
    mean = np.zeros(x.shape[1])
    m2 = np.zeros(x.shape[1])
    for i, row in enumerate(x):
        delta = row - mean
        mean = mean + delta / (i + 1)
        m2 = m2 + delta * (row - mean)
    return mean, m2


class RunningStats:
    """Streaming count, mean and variance of samples seen in batches (Welford, Chan et al.).

    Each sample is a scalar or an array of a fixed shape; statistics are per element.
    Merging the summaries of shards gives the statistics of their union, to rounding.
    ``update(batch)`` folds in samples stacked along axis 0, ``merge(other)`` adds another
    summary; ``count``, ``mean``, ``variance(ddof)`` and ``std(ddof)`` read the result. The
    update and merge formulas are in :mod:`npml.ops.stats`.

    Examples
    --------
    >>> rs = RunningStats()
    >>> for chunk in np.array_split(np.arange(10.0), 3):
    ...     _ = rs.update(chunk)  # update returns rs, so calls can be chained
    >>> rs.count, rs.mean, rs.variance()
    (10, 4.5, 8.25)
    """

    def __init__(self) -> None:
        self._count = 0
        self._shape: tuple[int, ...] | None = None  # shape of one sample, set by the first batch
        self._mean = np.zeros(0)  # (D,) with D = prod(sample shape)
        self._m2 = np.zeros(0)  # (D,)

    def update(self, batch: np.ndarray) -> RunningStats:
        """Fold in a batch of samples stacked along axis 0; return ``self``.

        Parameters
        ----------
        batch : array_like, shape (n, ...) or ()
            ``n`` samples (a 1-D batch is ``n`` scalars; a 0-d value is one scalar).
        """
        x = check_array(batch, "batch", finite=False)
        if not np.isfinite(x).all():
            n_bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(f"batch contains {n_bad} NaN or infinity value(s); expected finite")
        x = x.reshape(1) if x.ndim == 0 else x
        self._check_shape(x.shape[1:], "batch samples")
        x2 = np.ascontiguousarray(x, dtype=np.float64).reshape(
            x.shape[0], self._mean.size
        )  # (n, D)
        lanes = max(1, _LANES // max(x2.shape[1], 1))  # samples summarised side by side
        mean, m2 = _welford_kernel(x2, lanes)
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            raise ValueError(
                f"the sum of squared deviations of batch overflows float64 (|batch| reaches "
                f"{np.max(np.abs(x2)):g}); rescale the data"
            )
        self._count, self._mean, self._m2 = _chan_merge(
            self._count, self._mean, self._m2, x2.shape[0], mean, m2
        )
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold in the summary of another stream (Chan et al.'s formula); return ``self``."""
        if not isinstance(other, RunningStats):
            raise TypeError(f"other has type {type(other).__name__}; expected RunningStats")
        if other._shape is not None:
            self._check_shape(other._shape, "other's samples")
            merged = _chan_merge(
                self._count, self._mean, self._m2, other._count, other._mean, other._m2
            )
            self._count, self._mean, self._m2 = merged
        return self

    def _check_shape(self, shape: tuple[int, ...], what: str) -> None:
        if self._shape is None:
            self._shape = tuple(shape)
            self._mean = np.zeros(int(np.prod(shape)))
            self._m2 = np.zeros_like(self._mean)
        elif tuple(shape) != self._shape:
            raise ValueError(f"{what} have shape {tuple(shape)}; expected {self._shape} as before")

    @property
    def count(self) -> int:
        """Number of samples seen."""
        return self._count

    def _out(self, v: np.ndarray) -> np.ndarray | float:
        return float(v[0]) if self._shape == () else v.reshape(self._shape)

    @property
    def mean(self) -> np.ndarray | float:
        """Mean of the samples: a float for scalar samples, else an array of the sample shape."""
        if self._count == 0:
            raise ValueError("RunningStats has seen no samples yet; call update(batch) first")
        return self._out(self._mean.copy())

    def variance(self, ddof: int = 0) -> np.ndarray | float:
        """Variance :math:`M_2 / (n - \\text{ddof})` of the samples seen."""
        _check_ddof(ddof, self._count, "RunningStats")
        return self._out(self._m2 / (self._count - ddof))

    def std(self, ddof: int = 0) -> np.ndarray | float:
        """Standard deviation: the square root of :meth:`variance`."""
        v = self.variance(ddof)
        return float(np.sqrt(v)) if isinstance(v, float) else np.sqrt(v)

    def __repr__(self) -> str:
        shape = "unset" if self._shape is None else self._shape
        return f"RunningStats(count={self._count}, sample_shape={shape})"
