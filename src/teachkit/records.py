"""The one record type that every step reads and enriches.

A :class:`Record` is a training example plus its provenance. ``messages`` is a chat
(system/user/assistant turns); preference data adds ``chosen``/``rejected`` assistant answers;
``reasoning`` holds a reasoning trace when a recipe asks for one. ``meta`` carries provenance:
``source`` (``synthetic`` or ``real``), recipe name and hash, teacher backend and model, template
hash, diversity-axis values (``axes``), generation ``depth``, ``parents``, ``scores``, timestamps.

``id`` is a stable hash of the content, so the same example always has the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import orjson
from pydantic import StringConstraints

__all__ = [
    "FIELD_PATTERN",
    "FieldRef",
    "Message",
    "Record",
    "RecordMeta",
    "Rejection",
    "content_hash",
    "dumps",
    "field_label",
    "field_text",
    "loads",
    "meta_value",
]

Message = dict[str, str]

#: bump when the id formula changes, so old and new ids never collide silently
_ID_VERSION = "r1"
_ROLES = ("system", "user", "assistant")


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys) used for hashing and storage."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def content_hash(obj: Any, prefix: str = "", length: int = 20) -> str:
    """A versioned, stable hash of any JSON-serialisable object."""
    digest = hashlib.sha256(dumps(obj)).hexdigest()[:length]
    return f"{prefix}{digest}"


class RecordMeta(TypedDict, total=False):
    """The documented keys of :attr:`Record.meta` (every key is optional; a generator or filter
    may add keys of its own). Resume depends on ``job``; the export's split on ``group``;
    drift and lineage checks on ``source``, ``depth`` and ``parents``.
    """

    #: ``synthetic`` (made by a teacher) or ``real`` (read from a user's file)
    source: str
    #: the recipe's name and :func:`teachkit.recipe.load.recipe_hash`
    recipe: str
    recipe_hash: str
    #: who answered: ``{"backend": ..., "model": ...}``
    teacher: dict[str, str]
    #: the sampling options sent with the request
    sampling: dict[str, Any]
    #: the diversity-axis values the prompt was rendered with
    axes: dict[str, str]
    #: versioned hash of the prompt template (``t1:...``)
    template_hash: str
    #: key of the job that made the record (unique in a run; how a resumed run knows it)
    job: str
    #: the job's stage (``generate``, ``instances``, ...)
    stage: str
    #: rounds of synthetic data behind the teacher (0: none known), and the ids of the records
    #: this one was derived from
    depth: int
    parents: list[str]
    #: scores and verdicts added by filters (judge score, verifier verdict)
    scores: dict[str, Any]
    verdicts: dict[str, Any]
    #: dedup group: near-similar records share one, and the split keeps a group on one side
    group: str
    #: where a real record came from: ``{"path": ..., "line": "line N"}``
    origin: dict[str, str]
    #: when the answer arrived (UTC, ISO 8601), why the teacher stopped, and the model that said
    #: it answered
    created: str
    finish_reason: str | None
    model: str


@dataclass(slots=True)
class Record:
    messages: list[Message]
    #: provenance; the documented keys are those of :class:`RecordMeta`
    meta: dict[str, Any] = field(default_factory=dict)
    chosen: str | None = None
    rejected: str | None = None
    reasoning: str | None = None
    id: str = ""

    def __post_init__(self) -> None:
        for message in self.messages:
            role = message.get("role")
            if role not in _ROLES:
                raise ValueError(f"message role must be one of {_ROLES}, got {role!r}")
            if not isinstance(message.get("content"), str):
                raise ValueError("message content must be a string")
        if not self.id:
            self.id = self.compute_id()

    def compute_id(self) -> str:
        content = {
            "messages": self.messages,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "reasoning": self.reasoning,
        }
        return content_hash(content, prefix=f"{_ID_VERSION}-")

    # --- convenient views -------------------------------------------------------------------
    def turn(self, role: str) -> str:
        """Content of the first turn with ``role`` ('' when there is none)."""
        for message in self.messages:
            if message["role"] == role:
                return message["content"]
        return ""

    @property
    def system(self) -> str:
        return self.turn("system")

    @property
    def user(self) -> str:
        return self.turn("user")

    @property
    def assistant(self) -> str:
        """The last assistant turn (or the chosen answer of a preference pair)."""
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                return message["content"]
        return self.chosen or ""

    def text(self) -> str:
        """All turn contents joined: what length rules and dedup look at by default."""
        parts = [m["content"] for m in self.messages if m["role"] != "system"]
        parts += [p for p in (self.chosen, self.rejected) if p]
        return "\n".join(parts)

    # --- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "messages": self.messages}
        if self.chosen is not None:
            out["chosen"] = self.chosen
        if self.rejected is not None:
            out["rejected"] = self.rejected
        if self.reasoning is not None:
            out["reasoning"] = self.reasoning
        out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return cls(
            messages=list(data["messages"]),
            meta=dict(data.get("meta") or {}),
            chosen=data.get("chosen"),
            rejected=data.get("rejected"),
            reasoning=data.get("reasoning"),
            id=data.get("id") or "",
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_json(cls, line: bytes | str) -> Record:
        return cls.from_dict(orjson.loads(line))


@dataclass(slots=True)
class Rejection:
    """A record dropped before or inside the filter chain, with who dropped it and why."""

    record: Record
    filter: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


# --- what a filter, verifier or metric reads: one field of a record ----------------------------
#: what a ``field`` option may name: ``user`` (the user turns, joined by newlines), ``assistant``
#: (the last assistant turn, or the chosen answer of a preference pair), ``system``, ``text``
#: (every turn and both answers of a pair), ``reasoning`` (the trace), or ``meta.<key>`` (a value
#: from ``record.meta``; dots reach into nested mappings)
FIELD_PATTERN = r"^(user|assistant|system|text|reasoning|meta\.[\w\-]+(\.[\w\-]+)*)$"

#: a validated field reference for recipe specs
FieldRef = Annotated[str, StringConstraints(pattern=FIELD_PATTERN)]


def field_text(record: Record, field: str) -> str:
    """The text of ``field`` in ``record`` ('' when it is absent)."""
    if field == "user":
        return "\n".join(m["content"] for m in record.messages if m["role"] == "user")
    if field == "assistant":
        return record.assistant
    if field == "system":
        return record.system
    if field == "text":
        return record.text()
    if field == "reasoning":
        return record.reasoning or ""
    if field.startswith("meta."):
        return _as_text(meta_value(record.meta, field[5:]))
    raise ValueError(f"unknown field {field!r}")


def field_label(field: str) -> str:
    """A short name for ``field`` used in drop reasons (``meta.label`` -> ``label``)."""
    return field.rsplit(".", 1)[-1]


def meta_value(meta: dict[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of ``meta`` (None when absent)."""
    value: Any = meta
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
