"""Run directories written before the format-2 journal still resume (or fail with a sentence).

The directory is built here line by line in the old format: short keys (``{"t": "j"}`` jobs,
``{"t": "c", "k", "s", "a", "r", "st", "tm", "pt", "ct", "c"}`` commits), a killed session's
uncommitted shard bytes and half a journal line, and a shard a killed session opened but never
committed to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import teachkit
from support import ScriptedBackend
from teachkit.errors import RunDirError
from teachkit.generators.base import GeneratorContext
from teachkit.recipe.load import parse_recipe, recipe_hash
from teachkit.records import Record

AXES = {"topic": ["rain", "snow", "wind", "sun"], "tone": ["plain", "fun"]}


def recipe(count: int, prompt: str = "Explain {{ topic }} in a {{ tone }} tone.") -> Any:
    return parse_recipe(
        {
            "name": "old",
            "teacher": {"backend": "scripted", "max_concurrency": 2},
            "generator": {"kind": "templated", "count": count, "axes": AXES, "prompt": prompt},
        }
    )


def old_run_dir(run: Path) -> dict[str, Any]:
    """Three committed jobs, one journalled but not committed, a half commit line."""
    r = recipe(6)
    ctx = GeneratorContext(
        recipe_name=r.name,
        recipe_hash=recipe_hash(r),
        seed=r.seed,
        teacher_backend="scripted",
        teacher_model="scripted-1",
        capabilities=ScriptedBackend.capabilities,
        sampling={"seed": 0},
    )
    generator = r.require_generator().build(ctx)
    jobs = [generator.next_job() for _ in range(4)]
    (run / "accepted").mkdir(parents=True)
    (run / "rejected").mkdir()
    journal: list[bytes] = []
    shard = b""
    old: list[str] = []
    for number, job in enumerate(jobs):
        assert job is not None
        journal.append(orjson.dumps({"t": "j", "job": job.to_dict()}))
        if number == 3:
            break
        record = Record(
            messages=[
                {"role": "user", "content": job.request.messages[-1]["content"]},  # type: ignore[index]
                {"role": "assistant", "content": f"Old answer {number}, kept from before."},
            ],
            meta={
                "source": "synthetic",
                "recipe_hash": recipe_hash(r),
                "job": job.key,
                "axes": job.context["axes"],
            },
        )
        old.append(record.id)
        shard += record.to_json() + b"\n"
        commit = {
            "t": "c",
            "k": job.key,
            "s": "00001",
            "a": len(shard),
            "r": 0,
            "st": "generate",
            "tm": "teacher",
            "pt": 7,
            "ct": 9,
            "c": 0,
        }
        journal.append(orjson.dumps(commit))
    uncommitted = b'{"id": "r1-cut", "messages": [], "meta": {}}\n'
    (run / "accepted" / "00001.jsonl").write_bytes(shard + uncommitted)
    (run / "rejected" / "00001.jsonl").write_bytes(b"")
    orphan = b'{"id": "r1-orphan", "messages": [], "meta": {}}\n'
    (run / "accepted" / "00002.jsonl").write_bytes(orphan)  # opened by a killed session
    half = b'{"t": "c", "k": "gen:000003", "s": "00'
    (run / "journal.jsonl").write_bytes(b"\n".join(journal) + b"\n" + half)
    stamp = yaml.safe_dump({"teachkit": {"recipe_hash": recipe_hash(r)}})
    (run / "recipe.resolved.yaml").write_text("name: old\n" + stamp)
    (run / "manifest.json").write_bytes(orjson.dumps({"status": "running", "accepted": 3}))
    return {"old": old, "shard": shard, "orphan": orphan}


def test_a_format1_run_directory_resumes(tmp_path: Path, scripted: Any) -> None:
    run = tmp_path / "run"
    built = old_run_dir(run)
    summary = teachkit.run(recipe(6), run)
    assert summary.status == "complete" and summary.accepted == 6
    records = list(teachkit.read_accepted(run))
    assert len(records) == 6 and len({r.id for r in records}) == 6
    assert [r.id for r in records[:3]] == built["old"]
    assert (run / "accepted" / "00001.jsonl").read_bytes() == built["shard"]  # tail cut
    assert (run / "accepted" / "00002.jsonl").read_bytes() == built["orphan"]  # left alone
    # the pending job was sent, then three new ones; nothing committed was asked again
    assert sorted(c.sample for c in scripted.calls) == [3000, 4000, 5000]
    lines = (run / "journal.jsonl").read_bytes().splitlines()
    assert b'"t":"c"' in lines[1] and any(b'"type":"run"' in line for line in lines)
    assert summary.manifest["usage"]["teachers"]["teacher"]["prompt_tokens"] >= 21
    again = teachkit.run(recipe(6), run)
    assert again.status == "already_complete"


def test_a_format1_run_directory_refuses_another_recipe(tmp_path: Path, scripted: Any) -> None:
    other = "Describe {{ topic }} ({{ tone }})."
    old_run_dir(tmp_path / "a")
    with pytest.raises(RunDirError, match="different recipe"):
        teachkit.run(recipe(6, other), tmp_path / "a")
    # without recipe.resolved.yaml, the committed records still say which recipe made them
    old_run_dir(tmp_path / "b")
    (tmp_path / "b" / "recipe.resolved.yaml").unlink()
    with pytest.raises(RunDirError, match="different recipe"):
        teachkit.run(recipe(6, other), tmp_path / "b")
    assert scripted.calls == []
