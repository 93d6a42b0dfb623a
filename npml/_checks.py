"""Input validation and random-number handling shared by all of npml.

Every public function validates its input here, so that a user error is reported as a
``ValueError`` or ``TypeError`` that names the argument, the value it got and what was
expected, instead of surfacing later as a NaN or a shape error deep inside a kernel.

This module imports nothing of npml but :mod:`npml.exceptions`, which imports nothing (it is
the ground floor).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from npml.exceptions import NotFittedError, sklearn_flavoured


def as_rng(rng: None | int | np.integer | np.random.Generator = None) -> np.random.Generator:
    """Turn ``rng`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        ``None`` gives a freshly seeded generator (from OS entropy), an int seeds a new
        PCG64 generator, and a Generator is returned as is (so that a caller can thread one
        generator through several calls). NumPy's global random state is never used.

    Returns
    -------
    numpy.random.Generator
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError(f"rng={rng!r} is a bool; expected None, an int seed or a Generator")
    if isinstance(rng, (numbers.Integral, np.integer)):
        if rng < 0:
            raise ValueError(f"rng={rng} is negative; expected a seed >= 0")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng={rng!r} of type {type(rng).__name__}; expected None, an int seed or a "
        "numpy.random.Generator"
    )


def _short(value: Any) -> str:
    """A short text for a value in an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TRUSTED = contextvars.ContextVar("npml_trusted_inputs", default=False)


@contextlib.contextmanager
def trusted_inputs() -> Iterator[None]:
    """Skip the finiteness scans of nested ``check_array`` calls inside this block.

    A composite module (a transformer layer, a model) validates its own input once, in its
    public ``forward``, then runs its sub-layers inside this block: their ``check_array``
    calls still convert and check types and shapes, which costs nothing measurable, but no
    longer scan every activation for NaN, which costs a pass over memory per layer. A layer
    called directly, outside any such block, scans its input as always.
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    dtype: str | type | None = "float",
    finite: bool = True,
    min_size: int = 0,
    copy: bool = False,
    object_as_number: bool = False,
) -> np.ndarray:
    """Convert ``x`` to an ndarray and check it.

    Parameters
    ----------
    x : array_like
        The value to check.
    name : str
        The argument's name, used in error messages.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    dtype : {"float", "int", "bool", None} or numpy dtype, default "float"
        ``"float"`` keeps float32/float64 and converts integers and bools to float64;
        ``"int"`` requires integers; a NumPy dtype converts to it; ``None`` keeps the input's.
        Complex input is refused for ``"float"`` and every real NumPy dtype (``ValueError``
        starting "Complex data not supported", as scikit-learn words it) rather than cast
        with the imaginary part dropped.
    finite : bool, default True
        Raise if a float (or complex) array holds NaN or infinity.
    min_size : int, default 0
        Minimum number of elements.
    copy : bool, default False
        Return a copy even when no conversion was needed.
    object_as_number : bool, default False
        Convert an object array to ``dtype`` (float64 for ``"float"``) instead of refusing
        it, as scikit-learn's ``check_array`` does for estimators' data (a ``TypeError``
        if an element is not a number). Off elsewhere: a layer given objects is a bug.

    Returns
    -------
    ndarray
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name}={_short(x)}; expected an array of numbers")
    try:
        arr = np.array(x, copy=copy) if copy else np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be converted to an array: {err}") from None
    if arr.dtype == object and object_as_number and dtype is not None:
        target = np.float64 if dtype == "float" else np.int64 if dtype == "int" else dtype
        try:
            arr = arr.astype(target)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} has dtype object and could not be converted to numbers: {err}"
            ) from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers")
    if arr.dtype.kind == "c" and _is_real_target(dtype):
        # One rule for every float target: casting would drop the imaginary part with only a
        # ComplexWarning. The wording is the one scikit-learn's estimator checks look for.
        raise ValueError(
            f"Complex data not supported: {name} has dtype {arr.dtype}; expected real numbers"
        )
    if dtype == "float":
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    elif dtype == "int":
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and arr.size and np.all(np.mod(arr, 1) == 0):
                arr = arr.astype(np.int64)
            elif arr.size == 0:
                arr = arr.astype(np.int64)
            else:
                raise TypeError(f"{name} has dtype {arr.dtype}; expected integers")
    elif dtype == "bool":
        if arr.dtype != np.bool_:
            raise TypeError(f"{name} has dtype {arr.dtype}; expected a boolean array")
    elif dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} has ndim={arr.ndim} (shape {arr.shape}); expected {want}")
    if arr.size < min_size:
        raise ValueError(f"{name} has {arr.size} elements; expected at least {min_size}")
    if finite and arr.dtype.kind in "fc" and not _TRUSTED.get() and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {n_bad} non-finite value(s) (NaN or inf)")
    return arr


def _is_real_target(dtype: Any) -> bool:
    """Whether ``check_array``'s ``dtype`` is ``"float"`` or a real NumPy dtype (float, int,
    bool), into which a complex array would be cast by dropping its imaginary part."""
    if isinstance(dtype, str) and dtype in ("float", "int", "bool"):
        return dtype == "float"  # "int" and "bool" reject complex with their own TypeError
    if dtype is None:
        return False
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:
        return False


def check_bool(value: Any, name: str) -> bool:
    """Check that a flag is a bool (or ``np.bool_``) and return it as a Python bool.

    ``check_bool("no", "causal")`` raises ``TypeError``: a non-empty string (or a number,
    or an array) would otherwise be silently truthy.

    Parameters
    ----------
    value : bool or numpy.bool_
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    bool
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name}={_short(value)} of type {type(value).__name__}; expected True or False"
        )
    return bool(value)


def check_dout(dout: Any, shape: tuple[int, ...], name: str = "dout") -> np.ndarray:
    """Check an upstream gradient against the forward output's shape; return it as an array.

    Shape-only (no finiteness scan), so a backward pass pays nothing measurable for it. A
    ``dout`` of the right size but another shape (a permutation, a broadcastable shape) would
    otherwise give wrong-shaped or scrambled gradients without a word.
    """
    if not isinstance(dout, np.ndarray):
        if isinstance(dout, (str, bytes)) or dout is None:
            raise TypeError(f"{name}={_short(dout)}; expected an array of shape {shape}")
        dout = np.asarray(dout)
    if dout.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {dout.shape}; expected {tuple(shape)} (the forward output's)"
        )
    if dout.dtype.kind not in "fiu":
        raise TypeError(f"{name} has dtype {dout.dtype}; expected real numbers")
    return dout


def check_finite(x: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if the float array ``x`` holds NaN or infinity."""
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        n_bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains {n_bad} non-finite value(s) (NaN or inf)")


def check_same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same first dimension."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} has {a.shape[0]} rows but {b_name} has {b.shape[0]}; expected the same"
        )


def check_last_dim(x: np.ndarray, name: str, size: int) -> None:
    """Raise ``ValueError`` unless ``x.shape[-1] == size``."""
    if x.ndim == 0 or x.shape[-1] != size:
        raise ValueError(f"{name} has shape {x.shape}; expected last dimension {size}")


def check_scalar(
    value: Any,
    name: str,
    *,
    kind: type | tuple[type, ...] = numbers.Real,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Any:
    """Check a scalar hyperparameter's type and range; return it.

    ``check_scalar(lr, "lr", low=0)`` raises ``ValueError("lr=-1 is out of range; expected
    lr >= 0")``. Bools are rejected where numbers are expected.
    """
    # `int` and `float` mean the abstract kinds, so NumPy scalars (np.int64(3)) are accepted.
    kind = numbers.Integral if kind is int else numbers.Real if kind is float else kind
    # Fast path for plain Python ints and floats (a generated token calls this about 50
    # times; the abstract-base-class checks below cost about a microsecond each).
    t = type(value)
    plain = (t is int and kind in (numbers.Integral, numbers.Real)) or (
        t is float and kind is numbers.Real
    )
    if not plain:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
            expected = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise TypeError(f"{name}={value!r} of type {type(value).__name__}; expected {expected}")
    if (t is float and not math.isfinite(value)) or (
        not plain and isinstance(value, numbers.Real) and not np.isfinite(value)
    ):
        raise ValueError(f"{name}={value!r} is not finite")
    bad_low = low is not None and (value < low if low_inclusive else value <= low)
    bad_high = high is not None and (value > high if high_inclusive else value >= high)
    if bad_low or bad_high:
        parts = []
        if low is not None:
            parts.append(f"{name} {'>=' if low_inclusive else '>'} {low}")
        if high is not None:
            parts.append(f"{name} {'<=' if high_inclusive else '<'} {high}")
        raise ValueError(f"{name}={value!r} is out of range; expected {' and '.join(parts)}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``; return it."""
    if value not in choices:
        raise ValueError(f"{name}={value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_is_fitted(estimator: Any, attribute: str) -> None:
    """Raise :class:`npml.exceptions.NotFittedError` if an estimator has not been fitted.

    ``attribute`` is a learned attribute (ending in ``_``) that ``fit`` sets. The error is a
    ``ValueError``, an ``AttributeError`` (as scikit-learn's) and a ``RuntimeError`` (as
    npml's before it had its own class).
    """
    if not hasattr(estimator, attribute):
        raise sklearn_flavoured(NotFittedError)(
            f"this {type(estimator).__name__} is not fitted yet; call fit(X, y) before using it"
        )
