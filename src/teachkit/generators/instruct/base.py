"""What Self-Instruct and Alpaca share: their common recipe keys, the instruction rules, the
training record of an instruction, and the generator base that loads the seeds, resolves the
request mode, sets up the pool and the statistics, and paces the list prompts."""

from __future__ import annotations

import string
from abc import abstractmethod
from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.filters.rules import length_problem, whole_words
from teachkit.formats.seeds import SHIPPED_SEEDS, load_seed_tasks
from teachkit.generators.base import Generator, GeneratorContext, Job
from teachkit.generators.instruct.pool import InstructionPool
from teachkit.generators.instruct.prompts import resolve_mode
from teachkit.generators.instruct.stats import RunStats
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.recipe.paths import InputPath
from teachkit.records import Record
from teachkit.similarity.text import word_count

__all__ = [
    "ALPACA_BLACKLIST",
    "SELF_INSTRUCT_BLACKLIST",
    "InstructionGenerator",
    "InstructionRules",
    "InstructionSpecBase",
    "instruction_record",
]

#: words that point at tasks a text-only model cannot do (Self-Instruct's list)
SELF_INSTRUCT_BLACKLIST: tuple[str, ...] = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)
#: Alpaca adds media words
ALPACA_BLACKLIST: tuple[str, ...] = (
    *SELF_INSTRUCT_BLACKLIST,
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)


class InstructionRules:
    """The cheap instruction filters of Self-Instruct and Alpaca: the length and whole-word
    blacklist checks of the ``rules`` filter, then the paper's own three."""

    def __init__(
        self,
        min_words: int = 4,
        max_words: int = 150,
        blacklist: tuple[str, ...] = SELF_INSTRUCT_BLACKLIST,
    ) -> None:
        self.min_words = min_words
        self.max_words = max_words
        self.blacklist = blacklist
        self._blacklisted = whole_words(blacklist)

    def check(self, instruction: str) -> tuple[str, dict[str, Any]] | None:
        """None to keep, else (reason, detail)."""
        words = word_count(instruction)
        problem = length_problem(words, self.min_words, self.max_words)
        if problem is not None:
            return problem, {"words": words}
        found = self._blacklisted.search(instruction) if self._blacklisted else None
        if found:
            return "blacklisted_word", {"word": found[1].lower()}
        if instruction.lower().startswith("write a program"):
            return "write_a_program", {}
        if instruction[0] in string.punctuation:
            return "starts_with_punctuation", {}
        if not instruction[0].isascii():
            return "starts_with_non_ascii", {}
        return None


def instruction_record(instruction: str, given: str, answer: str, meta: dict[str, Any]) -> Record:
    """A training example from an instruction, its optional input and the output."""
    user = f"{instruction}\n\n{given}" if given else instruction
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        meta=meta,
    )


class InstructionSpecBase(GeneratorSpecBase):
    """Recipe keys shared by the instruction recipes; each sets its own defaults for the rest."""

    #: JSONL seed tasks; ``teachkit:seed_tasks.jsonl`` is the small file shipped with teachkit
    seeds: InputPath = SHIPPED_SEEDS
    #: completion: raw prompts; chat: the same prompt in a user turn; auto: completion if possible
    mode: Literal["auto", "completion", "chat"] = "auto"
    prompt_instructions: int
    #: the list stops before this item number
    stop_item: int
    rouge_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    min_words: int = Field(default=4, ge=1)
    max_words: int = Field(default=150, ge=1)
    blacklist: list[str]

    @model_validator(mode="after")
    def _list_fits(self) -> InstructionSpecBase:
        if self.stop_item <= self.prompt_instructions + 1:
            raise ValueError("stop_item must leave room for new items after prompt_instructions")
        if self.min_words > self.max_words:
            raise ValueError("min_words cannot exceed max_words")
        return self


class InstructionGenerator(Generator):
    """What the instruction recipes (Self-Instruct, Alpaca) share: pacing of list prompts,
    provenance, and the paper-style statistics."""

    spec: InstructionSpecBase

    def __init__(self, spec: InstructionSpecBase, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        self.seeds = load_seed_tasks(spec.seeds, ctx.base_dir, ctx.allowed_paths)
        self.mode = resolve_mode(spec.mode, ctx.capabilities)
        self.rules = InstructionRules(spec.min_words, spec.max_words, tuple(spec.blacklist))
        self.pool = InstructionPool([s.instruction for s in self.seeds], spec.rouge_threshold)
        self.stats_ = RunStats()
        self._next_prompt = 0
        self._pending_prompts = 0

    def _in_flight(self) -> int:
        """Records that work already in flight may still yield (one per prompt or task)."""
        return self._pending_prompts

    def next_job(self) -> Job | None:
        done = self.stats_.accepted
        # work in flight counts as one record, so the run does not flood the teacher with
        # prompts it will not need
        if done >= self.count or done + self._in_flight() >= self.count:
            return None
        index = self._next_prompt
        self._next_prompt += 1
        self._pending_prompts += 1
        return self._prompt_job(index)

    @abstractmethod
    def _prompt_job(self, index: int) -> Job:
        """The list prompt number ``index``."""

    def _meta(self, job: Job, **extra: Any) -> dict[str, Any]:
        meta = self.ctx.provenance()
        meta.update({"generator": self.kind, "job": job.key, "stage": job.stage, **extra})
        return meta

    def on_accepted(self, record: Record) -> None:
        self.stats_.accept_record(record)
