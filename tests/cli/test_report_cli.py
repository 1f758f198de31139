"""``teachkit report`` and ``teachkit eval`` from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import teachkit
from teachkit.cli import main
from teachkit.recipe.load import parse_recipe


def test_report_and_eval_commands(tmp_path: Path, scripted: Any, capsys: Any) -> None:
    recipe = parse_recipe(
        {
            "name": "cli-report",
            "teacher": {"backend": "scripted"},
            "generator": {
                "kind": "templated",
                "count": 3,
                "axes": {"t": ["a", "b", "c"]},
                "prompt": "Say something about {{ t }}.",
            },
            "quality": {"embeddings": False},
        }
    )
    teachkit.run(recipe, tmp_path / "run")
    (tmp_path / "run" / "report.html").unlink()
    assert main(["report", str(tmp_path / "run")]) == 0
    assert f"Report: {tmp_path / 'run' / 'report.html'}" in capsys.readouterr().out.replace(
        "\n", ""
    )
    assert (tmp_path / "run" / "report.html").is_file()
    real = tmp_path / "real.jsonl"
    real.write_bytes(
        orjson.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Hi?"},
                    {"role": "assistant", "content": "Hello."},
                ]
            }
        )
    )
    assert main(["eval", str(tmp_path / "run")]) == 2  # no student named
    assert "Name the student" in capsys.readouterr().err
    code = main(
        ["eval", str(tmp_path / "run"), "--student-backend", "scripted", "--eval", str(real)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "real" in printed and "eval.json" in printed
    assert (
        orjson.loads((tmp_path / "run" / "eval.json").read_bytes())["sides"]["real"]["prompts"] == 1
    )
