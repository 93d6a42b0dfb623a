"""Parameters and the thin ``Module`` base class: the ground floor of ``nn`` and ``optim``.

A layer's mathematics lives in pure functions (``linear_forward`` / ``linear_backward``);
a ``Module`` only owns its :class:`Parameter` objects, calls the functional pair and keeps
the cache of its last forward pass so that ``backward`` can use it. Nothing here records
operations: backward passes are written by hand, layer by layer.

Parameters are found by walking attributes: a ``Parameter`` attribute is a parameter of the
module, a ``Module`` attribute (or a list/tuple of them) is a child, and names are dotted
paths such as ``"blocks.0.attn.W_q"``. As in torch, ``parameters()`` yields the parameters,
``named_parameters()`` yields ``(dotted_name, parameter)`` pairs, ``children()`` the direct
sub-modules and ``modules()`` the whole tree.

Caches hold references, not copies: a layer's cache keeps the arrays its forward pass was
given (``x``, the weights), so overwriting an input in place between ``forward`` and
``backward`` changes the gradients. torch has the same contract and detects a violation with
version counters; npml documents it in each forward's docstring.

This module imports nothing of npml above ``_checks`` (it is the ground floor): ``npml.nn``
re-exports it, and ``npml.optim`` stands on it without importing ``npml.nn``.

Subclassing
-----------
A layer subclasses :class:`Module`, creates its :class:`Parameter` attributes in
``__init__``, and defines ``forward(x)`` (returning the output and keeping the cache it
needs) and ``backward(dout)`` (accumulating each parameter's gradient with
:meth:`Parameter.accumulate` and returning the gradient of the input)::

    class Scale(Module):
        def __init__(self, d):
            self.gamma = Parameter(np.ones(d), decay=False)

        def forward(self, x):
            self._x = x
            return x * self.gamma.data

        def backward(self, dout):
            self.gamma.accumulate((dout * self._x).reshape(-1, dout.shape[-1]).sum(0))
            return dout * self.gamma.data
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from npml._checks import check_bool
from npml._npz import load_npz, save_npz


class Parameter:
    """A trainable array and the gradient accumulated for it.

    Parameters
    ----------
    data : ndarray
        The value; kept as given (no copy), so an optimizer updates it in place.
    decay : bool, optional
        Whether weight decay applies to this parameter (read by
        :func:`npml.optim.decay_groups`). The layer that creates a parameter says so; the
        default is ``data.ndim >= 2`` (weight matrices decay; biases and normalisation
        gains, which are vectors, do not).
    embedding : bool, default False
        Marks an embedding table. Embedding layers create theirs with ``decay=False,
        embedding=True``, so that ``decay_groups(..., decay_embeddings=True)`` (nanoGPT's
        choice) can decay them after all.

    Attributes
    ----------
    data : ndarray
        The parameter's value.
    grad : ndarray or None
        Gradient of the loss with respect to ``data``, same shape; ``None`` until a backward
        pass writes it. Backward passes *accumulate* (``+=``) so that a parameter used twice
        (tied embeddings) receives both contributions; call ``zero_grad`` between steps.
    decay, embedding : bool
        As given (``decay`` resolved from the default).
    """

    __slots__ = ("data", "grad", "decay", "embedding")

    def __init__(
        self, data: np.ndarray, decay: bool | None = None, embedding: bool = False
    ) -> None:
        data = np.asarray(data)
        if data.dtype.kind != "f":
            raise TypeError(f"Parameter data has dtype {data.dtype}; expected a float array")
        if decay is not None and not isinstance(decay, (bool, np.bool_)):
            raise TypeError(f"decay={decay!r}; expected True, False or None")
        if not isinstance(embedding, (bool, np.bool_)):
            raise TypeError(f"embedding={embedding!r}; expected True or False")
        self.data = data
        self.grad: np.ndarray | None = None
        self.decay = bool(data.ndim >= 2 and not embedding) if decay is None else bool(decay)
        self.embedding = bool(embedding)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def accumulate(self, g: np.ndarray) -> None:
        """Add ``g`` to ``grad`` (allocating it on first use)."""
        if g.shape != self.data.shape:
            raise ValueError(f"gradient of shape {g.shape} for a parameter of shape {self.shape}")
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype)
        else:
            self.grad += g

    def zero_grad(self) -> None:
        """Reset the gradient to zeros of the parameter's shape."""
        if self.grad is None:
            self.grad = np.zeros_like(self.data)
        else:
            self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}, decay={self.decay})"


class Module:
    """Base class of npml layers: parameter discovery, gradients, (de)serialisation, repr.

    A module owns its parameters and children as plain attributes and runs a hand-written
    forward and backward pass; nothing is recorded, so ``backward`` must be called with the
    gradient of the output of the *last* ``forward``. To write one:

    * ``__init__`` stores each trainable array as a :class:`Parameter` attribute
      (``self.W = Parameter(...)``) and each sub-module as a :class:`Module` attribute, or a
      list or tuple of them (``self.blocks = [Block(...), ...]``, named ``blocks.0``, ...).
      There is no ``super().__init__()`` to call.
    * ``forward(x, ...)`` returns the output and keeps what the backward pass needs (a
      NamedTuple cache, as the functional pairs of :mod:`npml.nn` return).
    * ``backward(dout)`` adds each parameter's gradient with :meth:`Parameter.accumulate`
      (gradients accumulate until :meth:`zero_grad`) and returns the gradient of the input
      (a tuple when there are several inputs).

    Everything else comes from the attributes: :meth:`parameters`,
    :meth:`named_parameters` (dotted names), :meth:`children`, :meth:`modules`,
    :meth:`state_dict` / :meth:`load_state_dict`, :meth:`save` / :meth:`load`,
    :meth:`train` / :meth:`eval`, and the torch-style ``repr``: the class name with the
    configuration returned by :meth:`extra_repr` (by default the constructor's arguments,
    which :class:`Module` records when a subclass's ``__init__`` runs; ``rng`` is left out)
    and the tree of children below it. The derivation of each layer is in its own module's
    docstring; the contract of caches is in this module's docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from npml.nn import Module, Parameter
    >>> class Scale(Module):
    ...     def __init__(self, d, init=1.0):
    ...         self.gamma = Parameter(np.full(d, init), decay=False)
    ...
    ...     def forward(self, x):
    ...         self._x = x                                  # cache for backward
    ...         return x * self.gamma.data
    ...
    ...     def backward(self, dout):
    ...         d = dout.shape[-1]
    ...         self.gamma.accumulate((dout * self._x).reshape(-1, d).sum(axis=0))
    ...         return dout * self.gamma.data                # dL/dx
    >>> layer = Scale(3, init=2.0)
    >>> layer
    Scale(d=3, init=2.0)
    >>> y = layer(np.ones((2, 3)))
    >>> dx = layer.backward(np.ones_like(y))
    >>> layer.gamma.grad
    array([2., 2., 2.])
    >>> [name for name, _ in layer.named_parameters()]
    ['gamma']
    """

    training: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Record the arguments each instance is built with, so that the default extra_repr
        # can show them (torch's Linear(in_features=.., ...) without per-class code). Only
        # the outermost __init__ records: a subclass calling super().__init__ keeps its own.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_npml_records_args", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Module, *args: Any, **kw: Any) -> None:
            if "_init_args" not in self.__dict__:
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError:
                    pass  # the call itself will raise the right error
                else:
                    bound.apply_defaults()
                    items = list(bound.arguments.items())[1:]  # drop self
                    self.__dict__["_init_args"] = _recorded_args(items, signature)
            init(self, *args, **kw)

        recording_init._npml_records_args = True  # type: ignore[attr-defined]
        cls.__init__ = recording_init  # type: ignore[method-assign,assignment]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Subclasses define forward (and backward); calling a module runs its forward pass.
        return self.forward(*args, **kwargs)  # type: ignore[attr-defined]

    # -- traversal -------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, child)`` for the direct sub-modules (list items as ``name.i``)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> Iterator[Module]:
        """Yield the direct sub-modules."""
        for _, child in self.named_children():
            yield child

    def parameters(self) -> Iterator[Parameter]:
        """Yield every parameter of this module and its descendants, each once."""
        for _, p in self.named_parameters():
            yield p

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted_name, Parameter)`` for this module and its children, each once.

        A parameter shared by two modules (tied embeddings) appears once, under the first
        name met in attribute order.
        """
        seen: set[int] = set()
        for name, p in self._named_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._named_parameters(f"{prefix}{name}.")

    def modules(self) -> Iterator[Module]:
        """Yield this module and all its descendants."""
        yield self
        for child in self.children():
            yield from child.modules()

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zeros."""
        for p in self.parameters():
            p.zero_grad()

    def n_params(self) -> int:
        """Total number of scalar parameters (shared parameters counted once)."""
        return sum(p.size for p in self.parameters())

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and its children."""
        mode = check_bool(mode, "mode")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off)."""
        return self.train(False)

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameter values, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy values from ``state`` into the parameters (in place), all or nothing.

        Every entry is checked before any parameter is written, so a failed load leaves the
        module as it was.

        Raises
        ------
        TypeError
            If ``state`` is not a mapping, or an entry is not real numbers (strings,
            objects, booleans, complex).
        ValueError
            Naming the missing, unexpected or misshapen entries, and entries holding NaN
            or infinity or values too large for the parameter's dtype (``1e300`` into a
            float32 parameter would become ``inf``).
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state of type {type(state).__name__}; expected a mapping of names to arrays"
            )
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(map(repr, set(state) - set(params)))
        if missing or unexpected:
            raise ValueError(
                f"state does not match {type(self).__name__}: missing {missing}, "
                f"unexpected [{', '.join(unexpected)}]"
            )
        values = {name: _checked_value(state[name], name, p) for name, p in params.items()}
        for name, p in params.items():  # every entry is valid: now assign
            p.data[...] = values[name]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to ``path`` as ``.npz`` (atomically: temp file, then rename)."""
        save_npz(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load parameters written by :meth:`save` (``allow_pickle=False``)."""
        self.load_state_dict(load_npz(path))

    # -- repr ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The configuration shown in ``repr`` between the class name's parentheses.

        The default lists the arguments the instance was constructed with (defaults
        included, ``rng`` and ``*args``/``**kwargs`` left out) as ``name=value``; arrays show
        their shape and dtype, NumPy scalar types their name (``dtype=float32``). Override
        it to show something else; return ``""`` to show nothing.

        Returns
        -------
        str
            E.g. ``"d_in=64, d_out=256, bias=True, dtype=float32"``.
        """
        return self._config_repr()

    def _config_repr(self, **resolved: Any) -> str:
        """The default :meth:`extra_repr`, with some recorded arguments replaced by the
        values they resolved to (``d_ff=None`` shown as the width actually built)."""
        args = self.__dict__.get("_init_args", ())
        return ", ".join(
            f"{name}={_format_value(resolved.get(name, value))}" for name, value in args
        )

    def __repr__(self) -> str:
        # torch's layout: Name(config) for a leaf; otherwise the config and one line per
        # child, "(name): repr(child)", indented by two spaces, a list shown as ModuleList.
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = []
        for name, value in vars(self).items():
            if isinstance(value, Module):
                children.append(f"({name}): {_indent(repr(value))}")
            elif isinstance(value, (list, tuple)) and any(isinstance(v, Module) for v in value):
                items = [
                    f"({i}): {_indent(repr(v))}"
                    for i, v in enumerate(value)
                    if isinstance(v, Module)
                ]
                listed = "ModuleList(\n  " + "\n  ".join(items) + "\n)"
                children.append(f"({name}): {_indent(listed)}")
        name = type(self).__name__
        if not children and len(lines) <= 1:
            return f"{name}({extra})"
        return name + "(\n  " + "\n  ".join(lines + children) + "\n)"


def _recorded_args(
    items: list[tuple[str, Any]], signature: inspect.Signature
) -> tuple[tuple[str, Any], ...]:
    """The constructor arguments worth showing: not ``rng``, not ``*args``/``**kwargs``."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return tuple(
        (name, value)
        for name, value in items
        if name != "rng" and signature.parameters[name].kind not in variadic
    )


def _format_value(value: Any) -> str:
    """``repr`` of a configuration value, short for arrays, dtypes and functions."""
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, type) and issubclass(value, np.generic) or isinstance(value, np.dtype):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return repr(value.item())
    if callable(value) and hasattr(value, "__name__") and not isinstance(value, type):
        return value.__name__
    return repr(value)


def _indent(text: str) -> str:
    """Indent every line of ``text`` but the first by two spaces (for nested reprs)."""
    return text.replace("\n", "\n  ")


def _checked_value(value: Any, name: str, p: Parameter) -> np.ndarray:
    """``state[name]`` as an array that can be written into ``p`` without loss of meaning."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"state[{name!r}] could not be converted to an array: {err}") from None
    if arr.shape != p.data.shape:
        raise ValueError(f"state[{name!r}] has shape {arr.shape}; expected {p.data.shape}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"state[{name!r}] has dtype {arr.dtype}; expected real numbers for a "
            f"{p.data.dtype} parameter"
        )
    if arr.size == 0:
        return arr
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"state[{name!r}] contains {n_bad} non-finite value(s) (NaN or inf)")
    largest = float(np.max(np.abs(arr)))  # exact enough: only compared with finfo.max
    limit = float(np.finfo(p.data.dtype).max)
    if largest > limit:
        raise ValueError(
            f"state[{name!r}] holds {largest:.3g}, beyond the largest {p.data.dtype} "
            f"({limit:.3g}); it would become inf in the parameter"
        )
    return arr
