"""The engine's export: the state of the run it exports, and the recipe's ``export:`` section."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import teachkit
from support import journal_commits
from teachkit.cli import main
from teachkit.engine.export import export
from teachkit.errors import ExportError, PluginError
from teachkit.recipe.load import load_recipe, parse_recipe
from teachkit.testing import FakeServerProcess


def _recipe(count: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "exported",
        "teacher": {"backend": "scripted", "max_concurrency": 4},
        "generator": {
            "kind": "templated",
            "count": count,
            "axes": {"topic": ["rain", "snow", "wind", "sun", "fog"], "tone": ["plain", "fun"]},
            "prompt": "Explain {{ topic }} in a {{ tone }} tone.",
        },
        **extra,
    }


def _export_json(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "export.json").read_text(encoding="utf-8"))
    return data


# --- partial results without a word ---------------------------------------------------------
@pytest.mark.slow
def test_partial_results_without_a_word_running_and_killed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A real `teachkit run` (teacher: the fake server, slow) is exported while it runs, then
    killed with SIGKILL and exported again: each export says what state the run is in."""
    with FakeServerProcess(latency=0.25) as server:
        recipe = tmp_path / "recipe.yaml"
        data = _recipe(200)
        data["teacher"] = {"backend": "openai", "model": "fake", "base_url": server.base_url}
        data["teacher"]["max_concurrency"] = 2
        recipe.write_text(yaml.safe_dump(data))
        run = tmp_path / "run"
        log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "teachkit", "run", str(recipe), "--out", str(run), "-q"],
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 120
            while journal_commits(run) < 3 and proc.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.05)
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert main(["export", str(run), "--to", str(tmp_path / "live")]) == 0
            live = capsys.readouterr()
            state = _export_json(tmp_path / "live")["run_state"]
            assert state["state"] == "running" and state["requested"] == 200
            assert 3 <= state["accepted"] < 200
            assert f"is still running ({state['accepted']} of 200 records" in caplog.text
            assert f"running ({state['accepted']} of 200 records)" in live.out  # the table
            # --require-complete refuses a run that is not complete, and writes nothing
            code = main(["export", str(run), "--to", str(tmp_path / "x"), "--require-complete"])
            assert code == ExportError.exit_code
            assert "still running" in capsys.readouterr().err  # the error itself
            assert not (tmp_path / "x").exists()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            log.close()
    # the command line, in a process of its own: the warning is on stderr, the exit code 0
    dead = subprocess.run(
        [sys.executable, "-m", "teachkit", "export", str(run), "--to", str(tmp_path / "dead")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert dead.returncode == 0, dead.stderr
    state = _export_json(tmp_path / "dead")["run_state"]
    assert state["state"] == "killed" and state["status"] == "running"
    assert "WARNING" in dead.stderr and "stopped mid-run, killed or interrupted" in dead.stderr
    assert "Run the recipe again to resume it" in dead.stderr
    train = (tmp_path / "dead" / "train.jsonl").read_bytes().count(b"\n")
    validation = (tmp_path / "dead" / "validation.jsonl").read_bytes().count(b"\n")
    assert train + validation == state["accepted"]


def test_partial_results_without_a_word_incomplete(
    tmp_path: Path, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A run stopped by max_requests is exported with its state, counts and a warning."""

    def script(request: Any) -> str:
        return "" if "rain" in request.messages[-1]["content"] else "An answer in a few words."

    scripted.script = staticmethod(script)
    data = _recipe(10)
    data["run"] = {"max_requests": 10}
    summary = teachkit.run(parse_recipe(data), tmp_path / "run")
    assert summary.status == "incomplete" and 0 < summary.accepted < 10
    result = export(tmp_path / "run", tmp_path / "out")
    assert result.run_state is not None
    assert result.run_state["state"] == "incomplete"
    assert (result.run_state["accepted"], result.run_state["requested"]) == (summary.accepted, 10)
    assert f"is incomplete (status incomplete, {summary.accepted} of 10" in caplog.text
    assert _export_json(tmp_path / "out")["run_state"] == result.run_state
    with pytest.raises(ExportError, match="require_complete"):
        export(tmp_path / "run", tmp_path / "out2", require_complete=True)


def test_a_complete_run_is_exported_without_a_warning(
    tmp_path: Path, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    teachkit.run(parse_recipe(_recipe(6)), tmp_path / "run")
    result = export(tmp_path / "run", require_complete=True)  # default folder: RUN/dataset
    assert result.out == str(tmp_path / "run" / "dataset")
    assert result.run_state == {
        "state": "complete",
        "status": "complete",
        "accepted": 6,
        "requested": 6,
    }
    assert "WARNING" not in caplog.text


# --- the recipe's export section ------------------------------------------------------------
def test_run_writes_the_dataset_of_its_export_section(tmp_path: Path, scripted: Any) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text(
        "".join(
            json.dumps({"instruction": f"Name a colour, number {i}.", "output": f"Colour {i}."})
            + "\n"
            for i in range(4)
        )
    )
    recipe_file = tmp_path / "recipe.yaml"
    export_section = {"format": "alpaca", "mix_real": "real.jsonl", "real_fraction": 0.2}
    recipe_file.write_text(yaml.safe_dump(_recipe(8, export=export_section)))
    summary = teachkit.run(load_recipe(recipe_file), tmp_path / "run")
    assert summary.status == "complete"
    assert summary.export is not None and summary.export.real_mixed == 2
    assert "Training files: 9 train and 1 validation alpaca rows" in summary.message
    dataset = tmp_path / "run" / "dataset"
    rows = [json.loads(line) for line in (dataset / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and set(rows[0]) >= {"instruction", "input", "output"}
    written = _export_json(dataset)
    assert written["mix_real_file"] == str(real)  # relative to the recipe's folder
    assert written["run_state"]["state"] == "complete"
    resolved = yaml.safe_load((tmp_path / "run" / "recipe.resolved.yaml").read_text())
    assert resolved["export"]["format"] == "alpaca"
    assert resolved["export"]["val_fraction"] == 0.1  # every default filled in
    # the export section is not part of the recipe's identity: changing it and running again
    # re-exports the complete run without calling the teacher
    calls = len(scripted.calls)
    data = _recipe(8, export={"format": "sharegpt", "to": "sharegpt"})
    again = teachkit.run(parse_recipe(data), tmp_path / "run")
    assert again.status == "already_complete" and len(scripted.calls) == calls
    assert again.export is not None and again.export.format == "sharegpt"
    assert (tmp_path / "run" / "sharegpt" / "train.jsonl").is_file()


def test_an_unwritable_export_section_fails_before_any_request(
    tmp_path: Path, scripted: Any
) -> None:
    with pytest.raises(PluginError, match=r"Unknown export format 'csv'\. Known: .*chat"):
        teachkit.run(parse_recipe(_recipe(4, export={"format": "csv"})), tmp_path / "run")
    with pytest.raises(ExportError, match="can be read but not written"):
        teachkit.run(parse_recipe(_recipe(4, export={"format": "self_instruct"})), tmp_path / "r")
    with pytest.raises(teachkit.TeachkitError, match="does not exist"):
        data = _recipe(4, export={"validation": str(tmp_path / "none.jsonl")})
        teachkit.run(parse_recipe(data, base_dir=tmp_path), tmp_path / "r2")
    assert scripted.calls == []
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"format": "parquet", "file_format": "jsonl"}, "conflicts with file_format"),
        ({"real_fraction": 0.3}, "real_fraction needs mix_real"),
        ({"val_fraction": 1.0}, r"export\.val_fraction"),
        ({"formats": "chat"}, r"export\.formats: unknown key"),
    ],
)
def test_export_section_errors_name_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(teachkit.TeachkitError, match=message):
        parse_recipe(_recipe(3, export=section))


def test_export_options_or_a_spec(tmp_path: Path, scripted: Any) -> None:
    from teachkit.formats import ExportSpec

    teachkit.run(parse_recipe(_recipe(6)), tmp_path / "run")
    spec = ExportSpec(format="sharegpt", val_fraction=0.5, to=str(tmp_path / "spec"))
    assert export(tmp_path / "run", spec=spec).validation == 3
    assert (tmp_path / "spec" / "train.jsonl").is_file()
    with pytest.raises(ExportError, match="not both"):
        export(tmp_path / "run", tmp_path / "x", spec, seed=3)
    with pytest.raises(ExportError, match="ngram"):
        export(tmp_path / "run", tmp_path / "x", ngram=-1)
    assert not os.path.exists(tmp_path / "x")
