"""Evaluation of a student on held-out prompts: pairwise judging in both orders, and intervals.

For each prompt the student answers; a judge sees the prompt and two answers, the student's and
the other one (the reference answer, or the teacher's), and names the better (``A``, ``B`` or
``tie``). Every pair is judged twice, the student's answer shown first and then second:

* **win**: both orders prefer the student; **loss**: both prefer the other answer;
* **tie**: both orders say tie, or the two orders disagree (position bias: a judge that prefers
  whichever answer comes first says nothing about the answers) — disagreements are also counted
  on their own;
* **unjudged**: a verdict could not be read or the judge failed; **failed**: the student could
  not answer. Neither counts in the rates.

Rates are over judged prompts (wins + ties + losses) with 95% **Wilson** score intervals; the
**score** ``(wins + ties / 2) / judged`` has a seeded **bootstrap** interval (percentile, 2,000
resamples, numpy PCG64). Requests are deterministic (sample 0; the judge at temperature 0), so
the request cache answers them again after a kill.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from teachkit.errors import CircuitOpenError, ConfigError, TeacherError
from teachkit.records import Message
from teachkit.teachers.backend import Request
from teachkit.teachers.teacher import Teacher

__all__ = [
    "JUDGE_TEMPLATE",
    "WINNER_SCHEMA",
    "EvalItem",
    "Judged",
    "bootstrap_score",
    "judge_items",
    "parse_winner",
    "summarise",
    "wilson",
]

Outcome = Literal["win", "tie", "loss", "unjudged", "failed"]

JUDGE_TEMPLATE = """\
You compare two answers to the same request.

The request:
{conversation}

Answer A:
{a}

Answer B:
{b}

Which answer is better: more correct, more helpful and complete, and clearer? Judge the content,
not the length or the order. Answer with JSON only:
{{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}}"""

_SYSTEM = "You are a strict, fair judge. You answer with one JSON object and nothing else."

WINNER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
        "reason": {"type": "string"},
    },
    "required": ["winner", "reason"],
    "additionalProperties": False,
}
_WINNER = re.compile(r"\b(?:winner|better)\b[\"'*:\s=]*\b(A|B|tie)\b", re.IGNORECASE)
_ALONE = re.compile(r"^\W*(A|B|tie)\W*$", re.IGNORECASE)
_RESAMPLES = 2000


@dataclass
class EvalItem:
    """One held-out prompt: the conversation up to the answer, and the reference answer."""

    id: str
    side: str
    messages: list[Message]
    reference: str
    groups: dict[str, str] = field(default_factory=dict)


@dataclass
class Judged:
    item: EvalItem
    answer: str | None
    other: str | None
    #: the judge's verdicts with the student shown first and second: student / other / tie
    first: str | None = None
    second: str | None = None
    outcome: Outcome = "unjudged"
    disagreement: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "side": self.item.side,
            "prompt": self.item.messages[-1]["content"] if self.item.messages else "",
            "messages": self.item.messages,
            "reference": self.item.reference,
            "other": self.other,
            "answer": self.answer,
            "first": self.first,
            "second": self.second,
            "outcome": self.outcome,
            "disagreement": self.disagreement,
            "groups": self.item.groups,
            "error": self.error,
        }


def parse_winner(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a judge's answer (None when unreadable)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(20):
        if start == -1:
            break
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("winner"), str):
            found = value["winner"].strip().strip(".").lower()
            return {"a": "A", "b": "B", "tie": "tie"}.get(found)
        start = text.find("{", start + 1)
    match = _WINNER.search(text) or _ALONE.match(text)
    if match is None:
        return None
    return "tie" if match[1].lower() == "tie" else match[1].upper()


def conversation_text(messages: Sequence[Message]) -> str:
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)


def judge_request(judge: Teacher, messages: Sequence[Message], a: str, b: str) -> Request:
    prompt = JUDGE_TEMPLATE.format(conversation=conversation_text(messages), a=a, b=b)
    schema = WINNER_SCHEMA if judge.capabilities.json_schema else None
    return Request(
        messages=[{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}],
        options={"temperature": 0.0, "max_tokens": 128},
        json_schema=schema,
        sample=0,
    )


async def _ask(teacher: Teacher, request: Request) -> tuple[str | None, str | None]:
    try:
        return (await teacher.complete(request)).text, None
    except (ConfigError, CircuitOpenError):
        raise  # every later request fails the same way: stop, resume later from the cache
    except TeacherError as exc:
        return None, str(exc)[:300]


def _verdict(winner: str | None, student_is: str) -> str | None:
    if winner is None:
        return None
    if winner == "tie":
        return "tie"
    return "student" if winner == student_is else "other"


async def _judge_one(
    item: EvalItem,
    student: Teacher,
    judge: Teacher,
    other: Teacher | None,
    options: dict[str, Any],
) -> Judged:
    request = Request(messages=list(item.messages), options=dict(options), sample=0)
    answer, error = await _ask(student, request)
    if answer is None:
        return Judged(item, None, None, outcome="failed", error=error)
    reference: str | None = item.reference
    if other is not None:
        reference, error = await _ask(other, request)
        if reference is None:
            return Judged(item, answer, None, outcome="unjudged", error=error)
    assert reference is not None
    (one, e1), (two, e2) = await asyncio.gather(
        _ask(judge, judge_request(judge, item.messages, answer, reference)),
        _ask(judge, judge_request(judge, item.messages, reference, answer)),
    )
    first = _verdict(parse_winner(one) if one is not None else None, "A")
    second = _verdict(parse_winner(two) if two is not None else None, "B")
    judged = Judged(item, answer, reference, first, second, error=e1 or e2)
    if first is None or second is None:
        judged.outcome = "unjudged"
    elif first == second:
        judged.outcome = {"student": "win", "other": "loss", "tie": "tie"}[first]  # type: ignore[assignment]
    else:
        judged.outcome, judged.disagreement = "tie", True
    return judged


async def judge_items(
    items: Sequence[EvalItem],
    student: Teacher,
    judge: Teacher,
    *,
    other: Teacher | None = None,
    options: dict[str, Any] | None = None,
    concurrency: int = 8,
) -> list[Judged]:
    """Answer and judge every item (``other``: compare with that teacher's answer instead of
    the reference), ``concurrency`` items at a time; results in item order."""
    gate = asyncio.Semaphore(max(1, concurrency))
    opts = dict(options or {})

    async def one(item: EvalItem) -> Judged:
        async with gate:
            return await _judge_one(item, student, judge, other, opts)

    return list(await asyncio.gather(*(one(item) for item in items)))


def wilson(successes: int, n: int, z: float = 1.959964) -> dict[str, float | None]:
    """The share ``successes / n`` with its Wilson score interval (95% by default)."""
    if n <= 0:
        return {"value": None, "low": None, "high": None}
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half)}


def bootstrap_score(points: Sequence[float], seed: int = 0) -> dict[str, float | None]:
    """Mean of ``points`` (1 win, 0.5 tie, 0 loss) with a 95% percentile bootstrap interval."""
    if not points:
        return {"value": None, "low": None, "high": None}
    values = np.asarray(points, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    picks = rng.integers(0, len(values), size=(_RESAMPLES, len(values)))
    means = values[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {"value": float(values.mean()), "low": float(low), "high": float(high)}


_POINTS = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def _counts(results: Sequence[Judged], seed: int) -> dict[str, Any]:
    outcomes = [r.outcome for r in results]
    wins, ties, losses = (outcomes.count(k) for k in ("win", "tie", "loss"))
    judged = wins + ties + losses
    return {
        "prompts": len(results),
        "judged": judged,
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "disagreements": sum(1 for r in results if r.disagreement),
        "unjudged": outcomes.count("unjudged"),
        "failed": outcomes.count("failed"),
        "score": bootstrap_score([_POINTS[o] for o in outcomes if o in _POINTS], seed),
    }


def summarise(results: Sequence[Judged], *, seed: int = 0) -> dict[str, Any]:
    """Counts, rates (Wilson), score (bootstrap) and the same per group value."""
    out = _counts(results, seed)
    judged = out["judged"]
    out["rates"] = {
        name: wilson(out[key], judged)
        for name, key in (("win", "wins"), ("tie", "ties"), ("loss", "losses"))
    }
    by: dict[str, dict[str, Any]] = {}
    names = sorted({g for r in results for g in r.item.groups})
    for name in names:
        values = sorted({r.item.groups[name] for r in results if name in r.item.groups})
        by[name] = {
            value: _counts([r for r in results if r.item.groups.get(name) == value], seed)
            for value in values
        }
    out["by"] = by
    return out
