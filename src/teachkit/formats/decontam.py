"""Find training examples whose user turn overlaps a validation input.

Three tests, any one marks a candidate as contaminated:

* **exact**: the candidate is the same text as a validation input (after stripping whitespace),
  whatever it is made of (a text of no ASCII word, e.g. Japanese, has no tokens for the other
  two tests);
* **long n-gram**: the candidate shares a run of ``ngram`` words (default 13) with a validation
  input;
* **ROUGE-L**: the ROUGE-L F score between the candidate and a validation input is above
  ``threshold`` (default 0.7; "above", as in the novelty filter).

Validation inputs are tokenised once and put into an inverted index (token -> inputs with its
count). ROUGE-L F is ``2 * LCS / (len_a + len_b)`` and the LCS is at most the number of tokens the
two texts share (counted with multiplicity), so ``2 * shared / (len_a + len_b)`` bounds the score
from above; ROUGE-L is computed only for the inputs whose bound reaches the threshold, best bound
first, stopping at the first hit. Tokens are lowercase ASCII letters and digits, as in rouge_score
(:func:`teachkit.similarity.rouge.rouge_tokens`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from teachkit.records import Record
from teachkit.similarity.rouge import rouge_l, rouge_tokens

__all__ = ["Contamination", "Decontaminator", "user_text"]

Scorer = Callable[[str, str], float]


def user_text(record: Record) -> str:
    """All user turns of ``record`` joined by newlines: what decontamination compares."""
    return "\n".join(m["content"] for m in record.messages if m["role"] == "user")


@dataclass(frozen=True, slots=True)
class Contamination:
    """Why a candidate was dropped: which test, which validation input, how much it overlapped."""

    test: str  # "exact", "ngram" or "rouge_l"
    reference: int  # index of the validation input
    score: float  # ROUGE-L F for "rouge_l", 1.0 for "exact" and "ngram"
    detail: str

    def reason(self) -> str:
        if self.test == "exact":
            return f"is the same text as validation input {self.reference}"
        if self.test == "ngram":
            return f"shares a long n-gram with validation input {self.reference}: {self.detail!r}"
        return f"ROUGE-L {self.score:.3f} with validation input {self.reference} ({self.detail})"


class Decontaminator:
    """Checks candidate texts against a fixed list of validation inputs (``references``)."""

    def __init__(
        self,
        references: Sequence[str],
        *,
        threshold: float = 0.7,
        ngram: int = 13,
        scorer: Scorer | None = None,
    ) -> None:
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        if ngram < 0:
            raise ValueError(f"ngram must be >= 0 (0 turns the n-gram test off), got {ngram}")
        self.threshold = threshold
        self.ngram = ngram
        self._scorer = scorer or rouge_l
        self._texts = list(references)
        self._exact: dict[str, int] = {}
        for position, text in enumerate(self._texts):
            self._exact.setdefault(text.strip(), position)
        self.rouge_calls = 0
        token_lists = [rouge_tokens(text) for text in self._texts]
        self._lengths = np.array([len(t) for t in token_lists], dtype=np.float64)
        self._index = self._build_index(token_lists)
        self._ngrams: dict[tuple[str, ...], int] = {}
        if ngram:
            for position, toks in enumerate(token_lists):
                for gram in self._grams(toks):
                    self._ngrams.setdefault(gram, position)

    @staticmethod
    def _build_index(
        token_lists: list[list[str]],
    ) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for position, toks in enumerate(token_lists):
            for token, count in Counter(toks).items():
                ids, counts = postings.setdefault(token, ([], []))
                ids.append(position)
                counts.append(count)
        return {
            token: (np.array(ids, dtype=np.int64), np.array(counts, dtype=np.int64))
            for token, (ids, counts) in postings.items()
        }

    def _grams(self, toks: list[str]) -> list[tuple[str, ...]]:
        n = self.ngram
        return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]

    def check(self, text: str) -> Contamination | None:
        """The first overlap found between ``text`` and a validation input, or None."""
        same = self._exact.get(text.strip()) if text.strip() else None
        if same is not None:
            return Contamination("exact", same, 1.0, "same text")
        toks = rouge_tokens(text)
        if not toks or not self._texts:
            return None
        if self.ngram:
            for gram in self._grams(toks):
                hit = self._ngrams.get(gram)
                if hit is not None:
                    return Contamination("ngram", hit, 1.0, " ".join(gram))
        return self._check_rouge(text, toks)

    def _check_rouge(self, text: str, toks: list[str]) -> Contamination | None:
        shared = np.zeros(len(self._texts), dtype=np.int64)
        for token, count in Counter(toks).items():
            posting = self._index.get(token)
            if posting is not None:
                ids, counts = posting
                shared[ids] += np.minimum(counts, count)
        bound = 2.0 * shared / (len(toks) + self._lengths)
        # the tolerance keeps float rounding in the bound from hiding a score just above it
        candidates = np.nonzero(bound > self.threshold - 1e-9)[0]
        for position in candidates[np.argsort(-bound[candidates], kind="stable")]:
            self.rouge_calls += 1
            score = self._scorer(text, self._texts[int(position)])
            if score > self.threshold:
                return Contamination("rouge_l", int(position), score, f"above {self.threshold}")
        return None
