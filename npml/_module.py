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
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


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

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values from ``state`` into the parameters (in place).

        Raises ``ValueError`` naming the missing, unexpected or misshapen entries.
        """
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(
                f"state does not match {type(self).__name__}: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(
                    f"state[{name!r}] has shape {value.shape}; expected {p.data.shape}"
                )
        for name, p in params.items():
            p.data[...] = state[name]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to ``path`` as ``.npz`` (atomically: temp file, then rename)."""
        save_npz(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load parameters written by :meth:`save` (``allow_pickle=False``)."""
        self.load_state_dict(load_npz(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_params={self.n_params()})"


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically.

    The file is written to a temporary file in the same directory and renamed into place,
    so a crash never leaves a half-written file under ``path``.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path={str(path)!r}; expected a file name ending in .npz")
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"arrays[{key!r}] has dtype object; only numeric arrays are saved")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file with ``allow_pickle=False``."""
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
