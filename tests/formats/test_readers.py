from __future__ import annotations

import json
from pathlib import Path

import pytest

from teachkit.errors import DataError
from teachkit.formats.readers import read_records
from teachkit.records import Record

from .conftest import SELF_INSTRUCT


def _write(path: Path, *rows: object) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_every_shape_in_one_file(tmp_path: Path) -> None:
    stored = Record(
        messages=[{"role": "user", "content": "Q0"}, {"role": "assistant", "content": "A0"}],
        meta={"source": "synthetic", "axes": {"domain": "maths"}},
    )
    path = _write(
        tmp_path / "mixed.jsonl",
        stored.to_dict(),
        {"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]},
        {"prompt": [{"role": "user", "content": "Q2"}], "chosen": "A2", "rejected": "B2"},
        {"conversations": [{"from": "human", "value": "Q3"}, {"from": "gpt", "value": "A3"}]},
        {"instruction": "Q4", "instances": [{"input": "x", "output": "A4"}]},
        {"instruction": "Q5", "input": "", "output": "A5"},
    )
    (tmp_path / "mixed.jsonl").write_text(path.read_text() + "\n   \n", encoding="utf-8")
    records = list(read_records(path))
    assert [r.user for r in records] == ["Q0", "Q1", "Q2", "Q3", "Q4\n\nx", "Q5"]
    assert [r.assistant for r in records] == ["A0", "A1", "A2", "A3", "A4", "A5"]
    assert records[0].id == stored.id
    assert records[0].meta["source"] == "synthetic"  # a stored record keeps its provenance
    assert records[0].meta["axes"] == {"domain": "maths"}
    assert {r.meta["source"] for r in records[1:]} == {"real"}
    assert records[2].rejected == "B2"
    assert records[5].meta["origin"] == {"path": str(path), "line": "line 6"}


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.json"
    rows = [{"instruction": f"Q{i}", "input": "", "output": f"A{i}"} for i in range(3)]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    records = list(read_records(path))
    assert [r.user for r in records] == ["Q0", "Q1", "Q2"]
    assert records[2].meta["origin"]["line"] == "item 3"


@pytest.mark.parametrize(
    ("content", "where", "problem"),
    [
        ('{"instruction": "a", "output": "b"}\n{not json}\n', "line 2", "not valid JSON"),
        ('\n\n{"question": "a", "answer": "b"}\n', "line 3", "unknown row shape"),
        ('{"messages": [{"role": "bot", "content": "x"}]}\n', "line 1", "role 'bot'"),
        ('{"conversations": [{"from": "human", "value": 1}]}\n', "line 1", "must be a string"),
        ('["a", "b"]\n', "line 1", "must be a JSON object"),
        (
            '{"instruction": "a", "instances": [{"input": "", "output": null}]}\n',
            "line 1",
            "output",
        ),
    ],
)
def test_bad_rows_name_the_file_and_line(
    tmp_path: Path, content: str, where: str, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(read_records(path))
    message = str(info.value)
    assert str(path) in message
    assert where in message
    assert problem in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(read_records(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("name", ["seed_tasks.jsonl", "user_oriented_instructions.jsonl"])
def test_self_instruct_files(name: str) -> None:
    path = SELF_INSTRUCT / name
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records = list(read_records(path))
    assert len(records) == sum(len(task["instances"]) for task in tasks)
    for task, record in zip(tasks, records, strict=False):
        instance = task["instances"][0]
        expected = task["instruction"]
        if instance["input"].strip():
            expected += "\n\n" + instance["input"]
        assert record.messages == [
            {"role": "user", "content": expected},
            {"role": "assistant", "content": instance["output"]},
        ]
        assert record.meta["source"] == "real"
