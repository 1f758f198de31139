"""Exported files compared byte for byte with the files in tests/formats/golden/.

After an intended change of an output format, rewrite them with
``TEACHKIT_UPDATE_GOLDEN=1 pytest tests/formats/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from teachkit.engine.export import export
from teachkit.records import Record

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = ("train.jsonl", "validation.jsonl", "metadata.jsonl", "skipped.jsonl", "export.json")


def _chat(*turns: tuple[str, str], **extra: str) -> Record:
    return Record(messages=[{"role": r, "content": c} for r, c in turns], **extra)


def _records() -> list[Record]:
    records = [
        _chat(
            ("system", "You are a patient maths tutor."),
            ("user", "What is 7 times 8?"),
            ("assistant", "7 times 8 is 56."),
        ),
        _chat(
            ("user", "Name a primary colour."),
            ("assistant", "Red."),
            ("user", "Another one?"),
            ("assistant", "Blue."),
        ),
        _chat(("user", "Traduis « bonjour » en japonais."), ("assistant", "こんにちは 👋")),
        _chat(
            ("user", "Suggest a name for a grey cat."),
            chosen="How about Ash? It suits a grey coat.",
            rejected="Cat.",
        ),
        _chat(
            ("system", "Answer in one sentence."),
            ("user", "Which planet is largest?"),
            ("assistant", "Jupiter."),
            ("user", "And the smallest?"),
            chosen="Mercury is the smallest planet.",
            rejected="Pluto, the smallest planet of all.",
        ),
        _chat(("user", "Give a synonym of quick."), ("assistant", "Fast.")),
        _chat(("user", "Give a synonym for quick."), ("assistant", "Rapid.")),
        _chat(("user", "Is 17 prime?"), ("assistant", "Yes, 17 is prime.")),
        _chat(("user", "Write a haiku about rain."), ("assistant", "Soft rain on the roof\n...")),
        _chat(("user", "What does HTTP stand for?"), ("assistant", "HyperText Transfer Protocol.")),
        _chat(("user", "Convert 3 km to metres."), ("assistant", "3 km is 3000 metres.")),
        _chat(("user", "Say nothing."), ("assistant", "")),  # invalid: skipped
    ]
    records[6].meta["group"] = records[5].id  # the dedup stage found these two similar
    for record in records:
        record.meta.setdefault("source", "synthetic")
    return records


@pytest.mark.parametrize("row_format", ["chat", "preference", "alpaca", "sharegpt"])
def test_golden_files(
    row_format: str, make_run: Callable[[Sequence[Record]], Path], tmp_path: Path
) -> None:
    run = make_run(_records())
    out = tmp_path / "out"
    export(run, out, format=row_format, val_fraction=0.3, seed=0)
    summary = json.loads((out / "export.json").read_text(encoding="utf-8"))
    summary["source_run"], summary["out"] = "RUN_DIR", "OUT"
    # what the run was and what was written are checked here, not in the golden files: the
    # golden export.json holds the settings and counts
    state = summary.pop("run_state")
    assert (state["state"], state["accepted"], state["requested"]) == ("complete", 12, 12)
    hashes = summary.pop("hashes")
    assert set(hashes) == set(summary["files"]) - {"export.json"}
    for name, digest in hashes.items():
        assert digest == "sha256:" + hashlib.sha256((out / name).read_bytes()).hexdigest()
    (out / "export.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    expected_dir = GOLDEN / row_format
    if os.environ.get("TEACHKIT_UPDATE_GOLDEN"):
        expected_dir.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (expected_dir / name).write_bytes((out / name).read_bytes())
    for name in FILES:
        assert (out / name).read_bytes() == (expected_dir / name).read_bytes(), name
