"""A filter that drops records whose answer (or another field) holds a web address.

Recipe::

    filters:
      - {kind: no_urls}                    # the assistant answer
      - {kind: no_urls, field: user, name: no_urls_in_prompt}
"""

from __future__ import annotations

import re
from typing import Literal

from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.records import FieldRef, Record, field_text

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


class NoUrlsSpec(FilterSpecBase):
    kind: Literal["no_urls"] = "no_urls"
    #: what to look in: assistant, user, system, text, reasoning or meta.<key>
    field: FieldRef = "assistant"

    def build(self, ctx: FilterContext) -> NoUrlsFilter:
        return NoUrlsFilter(self.field, self.name)


class NoUrlsFilter(Filter):
    kind = "no_urls"
    cost = 0  # a regex: runs first, with the rules

    def __init__(self, field: str, name: str | None = None) -> None:
        super().__init__(name)
        self.field = field

    async def check(self, record: Record) -> Verdict:
        found = _URL.search(field_text(record, self.field))
        if found is None:
            return KEEP
        return Drop("url", {"url": found.group(0), "field": self.field})
