"""Autograd-free neural-network layers: functional forward/backward pairs and thin modules."""

from npml.nn.activations import (
    GELU,
    ReLU,
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
)
from npml.nn.attention import (
    attention_backward,
    attention_forward,
    scaled_dot_product_attention,
)
from npml.nn.embedding import Embedding, embedding_backward, embedding_forward
from npml.nn.layer_norm import LayerNorm, layer_norm_backward, layer_norm_forward
from npml.nn.linear import Linear, linear_backward, linear_forward
from npml.nn.module import Module, Parameter, load_npz, save_npz

__all__ = [
    "GELU",
    "Embedding",
    "LayerNorm",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "attention_backward",
    "attention_forward",
    "embedding_backward",
    "embedding_forward",
    "gelu_backward",
    "gelu_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "linear_backward",
    "linear_forward",
    "load_npz",
    "relu_backward",
    "relu_forward",
    "save_npz",
    "scaled_dot_product_attention",
]
