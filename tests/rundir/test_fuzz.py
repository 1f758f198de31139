"""Damage run directories at random and run `teachkit run`, `status` and `filter` on them.

Whatever the damage (a file cut at any byte, garbage bytes, JSON of the wrong shape in the
journal, manifest or shards, a deleted file, a folder where a file should be or the reverse):
the exit code is one the documentation lists, no traceback is shown, no file of the user's is
modified, and when the command succeeds the run directory holds exactly the records asked for,
none twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import teachkit
from support import ScriptedBackend, echo_answer
from teachkit.cli import main
from teachkit.errors import EXIT_CODES

RECIPE = (
    "name: fuzz\nteacher: {backend: scripted, max_concurrency: 3}\n"
    "generator: {kind: templated, count: 6, prompt: 'Tell me about {{ n }}',\n"
    "            axes: {n: [" + ", ".join(f"v{i}" for i in range(30)) + "]}}\n"
    "filters: [{kind: rules, field: assistant, min_words: 3}]\n"
)
ROWS = b"".join(
    orjson.dumps(
        {
            "messages": [
                {"role": "user", "content": f"Question {i} about the sea"},
                {"role": "assistant", "content": "An answer here" if i % 3 else "No"},
            ]
        }
    )
    + b"\n"
    for i in range(9)
)
#: what `run`/`filter` may exit with on a damaged directory (0: it resumed), and `status`
RUN_CODES = {0, 4, 5, 11}
STATUS_CODES = {0, 4}
BAD_JSON = [
    b"[]",
    b'"text"',
    b"17",
    b"null",
    b"{}",
    b'{"type": "commit"}',
    b'{"type": "commit", "key": 5, "shard": [], "accepted_end": -1, "rejected_end": "x"}',
    b'{"type": "job", "job": {"key": "gen:999999"}}',
    b'{"type": "job", "job": {"key": "k", "stage": "generate", "request": {"prompt": 4}}}',
    b'{"type": "session", "session": "one", "shard": "../../etc"}',
    b'{"type": "session", "session": 9, "shard": "../outside", "count": 3}',
    b'{"type": "end", "session": 1, "status": 7}',
    b'{"type": "run", "identity": []}',
    b'{"t": "c", "k": "gen:000001"}',
    b'{"t": "x"}',
    b'{"id": 5, "messages": "none"}',
    b'{"record": [], "filter": null}',
    b'{"accepted": 9999, "sessions": 3, "usage": [], "timings": 1}',
    b'{"status": "complete", "accepted": "many", "drops": {"a": 1}}',
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bases")
    (root / "recipe.yaml").write_text(RECIPE)
    (root / "rows.jsonl").write_bytes(ROWS)
    ScriptedBackend.script = staticmethod(echo_answer)
    with quiet():
        assert main(["run", str(root / "recipe.yaml"), "--out", str(root / "run"), "-q"]) == 0
        rows, recipe = str(root / "rows.jsonl"), str(root / "recipe.yaml")
        code = main(["filter", rows, "--recipe", recipe, "--out", str(root / "filtered"), "-q"])
        assert code == 0
    return {"run": root / "run", "filter": root / "filtered", "root": root}


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Everything the command prints, and every log record, in one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    loggers = [logging.getLogger(), logging.getLogger("asyncio"), logging.getLogger("teachkit")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def digests(paths: list[Path]) -> dict[Path, str | None]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in paths}


def files_of(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("*") if p.is_file() and p.name != ".lock")


@st.composite
def damages(draw: st.DrawFn, count: int) -> list[tuple[str, int, int, bytes]]:
    """A list of (operation, which file, where, bytes): indexes resolved against the copy."""
    operation = st.sampled_from(
        ["truncate", "garbage", "append", "bad_line", "delete", "to_folder", "folder_to_file"]
    )
    return draw(
        st.lists(
            st.tuples(
                operation,
                st.integers(0, 63),
                st.integers(0, 1 << 16),
                st.one_of(st.binary(min_size=1, max_size=24), st.sampled_from(BAD_JSON)),
            ),
            min_size=1,
            max_size=count,
        )
    )


def damage(run: Path, plan: list[tuple[str, int, int, bytes]]) -> None:
    for operation, which, where, data in plan:
        files = files_of(run)
        if operation == "folder_to_file":
            folders = sorted(p for p in run.rglob("*") if p.is_dir())
            if folders:
                folder = folders[which % len(folders)]
                shutil.rmtree(folder)
                folder.write_bytes(data)
            continue
        if not files:
            return
        path = files[which % len(files)]
        content = path.read_bytes()
        at = where % (len(content) + 1)
        if operation == "truncate":
            path.write_bytes(content[:at])
        elif operation == "garbage":
            path.write_bytes(content[:at] + data + content[at + len(data) :])
        elif operation == "append":
            path.write_bytes(content + data)
        elif operation == "bad_line":
            lines = content.split(b"\n")
            lines[where % len(lines)] = data
            path.write_bytes(b"\n".join(lines))
        elif operation == "delete":
            path.unlink()
        elif operation == "to_folder":
            path.unlink()
            path.mkdir()


def user_files(run: Path) -> list[Path]:
    """Files of the user's own, put into the run directory after it was made."""
    mine = [run / "NOTES.md", run / "accepted" / "mine.jsonl", run / "rejected" / "00042.jsonl"]
    for path in mine:
        if path.parent.is_dir():
            path.write_bytes(b'{"mine": true}\n' + path.name.encode())
    return [p for p in mine if p.is_file()]


@seed(20260101)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    command=st.sampled_from(["run", "status", "filter"]),
    plan=damages(3),
)
def test_damaged_run_directories(
    bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, command: str, plan: Any
) -> None:
    root = bases["root"]
    work = tmp_path_factory.mktemp("case")
    run = work / "run"
    shutil.copytree(bases["filter" if command == "filter" else "run"], run)
    damage(run, plan)
    mine = user_files(run) if run.is_dir() else []
    outside = [root / "recipe.yaml", root / "rows.jsonl"]
    before = digests(mine + outside)
    ScriptedBackend.script = staticmethod(echo_answer)
    if command == "run":
        argv = [
            "run",
            str(root / "recipe.yaml"),
            "--out",
            str(run),
            "-q",
            "--set",
            "generator.count=9",
        ]
    elif command == "status":
        argv = ["status", str(run)]
    else:
        argv = [
            "filter",
            str(root / "rows.jsonl"),
            "--recipe",
            str(root / "recipe.yaml"),
            "--out",
            str(run),
            "-q",
        ]
    with quiet() as printed:
        code = main(argv)
    said = printed.getvalue()
    if os.environ.get("TEACHKIT_FUZZ_LOG"):
        with open(os.environ["TEACHKIT_FUZZ_LOG"], "a") as log:
            log.write(f"{command} {code} {plan!r}\n   {said.strip().splitlines()[-1:]}\n")
    assert code in EXIT_CODES, said
    assert code in (STATUS_CODES if command == "status" else RUN_CODES), said
    assert "Traceback" not in said, said
    assert "Unexpected error" not in said, said
    assert digests(mine + outside) == before, "a file of the user's was modified"
    if code == 0 and command != "status":
        records = list(teachkit.read_accepted(run))
        want = 9 if command == "run" else 6  # the rows that pass the rules
        assert len(records) == want, said
        assert len({r.id for r in records}) == want
    shutil.rmtree(work, ignore_errors=True)
