"""The command line: init, run, status and error handling (no tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from teachkit.cli import main
from teachkit.cli.core import starter_recipe
from teachkit.recipe.load import load_recipe

REPO = Path(__file__).resolve().parents[2]


def test_init_writes_a_valid_commented_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "demo.yaml"
    assert main(["init", str(target)]) == 0
    text = target.read_text()
    assert text.count("#") > 10, "the starter recipe explains itself in comments"
    recipe = load_recipe(target)
    assert recipe.teacher.backend == "llamacpp"
    assert main(["init", str(target)]) != 0  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


def test_quickstart_example_is_the_starter_recipe() -> None:
    quick = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    starter = yaml.safe_load(starter_recipe())
    quick.pop("name")
    starter.pop("name")
    assert quick == starter


def test_bad_recipe_is_a_short_message_and_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngenerator: {kind: templated, count: -1, prompt: hi}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "teachkit", "run", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "generator.count" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_run_and_status_with_scripted_teacher(
    tmp_path: Path, scripted: object, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: cli\nteacher: {backend: scripted}\n"
        "generator: {kind: templated, count: 4, prompt: 'Say hi {{ n }}',\n"
        "            axes: {n: [a, b, c, d, e]}}\n"
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run_dir), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "accepted" in printed and "4 records accepted" in printed
    assert main(["status", str(run_dir)]) == 0
    assert "complete" in capsys.readouterr().out
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert manifest["accepted"] == 4
    assert main(["run", str(recipe), "--out", str(run_dir)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_dry_run_calls_no_teacher(
    tmp_path: Path, scripted: object, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: dry\nteacher: {backend: scripted, sampling: {max_tokens: 100}}\n"
        "generator: {kind: templated, count: 50, prompt: 'Tell me about {{ n }}',\n"
        "            axes: {n: [a, b]}}\n"
    )
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "requests" in printed and "50" in printed
    assert "5000" in printed  # at most 50 x 100 completion tokens
    assert not (tmp_path / "run").exists()
    assert scripted.calls == []  # type: ignore[attr-defined]


def test_status_of_a_non_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == 4
    assert "no manifest.json" in capsys.readouterr().err
