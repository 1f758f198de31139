"""Filters: keep a record, or drop it with a reason (see :mod:`teachkit.filters.base`)."""

from teachkit.filters.base import KEEP, Drop, Filter, FilterChain, Keep
from teachkit.filters.dedup import DedupFilter, DedupSpec, ExactIndex
from teachkit.filters.embed import CosineIndex, SentenceEncoder
from teachkit.filters.judge import JudgeFilter, JudgeSpec, parse_score
from teachkit.filters.minhash import MinHasher, MinHashIndex, lsh_params
from teachkit.filters.novelty import NoveltyFilter, NoveltySpec
from teachkit.filters.rouge import RougeLIndex, novel_by_rouge_l, rouge_l
from teachkit.filters.rules import RulesFilter, RulesSpec
from teachkit.filters.text import field_text, normalize

__all__ = [
    "KEEP",
    "CosineIndex",
    "DedupFilter",
    "DedupSpec",
    "Drop",
    "ExactIndex",
    "Filter",
    "FilterChain",
    "JudgeFilter",
    "JudgeSpec",
    "Keep",
    "MinHashIndex",
    "MinHasher",
    "NoveltyFilter",
    "NoveltySpec",
    "RougeLIndex",
    "RulesFilter",
    "RulesSpec",
    "SentenceEncoder",
    "field_text",
    "lsh_params",
    "normalize",
    "novel_by_rouge_l",
    "parse_score",
    "rouge_l",
]
