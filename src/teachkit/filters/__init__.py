"""Filters: keep a record, or drop it with a reason (see :mod:`teachkit.filters.base`)."""

from teachkit.filters.base import KEEP, Drop, Filter, FilterChain, Keep
from teachkit.filters.dedup import DedupFilter, DedupSpec
from teachkit.filters.judge import JudgeFilter, JudgeSpec, parse_score
from teachkit.filters.novelty import NoveltyFilter, NoveltySpec
from teachkit.filters.rules import RulesFilter, RulesSpec

__all__ = [
    "KEEP",
    "DedupFilter",
    "DedupSpec",
    "Drop",
    "Filter",
    "FilterChain",
    "JudgeFilter",
    "JudgeSpec",
    "Keep",
    "NoveltyFilter",
    "NoveltySpec",
    "RulesFilter",
    "RulesSpec",
    "parse_score",
]
