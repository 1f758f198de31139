"""Row formats for reasoning traces (records with ``reasoning``, e.g. from the ``reasoning``
generator). The think template is chosen here, at export time; the records never store it.

==================  ===========================================================================
format              row
==================  ===========================================================================
``reasoning``       TRL conversational SFT: ``{"messages": [...]}`` whose assistant turn is
                    ``<think>\\n{reasoning}\\n</think>\\n\\n{answer}``; verified traces only
``reasoning_content``  the same, the trace in the assistant message's ``reasoning_content`` key
                    (what Qwen3-style chat templates read) and the answer alone in ``content``
``reasoning_mixed`` like ``reasoning`` for every trace, with ``verified`` and ``outcome`` columns
``openr1``          OpenR1-Math's layout, one row per problem: ``problem``, ``answer``,
                    ``generations[]``, ``finish_reasons[]``, ``correctness[]``, ``verified[]``,
                    ... (every generation); ``openr1_verified`` keeps the verified ones
==================  ===========================================================================

``chat`` writes the final answer alone (no reasoning). A trace is *verified* when its
``meta.passed`` is true (no flag, the verifier passed it); a record without ``meta.passed`` (a
user's own data with reasoning) counts as verified.

The OpenR1 layouts hold several records per row: :meth:`OpenR1Format.gather` turns trace records
into one record per problem, which :meth:`OpenR1Format.to_row` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from teachkit.formats.base import (
    MESSAGES,
    Column,
    Row,
    RowError,
    RowFormat,
    conversation,
    new_record,
    parse_messages,
    plain_messages,
)
from teachkit.records import Message, Record, content_hash

__all__ = [
    "OPENR1",
    "OPENR1_VERIFIED",
    "REASONING",
    "REASONING_CONTENT",
    "REASONING_MIXED",
    "THINK_TEMPLATE",
    "OpenR1Format",
    "ReasoningContentFormat",
    "ThinkFormat",
    "split_think",
    "think_text",
]

THINK_TEMPLATE = "<think>\n{reasoning}\n</think>\n\n{answer}"
_OPEN, _CLOSE = "<think>", "</think>"
#: the meta key of a problem record made by :meth:`OpenR1Format.gather`
PROBLEM_KEY = "openr1"


def think_text(reasoning: str, answer: str) -> str:
    """The assistant turn with the trace in think tags."""
    return THINK_TEMPLATE.format(reasoning=reasoning.strip(), answer=answer.strip())


def split_think(text: str) -> tuple[str, str] | None:
    """(reasoning, answer) of a ``<think>...</think>`` assistant turn, None without the tags."""
    stripped = text.lstrip()
    if not stripped.startswith(_OPEN) or _CLOSE not in stripped:
        return None
    inner, _, answer = stripped[len(_OPEN) :].partition(_CLOSE)
    return inner.strip(), answer.strip()


def verified(record: Record) -> bool:
    return record.meta.get("passed", True) is not False


def _with_reasoning(record: Record, *, require_verified: bool) -> tuple[list[Message], str]:
    """The conversation and the trace; RowError without a trace (or unverified, if required)."""
    if not record.reasoning or not record.reasoning.strip():
        raise RowError("record has no reasoning trace")
    if require_verified and not verified(record):
        raise RowError(
            f"the trace is not verified (outcome {record.meta.get('outcome', 'unknown')}); "
            "export it with reasoning_mixed or openr1"
        )
    messages = conversation(record)
    if not messages or messages[-1]["role"] != "assistant":
        raise RowError("record has no assistant answer after its reasoning")
    return messages, record.reasoning


class ThinkFormat(RowFormat):
    """``reasoning`` (verified traces) and ``reasoning_mixed`` (every trace)."""

    layout = '{"messages": [..., {"role": "assistant", "content": "<think>...</think>..."}]}'
    detect_order = 5

    def __init__(self, name: str, *, mixed: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.mixed = mixed
        if mixed:
            self.summary = "TRL conversational rows with <think> traces, every trace, verified flag"  # type: ignore[misc]
            self.columns = (  # type: ignore[misc]
                Column("messages", MESSAGES),
                Column("verified", "bool"),
                Column("outcome", "string"),
            )
        else:
            self.summary = "TRL conversational rows, <think>reasoning</think> then the answer"  # type: ignore[misc]
            self.columns = (Column("messages", MESSAGES),)  # type: ignore[misc]

    def to_row(self, record: Record) -> Row:
        messages, reasoning = _with_reasoning(record, require_verified=not self.mixed)
        messages[-1]["content"] = think_text(reasoning, messages[-1]["content"])
        row: Row = {"messages": messages}
        if self.mixed:
            row["verified"] = verified(record)
            row["outcome"] = str(
                record.meta.get("outcome") or ("passed" if row["verified"] else "failed")
            )
        return row

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        messages = parse_messages(row.get("messages"), "messages")
        found = split_think(messages[-1]["content"]) if messages else None
        if found is None or messages[-1]["role"] != "assistant":
            raise RowError("the last message is not an assistant turn with <think>...</think>")
        messages[-1]["content"] = found[1]
        meta: dict[str, Any] = {}
        if self.mixed and isinstance(row.get("verified"), bool):
            meta["passed"] = row["verified"]
        return [new_record(messages, meta, reasoning=found[0])]

    def detect(self, row: Mapping[str, Any]) -> bool:
        if ("verified" in row) != self.mixed:
            return False
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
            return False
        content = messages[-1].get("content")
        return isinstance(content, str) and split_think(content) is not None


class ReasoningContentFormat(RowFormat):
    name = "reasoning_content"
    summary = "TRL conversational rows, the trace in the assistant's reasoning_content key"
    layout = '{"messages": [..., {"role": "assistant", "content", "reasoning_content"}]}'
    detect_order = 4
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "messages", [{"role": "string", "content": "string", "reasoning_content": "string"}]
        ),
    )

    def to_row(self, record: Record) -> Row:
        messages, reasoning = _with_reasoning(record, require_verified=True)
        rows: list[dict[str, Any]] = [dict(m) for m in messages]
        rows[-1]["reasoning_content"] = reasoning.strip()
        return {"messages": rows}

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        raw = row.get("messages")
        messages = parse_messages(raw, "messages")
        last = raw[-1] if isinstance(raw, list) and raw else {}
        reasoning = last.get("reasoning_content") if isinstance(last, Mapping) else None
        if not isinstance(reasoning, str) or messages[-1]["role"] != "assistant":
            raise RowError("the last message is not an assistant turn with reasoning_content")
        return [new_record(messages, reasoning=reasoning)]

    def detect(self, row: Mapping[str, Any]) -> bool:
        messages = row.get("messages")
        return (
            isinstance(messages, list)
            and bool(messages)
            and isinstance(messages[-1], Mapping)
            and "reasoning_content" in messages[-1]
        )


class OpenR1Format(RowFormat):
    """One row per problem with all its generations (``openr1``) or the verified ones."""

    layout = '{"problem", "answer", "generations": [...], "finish_reasons": [...], ...}'
    detect_order = 100
    columns: ClassVar[tuple[Column, ...]] = (
        Column("problem", "string"),
        Column("answer", "string"),
        Column("solution", "string", optional=True),
        Column("uuid", "string"),
        Column("generations", ["string"]),
        Column("finish_reasons", ["string"]),
        Column("is_reasoning_complete", ["bool"]),
        Column("correctness", ["bool"]),
        Column("correctness_judge", ["bool"], optional=True),
        Column("verified", ["bool"]),
        Column("outcomes", ["string"]),
        Column("flags", [["string"]]),
        Column("correctness_count", "int64"),
        Column("pass_rate", "float64"),
        Column("difficulty", "string"),
        Column("messages", MESSAGES),
    )

    def __init__(self, name: str, *, verified_only: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.verified_only = verified_only
        which = "the verified generations" if verified_only else "every generation"
        self.summary = f"OpenR1-Math layout: one row per problem with {which}"  # type: ignore[misc]

    def gather(self, records: Iterable[Record]) -> list[Record]:
        """One record per problem (by ``meta.problem_id``, traces in ``trace_index`` order);
        records without a problem id are passed on as they are (and make no row)."""
        problems: dict[str, list[Record]] = {}
        others: list[Record] = []
        for record in records:
            problem = record.meta.get("problem_id")
            if isinstance(problem, str) and "trace_index" in record.meta:
                problems.setdefault(problem, []).append(record)
            else:
                others.append(record)
        gathered = [self._problem(pid, traces) for pid, traces in problems.items()]
        return [*gathered, *others]

    def _problem(self, pid: str, traces: list[Record]) -> Record:
        traces = sorted(traces, key=lambda r: int(r.meta.get("trace_index", 0)))
        first = traces[0]
        kept = [t for t in traces if verified(t)] if self.verified_only else traces
        data: dict[str, Any] = {
            "problem": str(first.meta.get("problem") or first.user),
            "answer": str(first.meta.get("answer") or ""),
            "uuid": pid,
            "generations": [think_text(t.reasoning or "", t.assistant) for t in kept],
            "finish_reasons": [str(t.meta.get("finish_reason") or "stop") for t in kept],
            "is_reasoning_complete": ["truncated" not in (t.meta.get("flags") or []) for t in kept],
            "correctness": [_verifier_passed(t) for t in kept],
            "verified": [verified(t) for t in kept],
            "outcomes": [str(t.meta.get("outcome") or "") for t in kept],
            "flags": [list(t.meta.get("flags") or []) for t in kept],
            "correctness_count": sum(verified(t) for t in traces),
            "pass_rate": float((first.meta.get("difficulty") or {}).get("pass_rate", 0.0)),
            "difficulty": str((first.meta.get("difficulty") or {}).get("label", "")),
        }
        if first.meta.get("solution"):
            data["solution"] = str(first.meta["solution"])
        judged = [(t.meta.get("verdicts") or {}).get("judge") for t in kept]
        if any(isinstance(j, dict) and "passed" in j for j in judged):
            data["correctness_judge"] = [
                bool(isinstance(j, dict) and j.get("passed")) for j in judged
            ]
        # the chat form: the first verified generation (else the first with an answer)
        shown = next((t for t in kept if verified(t) and t.assistant.strip()), None)
        shown = shown or next((t for t in kept if t.assistant.strip()), None)
        answer = think_text(shown.reasoning or "", shown.assistant) if shown else first.assistant
        user = [m for m in plain_messages(first.messages) if m["role"] != "assistant"]
        messages: list[Message] = [*user, {"role": "assistant", "content": answer}]
        data["messages"] = messages
        meta = {
            "source": first.meta.get("source", "synthetic"),
            "group": first.meta.get("group") or f"problem:{pid}",
            "problem_id": pid,
            PROBLEM_KEY: data,
        }
        return Record(messages=messages, meta=meta, id=content_hash(data, prefix="p1-"))

    def to_row(self, record: Record) -> Row:
        data = record.meta.get(PROBLEM_KEY)
        if not isinstance(data, dict):
            raise RowError(
                "the openr1 layout holds a whole problem per row: give the export the records "
                "made by OpenR1Format.gather(...) (one per problem), not single traces"
            )
        if not data["generations"]:
            raise RowError(f"problem {data['uuid']} has no verified generation")
        return dict(data)


def _verifier_passed(record: Record) -> bool:
    verdicts = record.meta.get("verdicts") or {}
    return any(
        isinstance(v, dict) and v.get("passed") is True
        for name, v in verdicts.items()
        if name != "judge"
    )


REASONING = ThinkFormat("reasoning", mixed=False)
REASONING_MIXED = ThinkFormat("reasoning_mixed", mixed=True)
REASONING_CONTENT = ReasoningContentFormat()
OPENR1 = OpenR1Format("openr1", verified_only=False)
OPENR1_VERIFIED = OpenR1Format("openr1_verified", verified_only=True)
