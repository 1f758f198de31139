"""Seed files: the three layouts, the shipped file, and errors that name path, line and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teachkit.errors import DataError
from teachkit.formats.seeds import SHIPPED_SEEDS, load_seed_tasks

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"


def test_real_self_instruct_seeds() -> None:
    tasks = load_seed_tasks(str(DATA / "seed_tasks.jsonl"), allowed=[DATA])
    assert len(tasks) == 175
    assert tasks[0].id == "seed_task_0" and tasks[0].name
    assert all(t.instances and t.is_classification is not None for t in tasks)
    assert 0 < sum(bool(t.is_classification) for t in tasks) < 175


def test_shipped_seeds_are_our_own_and_complete() -> None:
    tasks = load_seed_tasks(SHIPPED_SEEDS)
    assert 15 <= len(tasks) <= 40
    assert all(t.instances and t.instances[0][1] for t in tasks)
    assert any(t.is_classification for t in tasks)
    real = {json.loads(line)["instruction"] for line in (DATA / "seed_tasks.jsonl").open()}
    assert not real & {t.instruction for t in tasks}


def test_plain_and_chat_layouts_and_relative_paths(tmp_path: Path) -> None:
    lines = [
        {"instruction": "Add the numbers.", "input": "2, 3", "output": "5"},
        {"instruction": "Name a color."},
        {},  # replaced below by a blank line
        {
            "messages": [
                {"role": "user", "content": "Say hi."},
                {"role": "assistant", "content": "Hi"},
            ]
        },
    ]
    text = "\n".join("" if not line else json.dumps(line) for line in lines)
    (tmp_path / "seeds.jsonl").write_text(text + "\n")
    tasks = load_seed_tasks("seeds.jsonl", base_dir=tmp_path)
    assert [t.instruction for t in tasks] == ["Add the numbers.", "Name a color.", "Say hi."]
    assert tasks[0].instances == [("2, 3", "5")] and tasks[1].instances == []
    assert tasks[2].instances == [("", "Hi")] and tasks[2].id == "seed-4"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"instruction": "ok"}\n{not json}\n', r"line 2: not valid JSON"),
        ('{"instruction": "ok"}\n[1, 2]\n', r"line 2: expected a JSON object"),
        ('{"input": "x", "output": "y"}\n', r"line 1: no 'instruction'"),
        ('{"instruction": "  "}\n', r"line 1: the instruction is empty"),
        ('{"instruction": 3}\n', r"line 1: 'instruction' must be a string"),
        ('{"instruction": "ok", "instances": {"a": 1}}\n', r"line 1: 'instances' must be a list"),
        ('{"instruction": "ok", "instances": [{"output": 5}]}\n', r"'output' must be a string"),
        ('{"instruction": "ok", "is_classification": "yes"}\n', r"must be true or false"),
        ("\n\n", r"holds no seed tasks"),
    ],
)
def test_bad_files_name_path_line_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=problem) as info:
        load_seed_tasks(str(path), base_dir=tmp_path)
    assert str(path) in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_seed_tasks("nope.jsonl", base_dir=tmp_path)
    with pytest.raises(DataError, match="ships no seed file"):
        load_seed_tasks("teachkit:nope.jsonl")


def test_errors_carry_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "ok"}\n\n{"instruction": 3}\n')
    with pytest.raises(DataError) as info:
        load_seed_tasks(str(path), base_dir=tmp_path)
    assert info.value.context == {"path": str(path), "line": 3}
    path.write_text("\n")
    with pytest.raises(DataError) as info:
        load_seed_tasks(str(path), base_dir=tmp_path)
    assert info.value.context == {"path": str(path)}
