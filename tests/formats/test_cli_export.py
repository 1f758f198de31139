from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from teachkit.cli import main
from teachkit.cli.export import register
from teachkit.errors import RunDirError
from teachkit.records import Record

from .conftest import SELF_INSTRUCT, synthetic

MakeRun = Callable[[Sequence[Record]], Path]
_WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


def test_export_command(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(synthetic(50))
    out = tmp_path / "out"
    argv = ["export", str(run), "--format", "chat", "--to", str(out), "--val-fraction", "0.2"]
    argv += ["--seed", "4", "--mix-real", str(SELF_INSTRUCT / "seed_tasks.jsonl")]
    argv += ["--real-fraction", "0.2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "train rows" in printed and "real rows mixed in" in printed
    summary = json.loads((out / "export.json").read_text())
    assert (summary["train"], summary["validation"], summary["real_mixed"]) == (50, 10, 10)
    assert summary["seed"] == 4


def test_default_output_folder_is_in_the_run(make_run: MakeRun) -> None:
    run = make_run(synthetic(10))
    assert main(["export", str(run), "--format", "sharegpt"]) == 0
    assert (run / "dataset" / "train.jsonl").exists()


def test_library_errors_become_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path)]) == RunDirError.exit_code
    assert "not a run directory" in capsys.readouterr().err


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so "export" is addressed by name
        """Unused."""

    return app


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mix-real", "real.jsonl"], "--real-fraction"),
        (["--real-fraction", "0.3"], "--mix-real"),
        (["--format", "hf", "--file-format", "jsonl"], "already sets the file format"),
        (["--val-fraction", "1.5"], "0.99"),
        (["--format", "csv"], "csv"),
    ],
)
def test_bad_flags_are_usage_errors(make_run: MakeRun, flags: list[str], message: str) -> None:
    run = make_run(synthetic(5))
    result = CliRunner().invoke(_app(), ["export", str(run), *flags], env=_WIDE)
    assert result.exit_code == 2
    assert message in result.output
    assert not (run / "dataset").exists()


def test_help_lists_the_flags() -> None:
    result = CliRunner().invoke(_app(), ["export", "--help"], env=_WIDE)
    assert result.exit_code == 0
    assert "--val-fraction" in result.output and "--mix-real" in result.output
