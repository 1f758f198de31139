"""The growing task pool of the instruction recipes: the seed instructions, then every machine
instruction accepted so far, and the ROUGE-L novelty check of a candidate against all of them."""

from __future__ import annotations

from dataclasses import dataclass

from teachkit.similarity.rouge import RougeLIndex

__all__ = ["InstructionPool", "Novelty"]


@dataclass(frozen=True, slots=True)
class Novelty:
    """How a candidate compares with the pool."""

    #: the highest ROUGE-L to any member is at most the threshold
    kept: bool
    rouge_max: float
    #: the member with the highest ROUGE-L ('' for an empty pool)
    most_similar: str
    #: the highest ROUGE-L to a seed
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
        """Append a machine instruction; its ROUGE-L to the seeds is computed when not given."""
        if rouge_max_seed is None:
            scores = self.index.scores(instruction)[: self.n_seeds]
            rouge_max_seed = float(scores.max()) if len(scores) else 0.0
        self.index.add(instruction)
        self.rouge_max_seed.append(rouge_max_seed)
