"""Export failures that used to pass silently or leave a mess, each reproduced through the
command line (``teachkit export``) and the reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from teachkit.cli import main
from teachkit.errors import DataError, EnvironmentFault, ExportError
from teachkit.formats.readers import read_records
from teachkit.records import Record

from .conftest import SELF_INSTRUCT, synthetic

MakeRun = Callable[[Sequence[Record]], Path]
SEED_TASKS = SELF_INSTRUCT / "seed_tasks.jsonl"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _export(run: Path, to: Path, *flags: str) -> int:
    return main(["export", str(run), "--to", str(to), *flags])


# --- export --format hf overwrites a user's README.md ------------------------------------------
def test_hf_export_overwrites_a_users_readme(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("# My dataset\n\nNotes I wrote myself.\n")
    before = _tree(out)
    assert _export(make_run(synthetic(20)), out, "--format", "hf") == ExportError.exit_code
    err = capsys.readouterr().err
    assert "already holds README.md" in err and "did not write" in err
    assert _tree(out) == before  # nothing written, nothing deleted


def test_reexport_deletes_only_files_it_wrote(make_run: MakeRun, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    run = make_run(synthetic(20))
    out = tmp_path / "out"
    assert _export(run, out, "--format", "hf") == 0
    written = json.loads((out / "export.json").read_text())
    assert "README.md" in written["files"] and "README.md" in written["hashes"]
    # the user edits the card the export wrote: the next export must not delete it
    (out / "README.md").write_text("# Edited by hand\n")
    (out / "notes.txt").write_text("mine")
    assert _export(run, out, "--format", "chat") == 0
    assert (out / "README.md").read_text() == "# Edited by hand\n"
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "data").exists()  # the export's own shards (and their folder) are gone
    assert (out / "train.jsonl").is_file()
    # an unedited file of the previous export is replaced; an edited one blocks the export
    assert _export(run, out, "--format", "chat", "--seed", "1") == 0
    (out / "train.jsonl").write_text('{"messages": []}\n')
    assert _export(run, out, "--format", "chat") == ExportError.exit_code
    assert (out / "train.jsonl").read_text() == '{"messages": []}\n'


def test_export_json_of_someone_else_is_not_overwritten(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "export.json").write_text('{"mine": true}\n')
    assert _export(make_run(synthetic(5)), out) == ExportError.exit_code
    assert "already holds export.json" in capsys.readouterr().err
    assert (out / "export.json").read_text() == '{"mine": true}\n'


# --- --to an existing file; a failed export leaves no half-written files -----------------------
def test_export_to_an_existing_file(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "data.jsonl"
    target.write_text("keep me\n")
    assert _export(make_run(synthetic(5)), target) == ExportError.exit_code
    err = capsys.readouterr().err
    assert f"--to {target} is a file, not a folder" in err
    assert "Traceback" not in err and "Unexpected error" not in err
    assert target.read_text() == "keep me\n"


_CHILD = """
import resource, signal, sys
from teachkit.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_failed_export_leaves_no_half_written_files(
    make_run: MakeRun, tmp_path: Path, file_format: str
) -> None:
    """The disk refuses a write half-way (a file size limit, as a full disk would): the previous
    export is left exactly as it was and no staging folder is left behind."""
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    flags = ["--file-format", file_format]
    assert _export(make_run(synthetic(10)), out, *flags) == 0
    before = _tree(out)
    big = make_run(synthetic(600, seed=1))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, "20000", "export", str(big), "--to", str(out), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert child.returncode == EnvironmentFault.exit_code, child.stdout + child.stderr
    assert "File too large" in child.stderr and "export again" in child.stderr
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- an export with no train rows ------------------------------------------------------------
def test_export_with_no_train_rows(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every run record overlaps the validation file: there is nothing to train on."""
    copies = [
        Record(
            messages=[
                {"role": "user", "content": "Please answer: " + r.user},
                {"role": "assistant", "content": r.assistant},
            ]
        )
        for r in list(read_records(SEED_TASKS))[:30]
    ]
    out = tmp_path / "out"
    code = _export(make_run(copies), out, "--validation", str(SEED_TASKS))
    assert code == ExportError.exit_code
    err = capsys.readouterr().err
    assert "no training rows: all 30 records overlap the validation file" in err
    assert "--decontam-threshold" in err and "--ngram 0" in err
    assert not out.exists()


# --- --validation equal to the run's own records ----------------------------------------------
def test_validation_equal_to_the_runs_records(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no ASCII word in the user turns: only the same-content test can see the overlap
    records = [
        Record(
            messages=[
                {"role": "user", "content": f"問題{'一二三四五六七八九十'[i]}を答えて。"},
                {"role": "assistant", "content": f"答え {i}."},
            ]
        )
        for i in range(10)
    ]
    run = make_run(records)
    own = tmp_path / "own.jsonl"
    own.write_bytes(b"".join(path.read_bytes() for path in sorted((run / "accepted").glob("*"))))
    assert _export(run, tmp_path / "out", "--validation", str(own)) == ExportError.exit_code
    err = capsys.readouterr().err
    assert "holds the very records being exported (all 10 of them" in err
    assert "leave --validation out" in err
    # some shared records are dropped from train by the same-content test, with a warning
    half = tmp_path / "half.jsonl"
    half.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records[:4]))
    assert _export(run, tmp_path / "out", "--validation", str(half)) == 0
    written = json.loads((tmp_path / "out" / "export.json").read_text())
    assert (written["train"], written["validation"], written["dropped_decontam"]) == (6, 4, 4)
    tests = [
        json.loads(line)["test"] for line in (tmp_path / "out" / "decontaminated.jsonl").open()
    ]
    assert tests == ["exact"] * 4


# --- data files: a directory, a byte-order mark, a non-object meta ----------------------------
def test_data_file_that_is_a_directory(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DataError, match="is a directory, not a file"):
        list(read_records(tmp_path))
    run = make_run(synthetic(5))
    for flag in ("--validation", "--mix-real"):
        extra = ["--real-fraction", "0.2"] if flag == "--mix-real" else []
        assert _export(run, tmp_path / "o", flag, str(run), *extra) == DataError.exit_code
        err = capsys.readouterr().err
        assert "is a directory, not a file" in err and "does not exist" not in err


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_data_file_with_a_byte_order_mark(tmp_path: Path, suffix: str) -> None:
    rows = [{"instruction": f"Q{i}", "input": "", "output": f"A{i}"} for i in range(3)]
    if suffix == ".json":
        text = json.dumps(rows)
    else:
        text = "".join(json.dumps(row) + "\n" for row in rows)
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [r.user for r in read_records(path)] == ["Q0", "Q1", "Q2"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("meta", "synthetic", "field 'meta' must be an object, got str"),
        ("meta", ["a"], "field 'meta' must be an object, got list"),
        ("id", 7, "field 'id' must be a string, got int"),
        ("chosen", 1, "field 'chosen' must be a string, got int"),
    ],
)
def test_data_file_with_a_non_object_meta(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    good = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, field: value}) + "\n")
    with pytest.raises(DataError) as info:
        list(read_records(path))
    assert str(info.value) == f"{path}, line 2: {problem}. Fix or remove that row."
    assert info.value.context == {"path": str(path), "line": "line 2"}
