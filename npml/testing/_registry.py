"""One registry of layers, after torch's ``OpInfo``: each layer says once how it is tested.

A layer (a functional forward/backward pair, or a :class:`~npml.Module`) registers a
:class:`LayerInfo`: how to call it, sample inputs that include the awkward shapes (``T = 1``,
odd sizes, batch and head axes, masks), the dtypes it keeps, an oracle from a trusted library
where one exists, the bad inputs it must refuse, and the plain-NumPy twin of a Numba kernel.
The generic checks of :mod:`npml.testing.checks` (gradients by centred differences,
dtype preservation, oracle and twin agreement, refused inputs and ``dout`` shapes) then run on
every registered layer, so a new layer gets all of them by adding one entry.

Your own layer joins the same way::

    import numpy as np
    from npml.testing import LayerInfo, Sample, register

    def scale_samples(rng, dtype):
        for shape in [(1,), (2, 3)]:
            x = rng.standard_normal(shape).astype(dtype)
            yield Sample({"x": x, "s": np.asarray(2.0, dtype)}, desc=f"x{shape}")

    register(LayerInfo(
        "scale",
        forward=lambda x, s: (x * s, (x, s)),                 # -> (out, cache)
        backward=lambda dout, c: (dout * c[1], np.sum(dout * c[0])),
        grad_names=("x", "s"),                                # what backward returns, in order
        samples=scale_samples,
    ))

and ``pytest.mark.parametrize("info", registered())`` runs the checks over it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Oracle = Callable[["Sample", Any], "tuple[Any, Mapping[str, np.ndarray]] | None"]


@dataclass(frozen=True)
class Sample:
    """One call of a layer.

    Attributes
    ----------
    kwargs : mapping of str to object
        Keyword arguments of the forward pass. The arrays named in the entry's ``grad_names``
        are differentiated (the gradient check perturbs them in place); everything else (ids,
        masks, flags, hyperparameters) is passed as it is.
    desc : str
        A short description (the test id), e.g. ``"T=1"`` or ``"causal, padding mask"``.
    module : Module, optional
        For module entries: the instance whose ``forward`` is called; its parameters are
        differentiated too, under their dotted names.
    zero_grads : frozenset of str
        Inputs or parameters whose true gradient is exactly zero here (``b_k`` of attention:
        softmax ignores a constant added to a score row); they are compared absolutely.
    """

    kwargs: Mapping[str, Any]
    desc: str = ""
    module: Any = None
    zero_grads: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ErrorInput:
    """A call that must raise ``error`` with a message naming ``arg``.

    Attributes
    ----------
    arg : str
        The argument the message must name (as a word).
    call : callable
        Called without arguments; it must raise.
    error : type of Exception
    match : str, optional
        A regular expression the message must also match.
    desc : str
    """

    arg: str
    call: Callable[[], Any]
    error: type[Exception] = ValueError
    match: str | None = None
    desc: str = ""


def _no_errors(rng: np.random.Generator, dtype: Any) -> Iterable[ErrorInput]:
    return ()


@dataclass(frozen=True)
class LayerInfo:
    """What the generic checks need to know about one layer.

    Attributes
    ----------
    name : str
        Unique name of the entry (the test id).
    forward : callable
        Functional entries: ``forward(**sample.kwargs) -> (out, cache)``. Module entries
        (``module=True``): ``forward(module, **sample.kwargs) -> out``; defaults to
        ``module.forward(**kwargs)``.
    backward : callable
        Functional entries: ``backward(dout, cache)``; module entries ``backward(module,
        dout)``; defaults to ``module.backward(dout)``. Returns the gradients named by
        ``grad_names``: one array, a tuple (or NamedTuple) in that order, or None when
        ``grad_names`` is empty (a module whose input gets no gradient).
    grad_names : tuple of str
        The forward's argument names that ``backward`` returns gradients for, in order. A
        gradient is None exactly when its argument was None (a left-out bias).
    samples : callable
        ``samples(rng, dtype)`` yields :class:`Sample` s in that float dtype (modules built
        with ``dtype=dtype``). Keep them small: float64 samples are gradient-checked entry by
        entry.
    module : bool, default False
        Whether this is a module entry (samples carry ``module``).
    dtypes : tuple of dtype
        Float dtypes the layer keeps: input of dtype ``d`` gives output and gradients of ``d``.
    oracle : callable, optional
        ``oracle(sample, dout) -> (out, {name: grad})`` computed by a trusted library (torch;
        import it inside); returns None for a sample it cannot express.
    oracle_tol : float
        Absolute and relative tolerance of the float64 oracle comparison.
    error_inputs : callable
        ``error_inputs(rng, dtype)`` yields :class:`ErrorInput` s the layer must refuse.
    checked_inputs : tuple of str
        Float array arguments the forward validates: NaN, complex and string values in them
        must raise an error naming them (built by the checks from the first sample).
    flags : tuple of str
        Boolean arguments of the forward: a non-bool (``"no"``, ``1``, ``None``) must raise
        ``TypeError`` naming them; a ``numpy.bool_`` must be accepted.
    scalar_output : bool, default False
        The output is a scalar (a loss): its ``dout`` is a float, with no wrong shapes to try.
    dout_name : str, default "dout"
        The name the backward gives its upstream gradient (``dy``, ``dlogits``); a ``dout``
        of the wrong shape must raise a ``ValueError`` whose message starts with it and shows
        the shape given.
    checks_dout : bool, default True
        False records a known gap: the backward does not check its ``dout`` yet, and the
        wrong-shape check is not run on this entry.
    twin : callable, optional
        ``twin(sample, dout) -> (out, {name: grad})`` by the plain-NumPy twin of a Numba
        kernel, compared with the public function on ``twin_samples``.
    twin_samples : callable, optional
        Like ``samples``, but large enough to take the kernel path; default ``samples``.
    twin_tol : mapping of dtype to float
        Tolerance of the twin comparison per dtype.
    covers : tuple of str
        Public names (of ``npml.nn.__all__``, ``npml.models.__all__``) this entry tests.
    """

    name: str
    forward: Callable[..., Any] | None
    backward: Callable[..., Any] | None
    grad_names: tuple[str, ...]
    samples: Callable[[np.random.Generator, Any], Iterable[Sample]]
    module: bool = False
    dtypes: tuple[Any, ...] = (np.float32, np.float64)
    oracle: Oracle | None = None
    oracle_tol: float = 1e-10
    error_inputs: Callable[[np.random.Generator, Any], Iterable[ErrorInput]] = _no_errors
    checked_inputs: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    scalar_output: bool = False
    dout_name: str = "dout"
    checks_dout: bool = True
    twin: Oracle | None = None
    twin_samples: Callable[[np.random.Generator, Any], Iterable[Sample]] | None = None
    twin_tol: Mapping[Any, float] = field(
        default_factory=lambda: {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
    )
    covers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name={self.name!r}; expected a non-empty str")
        if not callable(self.samples):
            raise TypeError(f"samples={self.samples!r} of {self.name!r} is not callable")
        if not self.module and not (callable(self.forward) and callable(self.backward)):
            raise TypeError(f"{self.name!r}: a functional entry needs callable forward/backward")
        if isinstance(self.grad_names, str):
            raise TypeError(f"grad_names={self.grad_names!r} is a str; expected a tuple of str")

    def __repr__(self) -> str:  # short: it is the test id's source
        return f"LayerInfo({self.name!r})"


_REGISTRY: dict[str, LayerInfo] = {}


def register(info: LayerInfo) -> LayerInfo:
    """Add ``info`` to the registry and return it; a second entry of the same name raises.

    The generic checks (:mod:`npml.testing.checks`) then run on it wherever a test
    parametrizes over :func:`registered`. The module docstring of
    :mod:`npml.testing._registry` shows a whole entry for a layer of your own.

    Parameters
    ----------
    info : LayerInfo

    Returns
    -------
    LayerInfo
        ``info`` itself, so ``register`` can be used as an expression.

    Raises
    ------
    TypeError
        If ``info`` is not a :class:`LayerInfo`.
    ValueError
        If an entry of the same name is already registered.

    Examples
    --------
    >>> from npml.testing import LayerInfo, Sample, registered
    >>> def samples(rng, dtype):
    ...     yield Sample({"x": rng.standard_normal(3).astype(dtype)}, desc="x(3,)")
    >>> info = register(LayerInfo(
    ...     "doc_example_double", forward=lambda x: (2 * x, None),
    ...     backward=lambda dout, cache: 2 * dout, grad_names=("x",), samples=samples))
    >>> info in registered()
    True
    >>> _ = _REGISTRY.pop("doc_example_double")   # leave the registry as it was
    """
    if not isinstance(info, LayerInfo):
        raise TypeError(f"info of type {type(info).__name__}; expected a LayerInfo")
    if info.name in _REGISTRY:
        raise ValueError(f"a layer named {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def registered() -> tuple[LayerInfo, ...]:
    """Every registered :class:`LayerInfo`, in registration order.

    npml's own layers are registered by importing :mod:`npml.testing.npml_layers`.

    Returns
    -------
    tuple of LayerInfo
        Use it as ``pytest.mark.parametrize("info", registered())``.

    Examples
    --------
    >>> import npml.testing.npml_layers
    >>> names = [info.name for info in registered()]
    >>> "linear" in names and len(names) > 10
    True
    """
    return tuple(_REGISTRY.values())
