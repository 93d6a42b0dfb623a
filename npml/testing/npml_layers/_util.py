"""Small helpers the entries share: random arrays of a dtype, and torch as an oracle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def randn(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, scale: float = 1.0):
    """``scale * N(0, 1)`` of ``shape``, cast to ``dtype``."""
    return (scale * rng.standard_normal(shape)).astype(dtype)


def torch_oracle(
    fn: Callable[..., Any], arrays: Mapping[str, np.ndarray], dout: Any, **const: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output of ``fn(**tensors, **const)`` in torch and the gradients of ``arrays`` for ``dout``.

    ``arrays`` become leaf tensors that require gradients; ``const`` values are passed as
    they are (convert them yourself). torch is imported here, so only a caller that has
    checked it is installed (``pytest.importorskip("torch")``) gets here.
    """
    import torch

    leaves = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in arrays.items()}
    out = fn(**leaves, **const)
    out.backward(torch.as_tensor(np.asarray(dout), dtype=out.dtype))
    return out.detach().numpy(), {k: t.grad.numpy() for k, t in leaves.items()}


def tensor(a: Any) -> Any:
    """A torch tensor of ``a`` (no gradient), or None."""
    import torch

    return None if a is None else torch.as_tensor(np.asarray(a))


def backward_before_forward(make):
    """The ErrorInput of a module whose backward is called before any forward."""
    from npml.testing._registry import ErrorInput

    return ErrorInput("forward", lambda: make().backward(np.ones((1, 1))), RuntimeError)
