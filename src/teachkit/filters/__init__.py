"""Filters: keep a record, or drop it with a reason (see :mod:`teachkit.filters.base`)."""

from teachkit.filters.rouge import novel_by_rouge_l, rouge_l

__all__ = ["novel_by_rouge_l", "rouge_l"]
