"""Bad input to the elementwise layers (activations, LayerNorm, FFN, cross-entropy), issue 14."""

import numpy as np
import pytest

from npml.nn import (
    FeedForward,
    ffn_backward,
    ffn_forward,
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

X = np.random.default_rng(0).standard_normal((2, 3, 4))
W_1, W_2 = np.ones((4, 6)), np.ones((6, 4))

BACKWARDS = {
    "relu": lambda d: relu_backward(d, relu_forward(X)[1]),
    "gelu": lambda d: gelu_backward(d, gelu_forward(X)[1]),
    "gelu_tanh": lambda d: gelu_backward(d, gelu_forward(X, "tanh")[1]),
    "ffn": lambda d: ffn_backward(d, ffn_forward(X, W_1, None, W_2, None, "gelu")[1]),
    "FeedForward": lambda d: (m := FeedForward(4, rng=0)).forward(X) is not None and m.backward(d),
}


@pytest.mark.parametrize("name", BACKWARDS)
@pytest.mark.parametrize("shape", [(3, 2, 4), (2, 3, 4, 1), (1, 3, 4), (4,)])
def test_backward_refuses_a_dout_of_another_shape(name, shape):
    with pytest.raises(ValueError, match=r"dout has shape"):
        BACKWARDS[name](np.ones(shape))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: softmax_cross_entropy_forward(X, np.zeros((2, 3)), ignore_index="a"),
         TypeError, "ignore_index='a'"),
        (lambda: softmax_cross_entropy_forward(X, np.zeros((2, 3)), ignore_index=1.5),
         TypeError, "ignore_index=1.5"),
        (lambda: softmax_cross_entropy_forward(np.ones((2, 0)), np.zeros(2)),
         ValueError, "logits has shape"),
        (lambda: softmax_cross_entropy_backward(
            "x", softmax_cross_entropy_forward(X, np.zeros((2, 3)))[1]), TypeError, "dloss"),
    ],
)  # fmt: skip
def test_cross_entropy_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
