"""The preference formats' files for a run of scored candidates, compared byte for byte with
tests/formats/golden/scored/<format>/ (rewrite with ``TEACHKIT_UPDATE_GOLDEN=1`` and review)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from teachkit.engine.export import export
from teachkit.records import Record

GOLDEN = Path(__file__).resolve().parent / "golden" / "scored"
FILES = ("train.jsonl", "validation.jsonl", "metadata.jsonl", "skipped.jsonl", "export.json")


def _candidate(text: str, score: float | None, **extra: Any) -> dict[str, Any]:
    scores = {} if score is None else {"judge": score}
    return {"text": text, "teacher": "teacher", "scores": scores, **extra}


def _records() -> list[Record]:
    rows = [
        ("What is 7 times 8?", [("56.", 9.0), ("54.", 2.0), ("<think></think>56, I think.", 6.5)]),
        ("Name a primary colour.", [("Red.", 8.0), ("Red.", 8.0), ("Purple.", 1.0)]),
        ("Which planet is largest?", [("Jupiter.", 5.0), ("Saturn.", 5.0)]),  # all tied
        ("Is 17 prime?", [("Yes, 17 is prime.", 9.0), ("No.", None)]),  # a missing score
        ("Translate 'bonjour'.", [("Hello.", 7.0), ("Bye.", 3.0), ("Hi there, friend.", 6.0)]),
        ("Spell 'cat' backwards.", [("tac", 10.0), ("tca", 4.0), ("act", 4.0)]),
    ]
    records = []
    for number, (question, candidates) in enumerate(rows):
        messages = [{"role": "user", "content": question}]
        if number == 4:
            messages.insert(0, {"role": "system", "content": "Answer in English."})
        meta = {
            "source": "synthetic",
            "prompt_id": f"p1-{number:016d}",
            "scorers": [{"name": "judge", "kind": "judge"}],
            "candidates": [_candidate(t, s) for t, s in candidates],
        }
        # as a run stores them: the default pair beside the candidates
        stored = {"chosen": candidates[0][0], "rejected": candidates[-1][0]}
        records.append(Record(messages=messages, meta=meta, **stored))
    return records


@pytest.mark.parametrize(
    ("row_format", "policy"),
    [
        ("preference", "best_vs_random_lower"),
        ("preference_text", "best_vs_worst"),
        ("preference_implicit", "best_vs_second"),
        ("kto", "all_above_margin"),
    ],
)
def test_scored_golden_files(
    row_format: str,
    policy: str,
    make_run: Callable[[Sequence[Record]], Path],
    tmp_path: Path,
) -> None:
    run = make_run(_records())
    out = tmp_path / "out"
    pairing = {"policy": policy, "min_margin": 1.0}
    export(run, out, format=row_format, val_fraction=0.3, seed=0, pairing=pairing)
    summary = json.loads((out / "export.json").read_text(encoding="utf-8"))
    summary["source_run"], summary["out"] = "RUN_DIR", "OUT"
    summary.pop("run_state")
    summary.pop("hashes")
    (out / "export.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    expected_dir = GOLDEN / row_format
    if os.environ.get("TEACHKIT_UPDATE_GOLDEN"):
        expected_dir.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (expected_dir / name).write_bytes((out / name).read_bytes())
    for name in FILES:
        assert (out / name).read_bytes() == (expected_dir / name).read_bytes(), name
