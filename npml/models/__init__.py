"""Assembled networks built from :mod:`npml.nn`: a causal language model, the encoder-decoder
Transformer, a character tokenizer and a small training loop."""

from npml.models.causal_lm import CausalLM
from npml.models.seq2seq import Transformer
from npml.models.text import CharTokenizer, tiny_corpus, unigram_entropy
from npml.models.training import History, fit, train_causal_lm

__all__ = [
    "CausalLM",
    "CharTokenizer",
    "History",
    "Transformer",
    "fit",
    "tiny_corpus",
    "train_causal_lm",
    "unigram_entropy",
]
