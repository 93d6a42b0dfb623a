"""npml's own layers in the registry: importing this package registers them.

``elementwise`` (ReLU, GELU, dropout, layer norm), ``dense`` (linear, FFN), ``tokens``
(embeddings, positions, RoPE, cross-entropy), ``attention`` (plain and fused), ``multihead``
(the pair and the two modules), ``spatial`` (upsampling, pooling, group norm, SiLU, the
timestep MLP) and ``blocks`` (Transformer layers and the models) register
on import; each is also an example of entries for your own layers. :data:`EXEMPT` lists the
public names of :mod:`npml.nn` and :mod:`npml.models` that are not layers with a backward
pass, each with the reason and the test that covers it instead; a coverage test checks that
every public name is in one or the other.
"""

from npml.testing.npml_layers import (  # noqa: F401  (importing them registers their entries)
    attention,
    blocks,
    conv,
    dense,
    elementwise,
    multihead,
    spatial,
    tokens,
)

EXEMPT = {
    # npml.nn
    "Module": "the base class every module entry runs through; tests/nn/test_module.py",
    "Parameter": "a value and its gradient, not a layer; tests/nn/test_module.py",
    "save_npz": "file I/O; tests/nn/test_module.py",
    "load_npz": "file I/O; tests/nn/test_module.py",
    "KVCache": "inference-only storage (no backward); tests/nn/test_multihead.py",
    "causal_mask": "a boolean mask, no gradient; tests/nn/test_attention.py",
    "scaled_dot_product_attention": "output-only wrapper of attention_forward (registered)",
    "fused_attention": "output-only wrapper of fused_attention_forward (registered)",
    "use_fused": "the size rule of attn_impl='auto'; tests/nn/test_flash_attention.py",
    "rope_frequencies": "the RoPE frequency table, no gradient; tests/nn/test_rope.py",
    "rope_permute": "a weight-layout conversion, no gradient; tests/nn/test_rope.py",
    "rope_single_frequency": "rope_forward with one frequency (its 'theta' sample is "
    "registered); tests/nn/test_rope.py checks the equality",
    "timestep_embedding": "a fixed code of t, no gradient needed; "
    "tests/nn/test_spatial.py (TimeEmbedding, registered, differentiates what follows it)",
    # npml.models
    "CharTokenizer": "text <-> ids, no arrays to differentiate; tests/models/test_text.py",
    "tiny_corpus": "a data set; tests/models/test_text.py",
    "unigram_entropy": "a statistic of a text; tests/models/test_text.py",
    "History": "a record of a training run; tests/models/test_training.py",
    "fit": "a training loop; tests/models/test_training.py",
    "train_causal_lm": "a training loop; tests/models/test_training.py",
}
