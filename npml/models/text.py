"""Character-level tokenization and the small text corpus that ships with npml.

A character-level tokenizer maps each distinct character of a text to an integer id,

.. math::

    \\mathcal{V} = \\operatorname{sorted}(\\{c : c \\in \\text{text}\\}), \\qquad
    \\operatorname{encode}(s)_t = \\operatorname{index}_{\\mathcal{V}}(s_t),

and ``decode`` inverts it. It is the smallest possible tokenizer: the vocabulary has a few
dozen symbols, so a language model over it is tiny, and every sampled string is readable
(it has no unknown tokens to print). The price is long sequences: a word takes several
steps to predict, which is why real language models use subword vocabularies (BPE).

The *unigram entropy* of a text, :math:`H = -\\sum_c p(c) \\log p(c)` with :math:`p` the
character frequencies, is the cross-entropy (in nats) of the best model that ignores
context; a language model has learned something about context only once its loss is below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

_CORPUS = Path(__file__).resolve().parent.parent / "data" / "tiny_corpus.txt"


def tiny_corpus() -> str:
    """The small English text shipped in ``npml/data/tiny_corpus.txt`` (about 26 KB).

    Original prose written for npml (provenance in ``npml/data/README.md``).
    """
    return _CORPUS.read_text(encoding="utf-8")


def unigram_entropy(ids: np.ndarray, vocab_size: int | None = None) -> float:
    """Entropy in nats of the token frequencies of ``ids``: ``-sum_v p_v log p_v``.

    The loss of the best model that ignores context: a language model should go below it
    (see :mod:`npml.models.text`).

    Parameters
    ----------
    ids : ndarray of int, shape (N,)
    vocab_size : int, optional
        Number of possible ids; only used to size the count array.

    Returns
    -------
    float

    Examples
    --------
    >>> round(unigram_entropy(np.array([0, 1, 0, 1])), 6) == round(float(np.log(2)), 6)
    True
    >>> unigram_entropy(np.array([3, 3, 3])) == 0  # one token: no uncertainty
    True
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
        raise ValueError(
            f"ids has shape {ids.shape} and dtype {ids.dtype}; expected a non-empty 1-D int array"
        )
    counts = np.bincount(ids, minlength=vocab_size or 0)
    p = counts[counts > 0] / ids.size
    return float(-np.sum(p * np.log(p)))


class CharTokenizer:
    """Map the characters of a text to ids and back.

    Parameters
    ----------
    text : str
        The vocabulary is the sorted set of its characters.

    Attributes
    ----------
    chars : list of str
        ``chars[i]`` is the character with id ``i``.
    vocab_size : int

    Examples
    --------
    >>> tok = CharTokenizer("hello")
    >>> tok.chars
    ['e', 'h', 'l', 'o']
    >>> tok.decode(tok.encode("hole"))
    'hole'
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"text={text!r:.40}; expected a non-empty str")
        self.chars: list[str] = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> np.ndarray:
        """Ids of the characters of ``s``, shape ``(len(s),)``, dtype int64.

        Raises ``ValueError`` naming the characters that are not in the vocabulary.
        """
        if not isinstance(s, str):
            raise TypeError(f"s has type {type(s).__name__}; expected str")
        unknown = sorted(set(s) - self._index.keys())
        if unknown:
            raise ValueError(f"s contains characters {unknown} that are not in the vocabulary")
        return np.fromiter((self._index[c] for c in s), dtype=np.int64, count=len(s))

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The string whose characters have the given ids (a 1-D sequence)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"ids has shape {ids.shape} and dtype {ids.dtype}; expected 1-D ints")
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(
                f"ids contains {sorted(set(bad.tolist()))[:10]} outside [0, {self.vocab_size})"
            )
        return "".join(self.chars[i] for i in ids.tolist())

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
