"""``repr`` of modules as torch's: the configuration, then the tree of children indented."""

import inspect

import numpy as np
import pytest

import npml.models
import npml.nn
import npml.preference
import npml.testing.npml_layers  # noqa: F401  (registers npml's layers)
from npml._module import Module, Parameter
from npml.models import CausalLM
from npml.nn import GELU, Dropout, FeedForward, LayerNorm, Linear, MultiHeadAttention, ReLU
from npml.testing import registered


def test_causal_lm_repr_is_the_config_and_the_tree_of_children():
    model = CausalLM(vocab_size=11, d_model=8, n_heads=2, n_layers=1, max_len=6, rng=0)
    layer = (
        "TransformerEncoderLayer(\n"
        "      d_model=8, n_heads=2, d_ff=32, dropout=0.0, norm_first=True, dtype=float32, "
        "activation='gelu', rope_base=10000.0, attn_impl='auto'\n"
        "      (self_attn): MultiHeadAttention(d_model=8, n_heads=2, bias=False, "
        "rope_base=10000.0, attn_impl='auto', dtype=float32)\n"
        "      (ffn): FeedForward(d_model=8, d_ff=32, bias=True, activation='gelu', "
        "dtype=float32)\n"
        "      (norm1): LayerNorm(d=8, eps=1e-05, dtype=float32)\n"
        "      (norm2): LayerNorm(d=8, eps=1e-05, dtype=float32)\n"
        "      (dropout1): Dropout(p=0.0)\n"
        "      (dropout2): Dropout(p=0.0)\n"
        "    )"
    )
    assert repr(model) == (
        "CausalLM(\n"
        "  vocab_size=11, d_model=8, n_heads=2, n_layers=1, max_len=6, positional='rope', "
        "tie_embeddings=True, d_ff=32, dropout=0.0, dtype=float32, rope_base=10000.0, "
        "activation='gelu', init_std=0.02, heads=None\n"
        "  (tok_emb): Embedding(n=11, d=8, dtype=float32, std=0.02)\n"
        "  (drop): Dropout(p=0.0)\n"
        "  (blocks): ModuleList(\n"
        f"    (0): {layer}\n"
        "  )\n"
        "  (norm_f): LayerNorm(d=8, eps=1e-05, dtype=float32)\n"
        ")"
    )


@pytest.mark.parametrize(
    "module, expected",
    [
        (Linear(64, 256, rng=0), "Linear(d_in=64, d_out=256, bias=True, dtype=float32)"),
        (
            Linear(3, 2, bias=False, dtype=np.float64, rng=0),
            "Linear(d_in=3, d_out=2, bias=False, dtype=float64)",
        ),
        (ReLU(), "ReLU()"),
        (  # d_ff=None shows the width built, 4 * d_model
            FeedForward(4, rng=0),
            "FeedForward(d_model=4, d_ff=16, bias=True, activation='relu', dtype=float32)",
        ),
        (GELU("tanh"), "GELU(approximate='tanh')"),
        (Dropout(0.1, rng=np.random.default_rng(0)), "Dropout(p=0.1)"),
        (LayerNorm(5, eps=1e-6), "LayerNorm(d=5, eps=1e-06, dtype=float32)"),
        (
            MultiHeadAttention(8, 2, rng=0),
            "MultiHeadAttention(d_model=8, n_heads=2, bias=False, rope_base=None, "
            "attn_impl='auto', dtype=float32)",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Module) else "",
)
def test_leaf_repr_shows_the_constructor_arguments(module, expected):
    assert repr(module) == expected


class _Leaf(Module):
    def __init__(self, d, scale=1.0, *, table=None, rng=None):
        self.W = Parameter(np.ones((d, d)))


class _Sub(_Leaf):
    def __init__(self, d, extra="x"):
        super().__init__(d, scale=2.0)  # the outer call's arguments are the ones shown


class _Custom(Module):
    def __init__(self, n):
        self.n = n
        self.parts = (_Leaf(1), _Leaf(2))
        self.head = _Leaf(3, table=np.zeros((2, 3)))

    def extra_repr(self):
        return f"n={self.n}, custom"


def test_default_extra_repr_reads_the_recorded_arguments():
    assert repr(_Leaf(2)) == "_Leaf(d=2, scale=1.0, table=None)"  # rng left out
    assert repr(_Sub(4)) == "_Sub(d=4, extra='x')"
    assert _Leaf(2, 0.5).extra_repr() == "d=2, scale=0.5, table=None"


def test_extra_repr_override_and_nested_lists_of_children():
    assert repr(_Custom(7)) == (
        "_Custom(\n"
        "  n=7, custom\n"
        "  (parts): ModuleList(\n"
        "    (0): _Leaf(d=1, scale=1.0, table=None)\n"
        "    (1): _Leaf(d=2, scale=1.0, table=None)\n"
        "  )\n"
        "  (head): _Leaf(d=3, scale=1.0, table=array(shape=(2, 3), dtype=float64))\n"
        ")"
    )


def test_recording_keeps_signature_docs_and_errors():
    assert list(inspect.signature(Linear).parameters)[:3] == ["d_in", "d_out", "bias"]
    assert Linear.__init__.__doc__ == Linear.__dict__["__init__"].__wrapped__.__doc__
    with pytest.raises(TypeError):
        Linear(1, 2, 3, 4, 5, 6, 7)
    assert "_init_args" not in dict(Linear(2, 3, rng=0).named_parameters())


def _public_module_classes():
    for pkg in (npml.nn, npml.models, npml.preference):
        for name in pkg.__all__:
            obj = getattr(pkg, name)
            if inspect.isclass(obj) and issubclass(obj, Module) and obj is not Module:
                yield obj


def _registered_modules():
    """One instance of every module class the registry builds (new layers join by
    registering themselves), keyed by class, and of the public modules outside it."""
    found = {}
    for m in npml.preference.RewardModel(3, hidden=(4,), rng=0).modules():
        found.setdefault(type(m), m)  # a preference model, not in the layer registry
    for info in registered():
        if not info.module:
            continue
        for dtype in info.dtypes[:1]:
            for sample in info.samples(np.random.default_rng(0), dtype):
                for m in sample.module.modules():
                    found.setdefault(type(m), m)
    return found


def _constructor_args(cls):
    params = inspect.signature(cls).parameters.values()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.name != "rng" and p.kind not in skip]


def test_every_registered_module_shows_its_constructor_arguments():
    found = _registered_modules()
    assert len(found) >= 10
    for cls, module in found.items():
        text = repr(module)
        assert text.startswith(f"{cls.__name__}("), text
        head = text.split("\n  (", 1)[0]  # the configuration, before the children
        for arg in _constructor_args(cls):
            assert f"{arg}=" in head, f"{cls.__name__}: {arg} missing from {head!r}"


def test_every_public_module_class_is_built_by_the_registry():
    # so that the test above sees it: a new public Module subclass must be registered (or
    # be a model built inside a registered one)
    found = _registered_modules()
    missing = [c.__name__ for c in _public_module_classes() if c not in found]
    assert missing == [], f"public Module classes with no registered instance: {missing}"
