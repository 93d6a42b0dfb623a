"""Autograd-free neural-network layers: functional forward/backward pairs and thin modules."""

from npml._module import Module, Parameter, load_npz, save_npz
from npml.nn.activations import (
    GELU,
    ReLU,
    SiLU,
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
    silu_backward,
    silu_forward,
)
from npml.nn.attention import (
    attention_backward,
    attention_forward,
    causal_mask,
    scaled_dot_product_attention,
)
from npml.nn.conv import Conv2d, conv2d_backward, conv2d_forward
from npml.nn.conv1d import Conv1d, conv1d_backward, conv1d_forward
from npml.nn.conv_transpose import (
    ConvTranspose2d,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
)
from npml.nn.dropout import Dropout, dropout_backward, dropout_forward
from npml.nn.embedding import Embedding, embedding_backward, embedding_forward
from npml.nn.ffn import FeedForward, ffn_backward, ffn_forward
from npml.nn.flash_attention import (
    fused_attention,
    fused_attention_backward,
    fused_attention_forward,
    use_fused,
)
from npml.nn.group_norm import GroupNorm, group_norm_backward, group_norm_forward
from npml.nn.layer_norm import LayerNorm, layer_norm_backward, layer_norm_forward
from npml.nn.linear import Linear, linear_backward, linear_forward
from npml.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from npml.nn.mha import MHACache, MHAGrads, mha_backward, mha_forward
from npml.nn.multihead import KVCache, MultiHeadAttention, MultiHeadCrossAttention
from npml.nn.pooling import (
    AvgPool2d,
    MaxPool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from npml.nn.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    sinusoidal_positions,
)
from npml.nn.rope import (
    RotaryEmbedding,
    rope_backward,
    rope_forward,
    rope_frequencies,
    rope_permute,
    rope_single_frequency,
)
from npml.nn.time_embedding import TimeEmbedding, timestep_embedding
from npml.nn.transformer import TransformerDecoderLayer, TransformerEncoderLayer
from npml.nn.upsample import Upsample, upsample_backward, upsample_forward

__all__ = [
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "GELU",
    "AvgPool2d",
    "Dropout",
    "Embedding",
    "FeedForward",
    "GroupNorm",
    "KVCache",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "Linear",
    "MaxPool2d",
    "Module",
    "MHACache",
    "MHAGrads",
    "MultiHeadAttention",
    "MultiHeadCrossAttention",
    "Parameter",
    "ReLU",
    "RotaryEmbedding",
    "SiLU",
    "SinusoidalPositionalEmbedding",
    "TimeEmbedding",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "Upsample",
    "attention_backward",
    "attention_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "causal_mask",
    "conv1d_backward",
    "conv1d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "dropout_backward",
    "dropout_forward",
    "embedding_backward",
    "embedding_forward",
    "ffn_backward",
    "ffn_forward",
    "fused_attention",
    "fused_attention_backward",
    "fused_attention_forward",
    "gelu_backward",
    "gelu_forward",
    "group_norm_backward",
    "group_norm_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "linear_backward",
    "linear_forward",
    "load_npz",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "mha_backward",
    "mha_forward",
    "relu_backward",
    "relu_forward",
    "rope_backward",
    "rope_forward",
    "rope_frequencies",
    "rope_permute",
    "rope_single_frequency",
    "save_npz",
    "scaled_dot_product_attention",
    "silu_backward",
    "silu_forward",
    "sinusoidal_positions",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "timestep_embedding",
    "upsample_backward",
    "upsample_forward",
    "use_fused",
]
