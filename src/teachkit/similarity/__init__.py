"""Similarity primitives shared by filters, generators, formats and quality metrics.

Exact, MinHash/LSH and embedding indexes behind one :class:`Index` protocol, the fast exact
ROUGE-L, and the text normalisation they share.
"""

from teachkit.similarity.base import Decision, Index
from teachkit.similarity.embed import CosineIndex, SentenceEncoder, model_path
from teachkit.similarity.exact import ExactIndex
from teachkit.similarity.minhash import MinHasher, MinHashIndex, lsh_params
from teachkit.similarity.rouge import RougeLIndex, novel_by_rouge_l, rouge_l, rouge_tokens
from teachkit.similarity.text import normalize, word_count

__all__ = [
    "CosineIndex",
    "Decision",
    "ExactIndex",
    "Index",
    "MinHashIndex",
    "MinHasher",
    "RougeLIndex",
    "SentenceEncoder",
    "lsh_params",
    "model_path",
    "normalize",
    "novel_by_rouge_l",
    "rouge_l",
    "rouge_tokens",
    "word_count",
]
