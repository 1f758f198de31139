"""The format-2 journal: named fields, one line per commit, read back as typed entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import teachkit
from teachkit.recipe.load import parse_recipe
from teachkit.rundir import RunStatus
from teachkit.rundir.journal import CommitEntry, JobEntry, RunEntry, SessionEntry, read_journal


def recipe(count: int) -> teachkit.Recipe:
    return parse_recipe(
        {
            "name": "journal",
            "teacher": {"backend": "scripted", "max_concurrency": 2},
            "generator": {
                "kind": "templated",
                "count": count,
                "axes": {"x": ["a", "b", "c", "d", "e"]},
                "prompt": "Say {{ x }}",
            },
        }
    )


def test_a_run_writes_named_fields_one_line_per_event(tmp_path: Path, scripted: Any) -> None:
    summary = teachkit.run(recipe(3), tmp_path / "run")
    assert summary.status is RunStatus.COMPLETE and summary.status == "complete"
    lines = [
        orjson.loads(line)
        for line in (tmp_path / "run" / "journal.jsonl").read_bytes().splitlines()
    ]
    kinds = [line["type"] for line in lines]
    assert kinds[:2] == ["run", "session"] and kinds[-1] == "end"
    assert kinds.count("commit") == 3 and kinds.count("job") == 3
    assert not any({"t", "k", "st", "tm", "c"} & set(line) for line in lines)
    commit = next(line for line in lines if line["type"] == "commit")
    assert commit["usage"]["teacher"]["requests"] == 1 and commit["accepted"] == 1
    assert lines[-1]["status"] == "complete"
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert manifest["status"] == "complete"

    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert journal.format == 2 and isinstance(journal.entries[0], RunEntry)
    assert journal.run is not None and journal.run.identity["mode"] == "generate"
    assert [type(e) for e in journal.entries[1:3]] == [SessionEntry, JobEntry]
    assert all(isinstance(c, CommitEntry) and c.shard == "00001" for c in journal.commits)
    end = journal.last_end()
    assert end is not None and end.status == "complete" and end.accepted == 3

    # a second session appends a session of its own, with its own shards
    teachkit.run(recipe(5), tmp_path / "run")
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert [s.shard for s in journal.sessions] == ["00001", "00002"]
    assert journal.sessions[1].files == ["accepted/00002.jsonl", "rejected/00002.jsonl"]
    assert sum(c.accepted or 0 for c in journal.commits) == 5


def test_the_status_strings_stay_the_same() -> None:
    assert [str(s) for s in RunStatus] == [
        "complete",
        "already_complete",
        "incomplete",
        "exhausted",
        "stopped",
        "failed",
        "interrupted",
        "running",
    ]
    assert orjson.dumps({"s": RunStatus.STOPPED}) == b'{"s":"stopped"}'
