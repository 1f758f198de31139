"""The ``judge`` scorer: a language model grades the candidates, in one of two modes.

``mode: ratings`` (UltraFeedback's way): each candidate is rated on its own, from 1 to ``scale``,
on each aspect (default helpfulness, honesty, instruction following, truthfulness); its value is
the mean of the aspect ratings, and a candidate whose ratings cannot all be read is unscored.

``mode: pairwise``: every pair of candidates is shown twice, A then B and B then A, and the judge
names the better one (or a tie). A comparison counts only when both orders agree; the record
keeps every comparison (``meta.comparisons[<name>]``: ``a``, ``b``, ``first`` and ``second``
verdicts, ``status`` agree / tie / disagree / unparseable, ``winner``), a candidate's value is its
agreed wins (a half for an agreed tie), and the export pairs two candidates only when the chosen
one won their comparison in both orders (else ``order_disagreement`` or ``judged_tie``).

Requests are deterministic (temperature 0, sample 0), so a resumed run finds every judgement in
the request cache. A judge request that fails leaves its candidate (or comparison) unscored; a
misconfigured judge or an open circuit stops the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from typing import Any, ClassVar, Literal

from pydantic import Field

from teachkit.errors import CircuitOpenError, ConfigError, RecipeError, TeacherError
from teachkit.generators.preference.scorers.base import (
    Prompt,
    Scorer,
    ScorerContext,
    ScorerSpecBase,
    Scores,
    conversation_text,
)
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.teacher import Teacher

__all__ = ["ASPECTS", "JudgeScorer", "JudgeScorerSpec", "parse_ratings", "parse_winner"]

log = logging.getLogger("teachkit")

#: UltraFeedback's four aspects, described in teachkit's words
ASPECTS: dict[str, str] = {
    "helpfulness": "useful, relevant and complete for what was asked",
    "honesty": "says when it is unsure and claims nothing it cannot know",
    "instruction_following": "does what was asked, in the form that was asked",
    "truthfulness": "free of factual errors and invented details",
}
_SYSTEM = "You are a strict, fair grader. You answer with one JSON object and nothing else."
_WINNER = re.compile(r"\b(?:winner|better|prefer\w*)\b[\"'*:\s=]*\b(A|B|tie)\b", re.IGNORECASE)
_ALONE = re.compile(r"^\W*(A|B|tie)\W*$", re.IGNORECASE)


class JudgeScorerSpec(ScorerSpecBase):
    kind: Literal["judge"] = "judge"
    #: ratings (each candidate alone) or pairwise (every pair, in both orders)
    mode: Literal["ratings", "pairwise"] = "ratings"
    #: the judge's own teacher; unset: the recipe's teacher
    teacher: TeacherConfig | None = None
    #: what is judged: aspect name -> what it means (default: UltraFeedback's four)
    aspects: dict[str, str] = Field(default_factory=lambda: dict(ASPECTS), min_length=1)
    #: extra guidance for the judge, added to its prompt
    rubric: str | None = None
    #: ratings run from 1 to this
    scale: int = Field(default=10, ge=2, le=100)
    max_tokens: int = Field(default=256, ge=16, le=8192)
    #: ask for the JSON answer natively (schema / grammar) where the judge's backend can; off,
    #: the prompt alone asks for it (small models rate more freely without a grammar)
    native_json: bool = True

    def build(self, ctx: ScorerContext) -> JudgeScorer:
        for aspect in self.aspects:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", aspect):
                raise RecipeError(
                    f"The judge aspect {aspect!r} is not a lowercase word (letters, digits, _)."
                )
        name = self.name or "judge"
        teacher = None
        if ctx.teacher_factory is not None:
            teacher = ctx.teacher_factory(self.teacher, f"scorer:{name}")
        options = self.teacher.sampling.as_options() if self.teacher is not None else {}
        options.pop("n", None)
        options["temperature"] = 0.0
        options["max_tokens"] = self.max_tokens
        return JudgeScorer(self, name, teacher, options)


class JudgeScorer(Scorer):
    kind: ClassVar[str] = "judge"

    def __init__(
        self,
        spec: JudgeScorerSpec,
        name: str,
        teacher: Teacher | None,
        options: dict[str, Any],
    ) -> None:
        super().__init__(name)
        self.spec = spec
        self.teacher = teacher
        self.options = options
        self.outcomes: Counter[str] = Counter()

    # --- requests -----------------------------------------------------------------------------
    def _request(self, prompt: str, schema: dict[str, Any]) -> Request:
        json_schema = (
            schema if self.teacher is not None and self.teacher.capabilities.json_schema else None
        )
        messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]
        return Request(messages=messages, options=dict(self.options), json_schema=json_schema)

    def _guidance(self) -> str:
        return f"\n{self.spec.rubric.strip()}\n" if self.spec.rubric else ""

    def rating_request(self, prompt: Prompt, answer: str) -> Request:
        aspects = "\n".join(f"- {k}: {v}" for k, v in self.spec.aspects.items())
        keys = ", ".join(f'"{k}": <1-{self.spec.scale}>' for k in self.spec.aspects)
        text = (
            f"Rate one answer to a request on each aspect below, from 1 (worst) to "
            f"{self.spec.scale} (best).\n\nAspects:\n{aspects}\n{self._guidance()}\n"
            f"The request:\n{conversation_text(prompt.messages)}\n\nThe answer:\n{answer}\n\n"
            "First say in one short sentence what the answer does well and badly, then rate it. "
            f'Answer with JSON only: {{"reason": "<one short sentence>", {keys}}}'
        )
        scale = {"type": "integer", "minimum": 1, "maximum": self.spec.scale}
        # the reason comes first, so a judge that writes in order rates after it has reasoned
        schema = {
            "type": "object",
            "properties": {"reason": {"type": "string"}, **{k: scale for k in self.spec.aspects}},
            "required": ["reason", *self.spec.aspects],
            "additionalProperties": False,
        }
        return self._request(text, schema)

    def comparison_request(self, prompt: Prompt, first: str, second: str) -> Request:
        aspects = "; ".join(f"{k} ({v})" for k, v in self.spec.aspects.items())
        text = (
            "Compare two answers to the same request and say which one is better overall, "
            f"judging: {aspects}.\n{self._guidance()}\n"
            f"The request:\n{conversation_text(prompt.messages)}\n\n"
            f"Answer A:\n{first}\n\nAnswer B:\n{second}\n\n"
            'Answer with JSON only: {"winner": "A" or "B" or "tie", "reason": "<one short '
            'sentence>"}'
        )
        schema = {
            "type": "object",
            "properties": {"winner": {"enum": ["A", "B", "tie"]}, "reason": {"type": "string"}},
            "required": ["winner", "reason"],
            "additionalProperties": False,
        }
        return self._request(text, schema)

    async def _ask(self, request: Request) -> str | None:
        if self.teacher is None:
            raise RecipeError("The judge scorer has no teacher here (a dry run does not score).")
        try:
            response = await self.teacher.complete(request)
        except (ConfigError, CircuitOpenError):
            raise  # every later judgement would fail the same way: stop, resume later
        except TeacherError:
            self.outcomes["failed"] += 1
            return None
        if log.isEnabledFor(logging.DEBUG):
            key = self.teacher.key(request)
            log.debug("answer job=%s key=%s cached=%d", self.name, key, int(response.cached))
        return response.text

    # --- scoring ------------------------------------------------------------------------------
    async def score(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        if self.spec.mode == "ratings":
            return await self._ratings(prompt, candidates)
        return await self._pairwise(prompt, candidates)

    async def _ratings(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        answers = await asyncio.gather(
            *(self._ask(self.rating_request(prompt, text)) for text in candidates)
        )
        values: list[float | None] = []
        details: list[dict[str, Any]] = []
        for answer in answers:
            if answer is None:
                values.append(None)
                details.append({"reason": "judge_failed"})
                continue
            parsed = parse_ratings(answer, list(self.spec.aspects), self.spec.scale)
            if parsed is None:
                self.outcomes["unparseable"] += 1
                values.append(None)
                details.append({"reason": "judge_unparseable", "answer": answer[:300]})
                continue
            ratings, reason = parsed
            self.outcomes["rated"] += 1
            values.append(round(sum(ratings.values()) / len(ratings), 6))
            details.append({"ratings": ratings, "reason": reason})
        return Scores(values, details)

    async def _pairwise(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        pairs = list(combinations(range(len(candidates)), 2))
        asks = []
        for a, b in pairs:
            asks.append(self._ask(self.comparison_request(prompt, candidates[a], candidates[b])))
            asks.append(self._ask(self.comparison_request(prompt, candidates[b], candidates[a])))
        answers = await asyncio.gather(*asks)
        wins = [0.0] * len(candidates)
        judged = [0] * len(candidates)
        comparisons: list[dict[str, Any]] = []
        for number, (a, b) in enumerate(pairs):
            first = _verdict(answers[2 * number], a, b)  # a shown as A
            second = _verdict(answers[2 * number + 1], b, a)  # b shown as A
            item: dict[str, Any] = {"a": a, "b": b, "first": first, "second": second}
            if first is None or second is None:
                failed = answers[2 * number] is None or answers[2 * number + 1] is None
                item["status"], item["winner"] = ("failed" if failed else "unparseable"), None
            elif first == second == "tie":
                item["status"], item["winner"] = "tie", "tie"
                wins[a] += 0.5
                wins[b] += 0.5
            elif first == second:
                item["status"], item["winner"] = "agree", first
                wins[int(first)] += 1.0
            else:
                item["status"], item["winner"] = "disagree", None
            if item["status"] in ("agree", "tie", "disagree"):
                judged[a] += 1
                judged[b] += 1
            self.outcomes[item["status"]] += 1
            comparisons.append(item)
        values: list[float | None] = [w if n else None for w, n in zip(wins, judged, strict=True)]
        details = [{"wins": w, "comparisons": n} for w, n in zip(wins, judged, strict=True)]
        return Scores(values, details, comparisons)

    def stats(self) -> dict[str, Any]:
        return {"mode": self.spec.mode, **dict(self.outcomes)} if self.outcomes else {}


def _verdict(answer: str | None, shown_a: int, shown_b: int) -> int | str | None:
    """The candidate index the judge preferred ('tie' for a tie, None when unreadable)."""
    if answer is None:
        return None
    winner = parse_winner(answer)
    if winner is None:
        return None
    return "tie" if winner == "tie" else shown_a if winner == "A" else shown_b


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(20):
        if start == -1:
            return None
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def parse_winner(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a pairwise judge's answer (None when unreadable)."""
    found = _first_object(text)
    if found is not None and isinstance(found.get("winner"), str):
        value = found["winner"].strip().strip(".").lower()
        return {"a": "A", "b": "B", "tie": "tie"}.get(value)
    match = _WINNER.search(text) or _ALONE.match(text)
    if match is None:
        return None
    value = match[1].lower()
    return "tie" if value == "tie" else value.upper()


def parse_ratings(text: str, aspects: list[str], scale: int) -> tuple[dict[str, float], str] | None:
    """``({aspect: rating}, reason)`` from a ratings judge's answer; None unless every aspect
    has a rating from 1 to ``scale``."""
    found = _first_object(text)
    if found is None:
        return None
    ratings: dict[str, float] = {}
    for aspect in aspects:
        value = found.get(aspect)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not 1 <= value <= scale:
            return None
        ratings[aspect] = float(value)
    reason = found.get("reason", "")
    return ratings, reason if isinstance(reason, str) else json.dumps(reason)
