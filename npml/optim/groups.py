"""Split a model's parameters into a weight-decayed group and a no-decay group.

Weight decay pulls weights toward zero, :math:`\\theta \\leftarrow (1 - \\eta\\lambda)\\theta`
in AdamW. That is a useful prior for weight matrices, whose scale the following layers can
absorb, but not for parameters that *set* a scale or an offset: shrinking a bias or a
LayerNorm gain only moves the network away from what the data asks for. The usual recipe
(GPT-2/nanoGPT, BERT, the AdamW paper's own experiments) therefore decays the weight
matrices only.

The rule used by :func:`decay_groups`, applied to each parameter's dotted name
(``"blocks.0.ln1.gamma"``) and to the modules that hold it:

* **biases** are not decayed: the name's last part is ``b``, ``bias`` or starts with ``b_``
  (``b_q``, ``b_1``);
* **normalisation gains and shifts** are not decayed: the last part is ``gamma`` or ``beta``,
  or the parameter belongs to a module whose class name ends in ``Norm``
  (``npml.nn.LayerNorm``);
* **embedding tables** are not decayed unless ``decay_embeddings=True``: the parameter belongs
  to an ``npml.nn.Embedding`` or ``npml.nn.LearnedPositionalEmbedding`` (checked with
  ``isinstance`` when npml.nn defines them), to any module whose class name ends in
  ``Embedding``, or a part of its dotted name contains ``emb`` (``tok_emb.W``, ``W_emb``).
  A tied output projection *is* the embedding table, so it follows the embedding rule;
* everything else is decayed.
"""

from __future__ import annotations

import importlib
from typing import Any

from npml._checks import check_scalar
from npml.nn.module import Module, Parameter


def _npml_classes(*names: str) -> tuple[type, ...]:
    """The npml.nn classes of these names that exist (imported lazily)."""
    nn = importlib.import_module("npml.nn")
    return tuple(getattr(nn, n) for n in names if isinstance(getattr(nn, n, None), type))


def _owners(model: Module) -> dict[int, list[Module]]:
    """Map ``id(parameter)`` to the modules that hold it as a direct attribute."""
    owners: dict[int, list[Module]] = {}
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, Parameter):
                owners.setdefault(id(value), []).append(module)
    return owners


def is_no_decay(name: str, owners: list[Module], decay_embeddings: bool = False) -> bool:
    """Whether the parameter called ``name`` held by ``owners`` escapes weight decay.

    See the module docstring for the rule.
    """
    parts = name.split(".")
    last = parts[-1]
    if last in ("b", "bias") or last.startswith("b_"):
        return True
    if last in ("gamma", "beta"):
        return True
    norms = _npml_classes("LayerNorm")
    if any(isinstance(m, norms) or type(m).__name__.endswith("Norm") for m in owners):
        return True
    if decay_embeddings:
        return False
    embeddings = _npml_classes("Embedding", "LearnedPositionalEmbedding")
    if any(isinstance(m, embeddings) or type(m).__name__.endswith("Embedding") for m in owners):
        return True
    return any("emb" in part.lower() for part in parts)


def decay_groups(
    model: Module, weight_decay: float, decay_embeddings: bool = False
) -> list[dict[str, Any]]:
    """Two parameter groups for an optimizer: decayed weights and the rest.

    Parameters
    ----------
    model : Module
        Its ``parameters()`` are split (shared parameters appear once).
    weight_decay : float
        :math:`\\lambda >= 0` for the decayed group.
    decay_embeddings : bool, default False
        Also decay embedding tables (see the module docstring).

    Returns
    -------
    list of dict
        ``[{"params": decayed, "weight_decay": weight_decay},
        {"params": not_decayed, "weight_decay": 0.0}]``; the params are ``(name, Parameter)``
        pairs, so the optimizer reports errors by name. A group may be empty.

    Examples
    --------
    >>> import numpy as np
    >>> from npml.nn import Module, Parameter
    >>> class Affine(Module):
    ...     def __init__(self):
    ...         self.W = Parameter(np.zeros((2, 2)))
    ...         self.b = Parameter(np.zeros(2))
    >>> [[n for n, _ in g["params"]] for g in decay_groups(Affine(), 0.1)]
    [['W'], ['b']]
    """
    if not isinstance(model, Module):
        raise TypeError(f"model is a {type(model).__name__}; expected an npml.nn.Module")
    weight_decay = float(check_scalar(weight_decay, "weight_decay", low=0.0))
    owners = _owners(model)
    decay, no_decay = [], []
    for name, p in model.parameters():
        bucket = no_decay if is_no_decay(name, owners.get(id(p), []), decay_embeddings) else decay
        bucket.append((name, p))
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
