"""Character tokenizer, unigram entropy and the shipped corpus."""

import numpy as np
import pytest

from npml.models import CharTokenizer, tiny_corpus, unigram_entropy


def test_round_trip_and_vocabulary():
    tok = CharTokenizer("banana bread")
    assert tok.chars == sorted(set("banana bread"))
    assert tok.vocab_size == len(set("banana bread"))
    ids = tok.encode("bread nab")
    assert ids.dtype == np.int64 and ids.shape == (9,)
    assert tok.decode(ids) == "bread nab"
    assert tok.decode([]) == ""
    # ids follow sorted order, so " " (the smallest character here) is id 0
    assert tok.encode(" ")[0] == 0


def test_bad_input():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"\['x', 'z'\]"):
        tok.encode("azbx")
    with pytest.raises(ValueError, match=r"\[3\] outside \[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")
    with pytest.raises(TypeError, match="expected str"):
        tok.encode(["a"])


def test_unigram_entropy():
    assert unigram_entropy(np.array([0, 1, 2, 3] * 5)) == pytest.approx(np.log(4))
    assert unigram_entropy(np.array([2, 2, 2])) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    ids = np.array([0, 0, 1, 2])
    assert unigram_entropy(ids, vocab_size=10) == pytest.approx(-(p * np.log(p)).sum())
    with pytest.raises(ValueError, match="1-D int"):
        unigram_entropy(np.array([0.5, 1.0]))


def test_corpus_is_small_plain_text():
    text = tiny_corpus()
    assert 10_000 < len(text.encode("utf-8")) <= 50_000
    assert text.isascii()
    tok = CharTokenizer(text)
    assert tok.decode(tok.encode(text)) == text
    # English prose: the space and 'e' are the most frequent characters
    counts = np.bincount(tok.encode(text))
    top2 = {tok.chars[i] for i in np.argsort(counts)[-2:]}
    assert top2 == {" ", "e"}
