"""The statistics the instruction recipes report at the end of a run, after the tables of the
Self-Instruct paper: instructions parsed and kept, drops per reason, instances per instruction,
the ROUGE-L of kept instructions to the seeds, and lengths in words."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from teachkit.generators.instruct.pool import InstructionPool
from teachkit.records import Record

__all__ = ["RunStats"]


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
