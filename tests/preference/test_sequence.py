import numpy as np
import pytest

from npml.preference.sequence import (
    sequence_logps,
    sequence_logps_backward,
    sequence_logps_forward,
)
from npml.testing import check_gradient


def brute_force(logits, tokens, mask):
    """Sum over masked positions of log p(token), one position at a time."""
    B, T, _ = logits.shape
    out = np.zeros(B)
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                z = logits[b, t]
                out[b] += z[tokens[b, t]] - np.log(np.sum(np.exp(z)))
    return out


@pytest.mark.parametrize("B,T,V", [(1, 1, 2), (3, 5, 7), (2, 4, 1)])
def test_matches_brute_force_and_gradient(rng, B, T, V):
    logits = rng.normal(size=(B, T, V)) * 3
    tokens = rng.integers(0, V, size=(B, T))
    mask = rng.random((B, T)) < 0.7
    mask[:, 0] = True
    np.testing.assert_allclose(
        sequence_logps(logits, tokens, mask), brute_force(logits, tokens, mask), atol=1e-12
    )
    dout = rng.normal(size=B)
    _, cache = sequence_logps_forward(logits, tokens, mask)
    dlogits = sequence_logps_backward(dout, cache)
    f = lambda z: sequence_logps(z, tokens, mask)
    assert check_gradient(f, logits, dlogits, dout) < 1e-6
    # Masked-out positions get no gradient at all.
    assert np.all(dlogits[~mask] == 0)


def test_average_divides_by_length_and_gradchecks(rng):
    logits = rng.normal(size=(2, 4, 3))
    tokens = rng.integers(0, 3, size=(2, 4))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    total = sequence_logps(logits, tokens, mask)
    np.testing.assert_allclose(sequence_logps(logits, tokens, mask, average=True), total / [2, 4])
    dout = rng.normal(size=2)
    _, cache = sequence_logps_forward(logits, tokens, mask, average=True)
    f = lambda z: sequence_logps(z, tokens, mask, average=True)
    assert check_gradient(f, logits, sequence_logps_backward(dout, cache), dout) < 1e-6


def test_padding_ids_are_ignored_where_masked_out(rng):
    logits = rng.normal(size=(1, 3, 4))
    mask = np.array([[1, 1, 0]])
    a = sequence_logps(logits, np.array([[1, 2, -100]]), mask)
    b = sequence_logps(logits, np.array([[1, 2, 3]]), mask)
    assert a[0] == b[0]
    assert sequence_logps(logits, np.array([[1, 2, 3]]))[0] < b[0]  # default mask: all count


def test_validation(rng):
    logits = rng.normal(size=(2, 3, 4))
    tokens = np.zeros((2, 3), dtype=int)
    with pytest.raises(ValueError, match="tokens has shape"):
        sequence_logps(logits, tokens[:, :2])
    with pytest.raises(ValueError, match=r"expected \[0, 4\)"):
        sequence_logps(logits, tokens + 4)
    with pytest.raises(ValueError, match="0 and 1"):
        sequence_logps(logits, tokens, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="at least one"):
        sequence_logps(logits, tokens, np.zeros((2, 3)), average=True)
