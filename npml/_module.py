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
    """Base class of npml layers: parameter discovery, gradients and (de)serialisation."""

    training: bool = True

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_params={self.n_params()})"


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
