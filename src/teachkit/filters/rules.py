"""The ``rules`` filter: cheap checks that need no model.

Each failed rule drops the record with its own reason:

=========================  ================================================================
reason                     when
=========================  ================================================================
``too_short:chars``        fewer characters than ``min_chars`` (``too_long:chars``: max_chars)
``too_short:words``        fewer words than ``min_words`` (``too_long:words``: max_words)
``must_match``             a ``must_match`` regex finds nothing (detail: the pattern)
``must_not_match``         a ``must_not_match`` regex matches (detail: the pattern, the match)
``blacklisted:<word>``     a blacklisted word appears (whole word, any case)
``refusal``                the answer is a refusal ("As an AI ...", "I'm sorry, but I can't")
``off_vocabulary:<key>``   the vocabulary field holds a value outside ``values``
``invalid_json``           the JSON field does not parse (code fences are allowed around it)
``schema_mismatch``        it parses but does not satisfy ``json.schema``
=========================  ================================================================

Length, regex and refusal rules read ``field`` (default: the assistant answer); the blacklist reads
``blacklist_field`` (default: every turn, so a blacklisted word in the request counts too).

The length and whole-word checks are also functions (:func:`length_problem`, :func:`whole_words`),
which the instruction recipes' own rules call, so both make their decisions the same way.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from teachkit.errors import MissingExtraError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.recipe.base import StrictModel
from teachkit.records import FieldRef, Record, field_label, field_text
from teachkit.similarity.text import word_count

__all__ = [
    "DEFAULT_REFUSALS",
    "JsonRule",
    "RulesFilter",
    "RulesSpec",
    "VocabularyRule",
    "length_problem",
    "whole_words",
]

#: phrases that mark a refusal or a model talking about itself (matched case-insensitively)
DEFAULT_REFUSALS = (
    "as an ai",
    "as a language model",
    "as an artificial intelligence",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot assist with",
    "i can't assist with",
    "i cannot help with that",
    "i can't help with that",
    "i'm unable to help",
    "i am unable to help",
    "i'm not able to help",
    "i must decline",
    "i cannot comply",
    "i can't comply",
    "against my programming",
    "my knowledge cutoff",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have access to real-time",
)
_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


class VocabularyRule(StrictModel):
    """``vocabulary: {field: meta.label, values: [positive, negative]}``"""

    field: FieldRef = "meta.label"
    values: list[str] = Field(min_length=1)
    case_sensitive: bool = False


class JsonRule(StrictModel):
    """``json: {field: assistant, schema: {...}}``: the field must parse as JSON (and match)."""

    field: FieldRef = "assistant"
    #: a JSON Schema the parsed value must satisfy (needs the ``jsonschema`` package)
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            validator = _validator_class(value)
            try:
                validator.check_schema(value)
            except Exception as exc:  # jsonschema.SchemaError
                raise ValueError(f"not a valid JSON Schema: {_first_line(exc)}") from exc
        return value


class RulesSpec(FilterSpecBase):
    """``filters: [{kind: rules, min_words: 3, blacklist: [image, picture], refusals: true}]``"""

    kind: Literal["rules"] = "rules"
    #: what the length, regex and refusal rules read: assistant (default), user, system, text
    #: (all turns) or meta.<key>
    field: FieldRef = "assistant"
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=1)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=1)
    #: regexes (Python syntax) that must each find a match / must not match anywhere
    must_match: list[str] = Field(default_factory=list)
    must_not_match: list[str] = Field(default_factory=list)
    #: words that drop a record wherever they appear as whole words, in any case
    blacklist: list[str] = Field(default_factory=list)
    blacklist_field: FieldRef = "text"
    #: drop refusals and self-references ("As an AI ..."); add phrases with refusal_phrases
    refusals: bool = True
    refusal_phrases: list[str] = Field(default_factory=list)
    vocabulary: VocabularyRule | None = None
    json_rule: JsonRule | None = Field(default=None, alias="json")

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"the regex {pattern!r} does not compile: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _ranges(self) -> RulesSpec:
        for unit in ("chars", "words"):
            low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{unit} ({low}) is above max_{unit} ({high})")
        return self

    def build(self, ctx: FilterContext) -> RulesFilter:
        return RulesFilter(self)


class RulesFilter(Filter):
    kind: ClassVar[str] = "rules"
    cost: ClassVar[int] = 0

    def __init__(self, spec: RulesSpec) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self._must = [re.compile(p) for p in spec.must_match]
        self._must_not = [re.compile(p) for p in spec.must_not_match]
        self._blacklist = whole_words(spec.blacklist)
        phrases = (
            [*DEFAULT_REFUSALS, *(_plain(p) for p in spec.refusal_phrases)] if spec.refusals else []
        )
        self._refusals = whole_words(phrases)
        vocab = spec.vocabulary
        self._vocab = (
            {v if vocab.case_sensitive else v.casefold() for v in vocab.values} if vocab else set()
        )
        schema = spec.json_rule.json_schema if spec.json_rule else None
        self._schema = _validator_class(schema)(schema) if schema is not None else None

    async def check(self, record: Record) -> Verdict:
        return self.verdict(record)

    def verdict(self, record: Record) -> Verdict:
        """The decision, computed at once (rules never wait on anything)."""
        text = field_text(record, self.spec.field)
        for check in (self._length, self._regexes, self._blacklisted, self._refusal):
            verdict = check(record, text)
            if verdict is not None:
                return verdict
        return self._vocabulary(record) or self._json(record) or KEEP

    # --- one method per rule ----------------------------------------------------------------
    def _length(self, record: Record, text: str) -> Drop | None:
        s = self.spec
        drop = _bounds("chars", len(text.strip()), s.min_chars, s.max_chars)
        if drop is not None or (s.min_words is None and s.max_words is None):
            return drop
        return _bounds("words", word_count(text), s.min_words, s.max_words)

    def _regexes(self, record: Record, text: str) -> Drop | None:
        for pattern in self._must:
            if pattern.search(text) is None:
                return Drop("must_match", {"pattern": pattern.pattern})
        for pattern in self._must_not:
            found = pattern.search(text)
            if found is not None:
                return Drop("must_not_match", {"pattern": pattern.pattern, "match": found[0][:80]})
        return None

    def _blacklisted(self, record: Record, text: str) -> Drop | None:
        if self._blacklist is None:
            return None
        if self.spec.blacklist_field != self.spec.field:
            text = field_text(record, self.spec.blacklist_field)
        found = self._blacklist.search(text)
        return Drop(f"blacklisted:{found[1].lower()}") if found else None

    def _refusal(self, record: Record, text: str) -> Drop | None:
        if self._refusals is None:
            return None
        found = self._refusals.search(_plain(text))
        return Drop("refusal", {"phrase": found[1]}) if found else None

    def _vocabulary(self, record: Record) -> Drop | None:
        vocab = self.spec.vocabulary
        if vocab is None:
            return None
        value = field_text(record, vocab.field).strip()
        if (value if vocab.case_sensitive else value.casefold()) in self._vocab:
            return None
        return Drop(f"off_vocabulary:{field_label(vocab.field)}", {"value": value[:80]})

    def _json(self, record: Record) -> Drop | None:
        rule = self.spec.json_rule
        if rule is None:
            return None
        raw = field_text(record, rule.field)
        fenced = _FENCE.match(raw)
        try:
            value = json.loads(fenced[1] if fenced else raw)
        except ValueError as exc:
            return Drop("invalid_json", {"error": str(exc)})
        if self._schema is not None:
            error = next(iter(self._schema.iter_errors(value)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                return Drop("schema_mismatch", {"at": where, "error": _first_line(error)})
        return None


# --- checks shared with the instruction recipes ---------------------------------------------
def length_problem(
    value: int, low: int | None, high: int | None
) -> Literal["too_short", "too_long"] | None:
    """``too_short`` below ``low``, ``too_long`` above ``high`` (a bound of None is no bound)."""
    if low is not None and value < low:
        return "too_short"
    if high is not None and value > high:
        return "too_long"
    return None


def whole_words(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex finding any of ``phrases`` as whole words, in any case, longest first; None when
    there is no phrase. Its first group is the text that matched."""
    unique = sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True)
    if not unique:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, unique)) + r")(?!\w)", re.IGNORECASE)


def _bounds(unit: str, value: int, low: int | None, high: int | None) -> Drop | None:
    problem = length_problem(value, low, high)
    if problem is None:
        return None
    limit = {"min": low} if problem == "too_short" else {"max": high}
    return Drop(f"{problem}:{unit}", {unit: value, **limit})


def _plain(text: str) -> str:
    """Lower case, plain apostrophes, single spaces: how refusal phrases are compared."""
    return " ".join(text.replace("\u2019", "'").lower().split())


def _validator_class(schema: dict[str, Any]) -> Any:
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError as exc:
        raise MissingExtraError("jsonschema", "schema", "JSON Schema checks in rules") from exc
    return jsonschema.validators.validator_for(schema)


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0][:200]
