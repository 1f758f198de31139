"""What Self-Instruct and Alpaca share: instruction rules, the growing instruction pool, the
request mode, instance parsing and the statistics reported at the end of a run."""

from __future__ import annotations

import re
import statistics
import string
from abc import abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.errors import RecipeError
from teachkit.formats.seeds import SHIPPED_SEEDS, load_seed_tasks
from teachkit.generators.base import Generator, GeneratorContext, Job
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.recipe.paths import InputPath
from teachkit.records import Record
from teachkit.similarity.rouge import RougeLIndex
from teachkit.teachers.backend import Capabilities, Request

__all__ = [
    "ALPACA_BLACKLIST",
    "SELF_INSTRUCT_BLACKLIST",
    "InstructionGenerator",
    "InstructionPool",
    "InstructionRules",
    "InstructionSpecBase",
    "Novelty",
    "RunStats",
    "filter_instances",
    "instruction_record",
    "make_request",
    "normalize_whitespace",
    "parse_classification_instances",
    "parse_generation_instances",
    "resolve_mode",
    "split_numbered_list",
]

#: words that point at tasks a text-only model cannot do (Self-Instruct's list)
SELF_INSTRUCT_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
#: Alpaca adds media words
ALPACA_BLACKLIST: tuple[str, ...] = (
    *SELF_INSTRUCT_BLACKLIST, "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip

Mode = Literal["completion", "chat"]
_SPACES = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def resolve_mode(mode: str, capabilities: Capabilities) -> Mode:
    """``auto`` means raw completion when the backend has it, chat otherwise."""
    if mode == "completion":
        if not capabilities.completion:
            raise RecipeError(
                "generator.mode is 'completion', but the teacher backend only takes chat "
                "messages. Set generator.mode to 'chat' or 'auto'."
            )
        return "completion"
    if mode == "chat":
        if not capabilities.chat:
            raise RecipeError(
                "generator.mode is 'chat', but the teacher backend only takes raw prompts. "
                "Set generator.mode to 'completion' or 'auto'."
            )
        return "chat"
    return "completion" if capabilities.completion else "chat"


def make_request(
    mode: Mode, prompt: str, chat_text: str, options: dict[str, Any], sampling: dict[str, Any]
) -> Request:
    """A raw-prompt request, or a one-user-turn chat request with ``chat_text``.

    ``options`` (the stage's own settings) win over the recipe's ``sampling``, which fills in the
    rest (seed, frequency penalty, ...); ``n`` is left out, as one answer is read per request.
    """
    merged = {key: value for key, value in sampling.items() if key != "n"}
    merged.update(options)
    if mode == "completion":
        return Request(prompt=prompt, options=merged)
    return Request(messages=[{"role": "user", "content": chat_text}], options=merged)


@dataclass(frozen=True)
class InstructionRules:
    """The cheap instruction filters of Self-Instruct and Alpaca; ``check`` gives a drop reason."""

    min_words: int = 4
    max_words: int = 150
    blacklist: tuple[str, ...] = SELF_INSTRUCT_BLACKLIST
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.blacklist:
            words = "|".join(re.escape(w) for w in self.blacklist)
            object.__setattr__(self, "_pattern", re.compile(rf"\b({words})\b", re.IGNORECASE))

    def check(self, instruction: str) -> tuple[str, dict[str, Any]] | None:
        """None to keep, else (reason, detail)."""
        words = len(instruction.split())
        if words < self.min_words:
            return "too_short", {"words": words}
        if words > self.max_words:
            return "too_long", {"words": words}
        found = self._pattern.search(instruction) if self._pattern else None
        if found:
            return "blacklisted_word", {"word": found.group(1).lower()}
        if instruction.lower().startswith("write a program"):
            return "write_a_program", {}
        if instruction[0] in string.punctuation:
            return "starts_with_punctuation", {}
        if not instruction[0].isascii():
            return "starts_with_non_ascii", {}
        return None


@dataclass(frozen=True, slots=True)
class Novelty:
    kept: bool
    rouge_max: float
    most_similar: str
    rouge_max_seed: float


class InstructionPool:
    """The seed instructions plus every machine instruction accepted so far, in order."""

    def __init__(self, seeds: list[str], threshold: float) -> None:
        self.index = RougeLIndex(seeds)
        self.n_seeds = len(seeds)
        self.threshold = threshold
        #: each machine instruction's highest ROUGE-L to a seed, in pool order
        self.rouge_max_seed: list[float] = []

    @property
    def machine(self) -> list[str]:
        return self.index.texts[self.n_seeds :]

    def judge(self, instruction: str) -> Novelty:
        """Score a candidate against the whole pool (it is not added)."""
        scores = self.index.scores(instruction)
        if not len(scores):
            return Novelty(True, 0.0, "", 0.0)
        best = int(scores.argmax())
        seed_max = float(scores[: self.n_seeds].max()) if self.n_seeds else 0.0
        top = float(scores[best])
        return Novelty(top <= self.threshold, top, self.index.texts[best], seed_max)

    def add(self, instruction: str, rouge_max_seed: float | None = None) -> None:
        if rouge_max_seed is None:
            scores = self.index.scores(instruction)[: self.n_seeds]
            rouge_max_seed = float(scores.max()) if len(scores) else 0.0
        self.index.add(instruction)
        self.rouge_max_seed.append(rouge_max_seed)


_ITEM = re.compile(r"\s*\d+\s?\.\s")


def split_numbered_list(text: str, chat: bool) -> list[str]:
    """Items of a numbered list whose first number was already in the prompt (Self-Instruct).

    A raw completion continues right after ``"9."``. A chat reply may open with a line such as
    "Here are more tasks:", repeat the number 9, put blank lines between items and end with a
    remark; all of that is cut off.
    """
    if chat:
        lines = text.strip().splitlines()
        while len(lines) > 1 and not _ITEM.match(lines[0]) and lines[0].rstrip().endswith(":"):
            lines.pop(0)
        kept: list[str] = []
        after_blank = False
        for line in lines:
            if not line.strip():
                after_blank = True
                continue
            if after_blank and not _ITEM.match(line):
                break
            after_blank = False
            kept.append(line.strip())
        text = re.sub(r"^\s*\d+\s?\.\s?", "", "\n".join(kept), count=1)
    return re.split(r"\n\d+\s?\. ", text)


# --- instance stage of Self-Instruct ---------------------------------------------------------
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_EXAMPLE = re.compile(r"(?m)^[ \t]*Example\s?\d*\.?")

Pair = tuple[str, str]


def _input_output(text: str) -> Pair:
    parts = _OUTPUT.split(text)
    if len(parts) > 1:
        given, answer = parts[0].strip(), parts[1].strip()
    else:
        given, answer = "", text.strip()
    answer = _INPUT.split(answer)[0].strip()  # a second pair run into the first
    given = re.sub(r"^Input\s*\d*\s*:", "", given).strip()
    return given, answer


def parse_generation_instances(text: str) -> list[Pair]:
    """(input, output) pairs of an input-first answer: ``Example N`` blocks or one ``Output:``."""
    text = text.strip()
    if _EXAMPLE.search(text):
        blocks = [b.strip() for b in _EXAMPLE.split(text)]
        return [_input_output(b) for b in blocks if b]
    if _OUTPUT.search(text):
        return [_input_output(text)]
    return []


def parse_classification_instances(text: str) -> list[Pair]:
    """(input, label) pairs of an output-first answer: ``Class label: X`` then the input."""
    if "Class label:" not in text:
        return []
    pairs: list[Pair] = []
    for block in text.split("Class label:")[1:]:
        label, _, given = block.strip().partition("\n")
        pairs.append((given.strip(), label.strip()))
    return pairs


def filter_instances(
    pairs: list[Pair], truncated: bool, limit: int
) -> tuple[list[Pair], list[tuple[Pair, str]]]:
    """Self-Instruct's instance filters, in its order; returns (kept, [(pair, reason)])."""
    dropped: list[tuple[Pair, str]] = []
    if truncated and pairs:
        dropped.append((pairs[-1], "truncated"))
        pairs = pairs[:-1]
    valid: list[Pair] = []
    for given, answer in pairs:
        if given == answer:
            dropped.append(((given, answer), "input_equals_output"))
        elif not answer:
            dropped.append(((given, answer), "empty_output"))
        elif given.endswith(":") or answer.endswith(":"):
            dropped.append(((given, answer), "incomplete"))
        else:
            valid.append((given, answer))
    outputs: dict[str, str] = {}
    for given, answer in valid:
        if given and outputs.setdefault(given, answer) != answer:
            return [], dropped + [(pair, "conflicting_outputs") for pair in valid]
    kept: list[Pair] = []
    for pair in valid:
        if pair in kept:
            dropped.append((pair, "duplicate"))
        elif len(kept) >= limit:
            dropped.append((pair, "over_limit"))
        else:
            kept.append(pair)
    return kept, dropped


# --- statistics ----------------------------------------------------------------------------
def _histogram(values: list[float], bins: int = 10) -> dict[str, int]:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return {f"{i / bins:.1f}-{(i + 1) / bins:.1f}": c for i, c in enumerate(counts)}


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(values),
        "min": ordered[0],
        "mean": round(statistics.fmean(values), 2),
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
    }


@dataclass
class RunStats:
    """Counts behind the statistics tables of the Self-Instruct paper."""

    prompts: int = 0
    parsed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    classified: int = 0
    classification: int = 0
    accepted: int = 0
    empty_input: int = 0
    per_task: Counter[str] = field(default_factory=Counter)
    instruction_words: list[int] = field(default_factory=list)
    input_words: list[int] = field(default_factory=list)
    output_words: list[int] = field(default_factory=list)

    def accept_record(self, record: Record) -> None:
        """Count an accepted record made by one of the instruction recipes."""
        meta = record.meta
        self.accept(
            str(meta.get("task", "")),
            str(meta.get("instruction", "")),
            str(meta.get("input", "")),
            record.assistant,
        )

    def accept(self, task: str, instruction: str, given: str, answer: str) -> None:
        self.accepted += 1
        if task not in self.per_task:
            self.instruction_words.append(len(instruction.split()))
        self.per_task[task] += 1
        if given:
            self.input_words.append(len(given.split()))
        else:
            self.empty_input += 1
        self.output_words.append(len(answer.split()))

    def as_dict(self, pool: InstructionPool, classify: bool) -> dict[str, Any]:
        kept = len(pool.machine)
        out: dict[str, Any] = {
            "prompts": self.prompts,
            "instructions": {
                "parsed": self.parsed,
                "kept": kept,
                "with_accepted_records": len(self.per_task),
            },
            "dropped": dict(sorted(self.dropped.items())),
            "accepted_records": self.accepted,
            "instances_per_instruction": (
                round(self.accepted / len(self.per_task), 3) if self.per_task else None
            ),
            "empty_input_fraction": (
                round(self.empty_input / self.accepted, 3) if self.accepted else None
            ),
            "rouge_max_seed_histogram": _histogram(pool.rouge_max_seed),
            "lengths_words": {
                "instruction": _summary(self.instruction_words),
                "input_nonempty": _summary(self.input_words),
                "output": _summary(self.output_words),
            },
        }
        if classify:
            out["classification_fraction"] = (
                round(self.classification / self.classified, 3) if self.classified else None
            )
        return out


def instruction_record(instruction: str, given: str, answer: str, meta: dict[str, Any]) -> Record:
    """A training example from an instruction, its optional input and the output."""
    user = f"{instruction}\n\n{given}" if given else instruction
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        meta=meta,
    )


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
