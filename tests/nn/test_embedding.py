import numpy as np
import pytest

from npml.nn.embedding import Embedding, embedding_backward, embedding_forward
from npml.testing import check_gradient


@pytest.mark.parametrize("ids_shape", [(1,), (2, 5), (3, 1)])
def test_embedding_lookup_and_gradient(rng, ids_shape):
    W = rng.standard_normal((6, 3))
    ids = rng.integers(0, 6, ids_shape)
    ids.flat[0] = ids.flat[-1] = 2  # a repeated id: its gradient is a sum
    out, cache = embedding_forward(ids, W)
    np.testing.assert_array_equal(out, W[ids])
    dout = rng.standard_normal(out.shape)
    dW = embedding_backward(dout, cache)
    assert check_gradient(lambda z: embedding_forward(ids, z)[0], W, dW, dout) < 1e-6
    unused = np.setdiff1d(np.arange(6), ids)
    assert not dW[unused].any()


def test_module_returns_none_and_ties_accumulate(rng):
    emb = Embedding(5, 4, rng=0)
    assert emb.n_params() == 20
    ids = np.array([[0, 1, 1]])
    out = emb(ids)
    assert emb.backward(np.ones_like(out)) is None
    np.testing.assert_array_equal(emb.W.grad[1], 2.0)
    # the same table used as an output projection (tied weights) adds its own gradient
    emb.W.accumulate(np.ones((5, 4)))
    np.testing.assert_array_equal(emb.W.grad[1], 3.0)
    np.testing.assert_array_equal(emb.W.grad[4], 1.0)


def test_init_std_and_dtype():
    emb = Embedding(2000, 8, rng=1, dtype=np.float32, std=0.02)
    assert emb.W.data.dtype == np.float32
    assert abs(emb.W.data.std() - 0.02) < 0.002
    assert abs(Embedding(2000, 8, rng=1).W.data.std() - 1.0) < 0.05


def test_bad_ids(rng):
    emb = Embedding(5, 2, rng=0)
    with pytest.raises(ValueError, match=r"ids contains 1 value\(s\) outside \[0, 5\).*e.g. 7"):
        emb(np.array([[1, 7, 2]]))
    with pytest.raises(ValueError, match="outside.*e.g. -1"):
        emb(np.array([-1, 0]))
    with pytest.raises(TypeError, match="ids has dtype float64"):
        emb(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"W has shape \(5,\)"):
        embedding_forward(np.array([0]), np.ones(5))
