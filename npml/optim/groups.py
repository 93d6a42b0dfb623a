"""Split a model's parameters into a weight-decayed group and a no-decay group.

Weight decay pulls weights toward zero, :math:`\\theta \\leftarrow (1 - \\eta\\lambda)\\theta`
in AdamW. That is a useful prior for weight matrices, whose scale the following layers can
absorb, but not for parameters that *set* a scale or an offset: shrinking a bias or a
LayerNorm gain only moves the network away from what the data asks for. The usual recipe
(GPT-2/nanoGPT, BERT, the AdamW paper's own experiments) therefore decays the weight
matrices only.

The rule is not guessed from names: the layer that creates a :class:`~npml.nn.Parameter`
says whether it decays (``Parameter(data, decay=...)``; by default a parameter with two or
more axes decays and a vector does not). npml's layers decay their weight matrices and
nothing else: biases, normalisation gains and shifts, and embedding tables (token and
learned positional) are created with ``decay=False``. A tied output projection *is* the
embedding table, so it follows the embedding rule.

nanoGPT decays every parameter with two or more axes, embeddings included; pass
``decay_embeddings=True`` for that choice (embedding tables are marked
``Parameter(..., embedding=True)``). npml's default leaves them out, as BERT and
Hugging Face's recipes do: a token's row is only updated when the token occurs, so decay
shrinks rare tokens' rows toward zero between their occurrences.
"""

from __future__ import annotations

from typing import Any

from npml._checks import check_bool, check_scalar
from npml._module import Module


def decay_groups(
    model: Module, weight_decay: float, decay_embeddings: bool = False
) -> list[dict[str, Any]]:
    """Two parameter groups for an optimizer: decayed weights and the rest.

    Parameters
    ----------
    model : Module
        Its ``named_parameters()`` are split by each parameter's ``decay`` attribute
        (shared parameters appear once).
    weight_decay : float
        :math:`\\lambda >= 0` for the decayed group.
    decay_embeddings : bool, default False
        Also decay embedding tables (nanoGPT's choice; see the module docstring).

    Returns
    -------
    list of dict
        ``[{"params": decayed, "weight_decay": weight_decay},
        {"params": not_decayed, "weight_decay": 0.0}]``; the params are ``(name, Parameter)``
        pairs, so the optimizer reports errors by name. A group may be empty.

    Examples
    --------
    >>> import numpy as np
    >>> import npml
    >>> class Affine(npml.nn.Module):
    ...     def __init__(self):
    ...         self.W = npml.nn.Parameter(np.zeros((2, 2)))
    ...         self.b = npml.nn.Parameter(np.zeros(2))
    >>> [[n for n, _ in g["params"]] for g in decay_groups(Affine(), 0.1)]
    [['W'], ['b']]
    """
    if not isinstance(model, Module):
        raise TypeError(f"model is a {type(model).__name__}; expected an npml.nn.Module")
    weight_decay = float(check_scalar(weight_decay, "weight_decay", low=0.0))
    decay_embeddings = check_bool(decay_embeddings, "decay_embeddings")
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        decayed = p.decay or (decay_embeddings and p.embedding)
        (decay if decayed else no_decay).append((name, p))
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
