"""Preference pairs built at export time from a prompt's scored candidates.

A ``preference`` run stores one record per prompt with every candidate answer and every score
(``meta.candidates``, see docs/preference.md); which two become (chosen, rejected) is decided
here, by the export's :class:`~teachkit.recipe.export.PairingSpec`, so one run serves every
policy. Per prompt:

1. each candidate is normalised (:func:`normalise`: line endings, trailing spaces, reasoning
   blocks), the same way for both sides of every pair; a candidate that is empty, truncated,
   without the reasoning block ``think: require`` asks for, or without a score of a ``rank_by``
   scorer is left out with that reason;
2. a prompt with fewer than two candidates left, or whose candidates all tie (all correct, all
   incorrect, all equal), carries no preference and is skipped with that reason;
3. the policy picks pairs among candidates ranked strictly lower than the chosen one; a pair must
   clear ``min_margin`` on the scorer that decides it, differ in text, fit ``max_length_ratio``,
   and, for a pairwise judge, have been won by the chosen answer in both presentation orders.

Everything left out is counted by reason in export.json (``pairs``) and written to
skipped.jsonl, with the distribution of chosen-minus-rejected lengths.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from teachkit.formats.base import Row
from teachkit.formats.pair_rows import COMPARISON_REASONS, normalise, prompt_turns
from teachkit.recipe.export import PairingSpec
from teachkit.records import Record

__all__ = ["PairBuild", "build_pairs"]


@dataclass(slots=True)
class _Candidate:
    index: int
    text: str
    key: tuple[float, ...]
    teacher: str

    @property
    def length(self) -> int:
        return len(self.text)


@dataclass
class PairBuild:
    """What pairing made of the records: the pair (or labelled) records, and what it left out."""

    records: list[Record] = field(default_factory=list)
    skipped: list[Row] = field(default_factory=list)
    prompts: int = 0
    prompts_paired: int = 0
    passed_through: int = 0
    skipped_prompts: Counter[str] = field(default_factory=Counter)
    dropped_pairs: Counter[str] = field(default_factory=Counter)
    excluded_candidates: Counter[str] = field(default_factory=Counter)
    length_differences: list[int] = field(default_factory=list)

    def report(self, spec: PairingSpec, unpaired: bool) -> dict[str, Any]:
        return {
            "policy": spec.policy,
            "rank_by": spec.rank_by,
            "min_margin": spec.min_margin,
            "max_length_ratio": spec.max_length_ratio,
            "think": spec.think,
            "allow_truncated": spec.allow_truncated,
            "prompts": self.prompts,
            "prompts_paired": self.prompts_paired,
            "pairs": len(self.length_differences),
            "rows": len(self.records),
            "unpaired": unpaired,
            "passed_through": self.passed_through,
            "skipped_prompts": dict(sorted(self.skipped_prompts.items())),
            "dropped_pairs": dict(sorted(self.dropped_pairs.items())),
            "excluded_candidates": dict(sorted(self.excluded_candidates.items())),
            "length_difference": _distribution(self.length_differences),
        }


def _distribution(values: Sequence[int]) -> dict[str, Any]:
    """Chosen-minus-rejected lengths (characters): where a length bias would show."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "mean": round(statistics.fmean(ordered), 3),
        "median": statistics.median(ordered),
        "p10": at(0.1),
        "p90": at(0.9),
        "min": ordered[0],
        "max": ordered[-1],
        "chosen_longer": round(sum(v > 0 for v in ordered) / len(ordered), 4),
        "chosen_shorter": round(sum(v < 0 for v in ordered) / len(ordered), 4),
    }


class _Pairer:
    def __init__(self, spec: PairingSpec, seed: int, unpaired: bool) -> None:
        self.spec = spec
        self.seed = seed
        self.unpaired = unpaired
        self.out = PairBuild()

    # --- one prompt ---------------------------------------------------------------------------
    def prompt(self, record: Record) -> None:
        meta = record.meta
        out = self.out
        out.prompts += 1
        prompt_id = str(meta.get("prompt_id") or record.id)
        scorers = [s for s in meta.get("scorers") or [] if isinstance(s, dict)]
        names = [str(s.get("name")) for s in scorers]
        rank_by = self.spec.rank_by or names
        unknown = [n for n in rank_by if n not in names]
        if not rank_by or unknown:
            self._skip(record, prompt_id, "scorer_missing", {"rank_by": rank_by, "has": names})
            return
        eligible = self._eligible(record, prompt_id, rank_by)
        if len(eligible) < 2:
            self._skip(record, prompt_id, "too_few_candidates", {"eligible": len(eligible)})
            return
        if len({c.key for c in eligible}) == 1:
            kind = next((s.get("kind") for s in scorers if s.get("name") == rank_by[0]), None)
            value = eligible[0].key[0]
            reason = "all_tied"
            if kind == "verifier" and value >= 1.0:
                reason = "all_correct"
            elif kind == "verifier" and value <= 0.0:
                reason = "all_incorrect"
            self._skip(record, prompt_id, reason, {"score": value})
            return
        ranked = sorted(eligible, key=lambda c: (tuple(-v for v in c.key), c.index))
        pairs = self._unique(record, prompt_id, self._choose(record, prompt_id, ranked, rank_by))
        if not pairs:
            return
        out.prompts_paired += 1
        out.length_differences += [chosen.length - rejected.length for chosen, rejected, _ in pairs]
        if self.unpaired:
            self._labelled(record, prompt_id, pairs, rank_by)
        else:
            for chosen, rejected, decided in pairs:
                out.records.append(
                    self._pair(record, prompt_id, chosen, rejected, rank_by, decided)
                )

    def _eligible(self, record: Record, prompt_id: str, rank_by: list[str]) -> list[_Candidate]:
        eligible: list[_Candidate] = []
        for index, raw in enumerate(record.meta.get("candidates") or []):
            if not isinstance(raw, dict):
                continue
            text, problem = normalise(str(raw.get("text") or ""), self.spec.think)
            found = raw.get("scores")
            scores: dict[str, Any] = found if isinstance(found, dict) else {}
            missing = [n for n in rank_by if not isinstance(scores.get(n), int | float)]
            if problem is None and raw.get("finish_reason") == "length":
                problem = None if self.spec.allow_truncated else "truncated"
            if problem is None and missing:
                problem = "missing_score"
            if problem is not None:
                self.out.excluded_candidates[problem] += 1
                detail = {"candidate": index, "teacher": raw.get("teacher")}
                if problem == "missing_score":
                    detail["scorers"] = missing
                self._entry(record, prompt_id, problem, detail)
                continue
            key = tuple(float(scores[n]) for n in rank_by)
            eligible.append(_Candidate(index, text, key, str(raw.get("teacher") or "")))
        return eligible

    def _check(
        self, record: Record, chosen: _Candidate, rejected: _Candidate, rank_by: list[str]
    ) -> tuple[str | None, int]:
        """(why the pair is not valid or None, the index of the scorer that decides it)."""
        decided = next(
            i for i, (a, b) in enumerate(zip(chosen.key, rejected.key, strict=True)) if a != b
        )
        name = rank_by[decided]
        if chosen.text == rejected.text:
            return "identical", decided
        comparisons = (record.meta.get("comparisons") or {}).get(name)
        if isinstance(comparisons, list):
            reason = _comparison_problem(comparisons, chosen.index, rejected.index)
            if reason is not None:
                return reason, decided
        margin = chosen.key[decided] - rejected.key[decided]
        limit = self.spec.min_margin
        floor = limit.get(name, 0.0) if isinstance(limit, dict) else limit
        if margin < floor:
            return "below_margin", decided
        ratio = self.spec.max_length_ratio
        if ratio is not None:
            short, long = sorted((max(1, chosen.length), max(1, rejected.length)))
            if long / short > ratio:
                return "length_ratio", decided
        return None, decided

    def _choose(
        self, record: Record, prompt_id: str, ranked: list[_Candidate], rank_by: list[str]
    ) -> list[tuple[_Candidate, _Candidate, int]]:
        policy = self.spec.policy
        if policy == "all_above_margin":
            pairs = []
            for i, chosen in enumerate(ranked):
                for rejected in ranked[i + 1 :]:
                    if rejected.key == chosen.key:
                        self._drop_pair(record, prompt_id, "tie", chosen, rejected)
                        continue
                    reason, decided = self._check(record, chosen, rejected, rank_by)
                    if reason is None:
                        pairs.append((chosen, rejected, decided))
                    else:
                        self._drop_pair(record, prompt_id, reason, chosen, rejected)
            if not pairs:
                self._skip(record, prompt_id, "no_valid_pair", {})
            return pairs
        best = ranked[0]
        lower = [c for c in ranked if c.key < best.key]
        if policy == "best_vs_worst":
            lower.reverse()
        failures: Counter[str] = Counter()
        valid: list[tuple[_Candidate, _Candidate, int]] = []
        for rejected in lower:
            reason, decided = self._check(record, best, rejected, rank_by)
            if reason is not None:
                failures[reason] += 1
                continue
            valid.append((best, rejected, decided))
            if policy != "best_vs_random_lower":
                break
        if not valid:
            reason = failures.most_common(1)[0][0]
            self._skip(record, prompt_id, reason, {"tried": dict(failures)})
            return []
        if policy == "best_vs_random_lower":
            return [random.Random(f"{self.seed}:{prompt_id}").choice(valid)]
        return valid

    def _unique(
        self, record: Record, prompt_id: str, pairs: list[tuple[_Candidate, _Candidate, int]]
    ) -> list[tuple[_Candidate, _Candidate, int]]:
        """The pairs with distinct texts (two candidates with one text make one pair, once)."""
        seen: set[tuple[str, str]] = set()
        unique = []
        for chosen, rejected, decided in pairs:
            if (chosen.text, rejected.text) in seen:
                self._drop_pair(record, prompt_id, "duplicate_pair", chosen, rejected)
                continue
            seen.add((chosen.text, rejected.text))
            unique.append((chosen, rejected, decided))
        return unique

    # --- results ------------------------------------------------------------------------------
    def _base_meta(self, record: Record, prompt_id: str) -> dict[str, Any]:
        meta = record.meta
        out: dict[str, Any] = {
            "source": meta.get("source", "synthetic"),
            "prompt_id": prompt_id,
            "group": meta.get("group") or prompt_id,
            "record": record.id,
        }
        for key in ("recipe", "origin", "axes"):
            if key in meta:
                out[key] = meta[key]
        return out

    def _pair(
        self,
        record: Record,
        prompt_id: str,
        chosen: _Candidate,
        rejected: _Candidate,
        rank_by: list[str],
        decided: int,
    ) -> Record:
        meta = self._base_meta(record, prompt_id)
        meta["pair"] = {
            "prompt_id": prompt_id,
            "policy": self.spec.policy,
            "scorer": rank_by[decided],
            "chosen": chosen.index,
            "rejected": rejected.index,
            "score_chosen": chosen.key[decided],
            "score_rejected": rejected.key[decided],
            "margin": round(chosen.key[decided] - rejected.key[decided], 12),
            "chosen_teacher": chosen.teacher,
            "rejected_teacher": rejected.teacher,
            "chosen_length": chosen.length,
            "rejected_length": rejected.length,
        }
        return Record(
            messages=prompt_turns(record), chosen=chosen.text, rejected=rejected.text, meta=meta
        )

    def _labelled(
        self,
        record: Record,
        prompt_id: str,
        pairs: list[tuple[_Candidate, _Candidate, int]],
        rank_by: list[str],
    ) -> None:
        labels: dict[str, set[bool]] = {}
        candidates: dict[str, _Candidate] = {}
        for chosen, rejected, _decided in pairs:  # one row per distinct answer text
            labels.setdefault(chosen.text, set()).add(True)
            labels.setdefault(rejected.text, set()).add(False)
            candidates.setdefault(chosen.text, chosen)
            candidates.setdefault(rejected.text, rejected)
        for text in sorted(labels, key=lambda t: candidates[t].index):
            candidate = candidates[text]
            index = candidate.index
            if len(labels[text]) > 1:  # chosen in one pair and rejected in another
                self.out.excluded_candidates["label_conflict"] += 1
                self._entry(record, prompt_id, "label_conflict", {"candidate": index})
                continue
            meta = self._base_meta(record, prompt_id)
            meta["pair"] = {
                "prompt_id": prompt_id,
                "policy": self.spec.policy,
                "candidate": index,
                "label": labels[text] == {True},
                "score": candidate.key[0],
                "scorer": rank_by[0],
                "teacher": candidate.teacher,
            }
            self.out.records.append(
                Record(messages=prompt_turns(record), chosen=candidate.text, meta=meta)
            )

    def _entry(self, record: Record, prompt_id: str, reason: str, detail: dict[str, Any]) -> None:
        self.out.skipped.append(
            {
                "stage": "pairs",
                "id": record.id,
                "prompt_id": prompt_id,
                "source": str(record.meta.get("source", "synthetic")),
                "reason": reason,
                "detail": detail,
            }
        )

    def _skip(self, record: Record, prompt_id: str, reason: str, detail: dict[str, Any]) -> None:
        self.out.skipped_prompts[reason] += 1
        self._entry(record, prompt_id, reason, detail)
        self.out.skipped[-1]["record"] = record.to_dict()

    def _drop_pair(
        self, record: Record, prompt_id: str, reason: str, chosen: _Candidate, rejected: _Candidate
    ) -> None:
        self.out.dropped_pairs[reason] += 1
        detail = {"chosen": chosen.index, "rejected": rejected.index}
        self._entry(record, prompt_id, reason, detail)


def _comparison_problem(comparisons: list[Any], chosen: int, rejected: int) -> str | None:
    """Why a pairwise judge's verdicts do not support ``chosen`` over ``rejected`` (or None)."""
    for item in comparisons:
        if not isinstance(item, dict) or {item.get("a"), item.get("b")} != {chosen, rejected}:
            continue
        status = str(item.get("status"))
        if status == "agree":
            return None if item.get("winner") == chosen else "ranking_conflict"
        return COMPARISON_REASONS.get(status, "judge_unparseable")
    return "not_compared"


def _split_pair(record: Record) -> list[Record]:
    """A stored pair as two labelled answers (any other record as it is)."""
    if record.chosen is None or record.rejected is None:
        return [record]
    out = []
    for text, label in ((record.chosen, True), (record.rejected, False)):
        meta = {**record.meta, "pair": {"label": label, "prompt_id": record.meta.get("prompt_id")}}
        out.append(Record(messages=prompt_turns(record), chosen=text, meta=meta))
    return out


def build_pairs(
    records: Sequence[Record], spec: PairingSpec, *, seed: int = 0, unpaired: bool = False
) -> tuple[PairBuild, dict[str, Any]]:
    """Pairs (or, ``unpaired``, labelled answers) from ``records``, and the export.json report.

    A record with ``meta.candidates`` is a prompt to pair; any other record passes through as
    it is (a pair read from a file keeps its chosen and rejected).
    """
    pairer = _Pairer(spec, seed, unpaired)
    for record in records:
        if isinstance(record.meta.get("candidates"), list):
            pairer.prompt(record)
        else:
            pairer.out.passed_through += 1
            pairer.out.records += _split_pair(record) if unpaired else [record]
    return pairer.out, pairer.out.report(spec, unpaired)
