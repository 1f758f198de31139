from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from teachkit.engine.export import export
from teachkit.errors import DataError, ExportError, MissingExtraError, RunDirError
from teachkit.formats import validate_openai_chat
from teachkit.formats.chat import CHAT
from teachkit.formats.decontam import user_text
from teachkit.formats.readers import read_records
from teachkit.records import Record
from teachkit.similarity.rouge import rouge_tokens

from .conftest import SELF_INSTRUCT, sentence, synthetic

MakeRun = Callable[[Sequence[Record]], Path]
SEED_TASKS = SELF_INSTRUCT / "seed_tasks.jsonl"
USER_ORIENTED = SELF_INSTRUCT / "user_oriented_instructions.jsonl"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _grouped(n: int) -> list[Record]:
    """``n`` records; every fifth starts a group of up to three similar records."""
    records = synthetic(n)
    for i in range(0, n, 5):
        for j in (1, 2):
            if i + j < n:
                records[i + j].meta["group"] = records[i].id
    return records


def test_chat_export(make_run: MakeRun, tmp_path: Path) -> None:
    records = _grouped(60)
    by_id = {r.id: r for r in records}
    run = make_run(records)
    out = tmp_path / "out"
    summary = export(run, out, val_fraction=0.2, seed=0)

    train, validation = _jsonl(out / "train.jsonl"), _jsonl(out / "validation.jsonl")
    metadata = _jsonl(out / "metadata.jsonl")
    assert (summary.train, summary.validation) == (len(train), len(validation))
    assert len(train) + len(validation) == 60
    assert 12 - 2 <= len(validation) <= 12  # groups of three may leave up to two places empty
    for row in train + validation:
        assert validate_openai_chat(row) == []
        assert set(row) == {"messages"}
    # metadata lines follow the rows one to one
    assert [m["split"] for m in metadata] == ["train"] * len(train) + ["validation"] * len(
        validation
    )
    for meta, row in zip(metadata, train + validation, strict=True):
        assert CHAT.to_row(by_id[meta["id"]]) == row
        assert meta["source"] == "synthetic"
        assert meta["group"] == by_id[meta["id"]].meta.get("group", meta["id"])
    assert [m["index"] for m in metadata if m["split"] == "validation"] == list(
        range(len(validation))
    )
    train_groups = {m["group"] for m in metadata if m["split"] == "train"}
    assert train_groups.isdisjoint(m["group"] for m in metadata if m["split"] == "validation")
    counts = json.loads((out / "export.json").read_text())
    assert counts["train"] == len(train) and counts["validation"] == len(validation)
    assert counts["seed"] == 0 and counts["format"] == "chat" and counts["source_run"] == str(run)
    assert counts["skipped_invalid"] == 0 and counts["dropped_decontam"] == 0
    assert counts["groups"] == 60 - 2 * 12
    assert _jsonl(out / "skipped.jsonl") == []

    again = export(run, tmp_path / "again", val_fraction=0.2, seed=0)
    assert (tmp_path / "again" / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    assert again.validation == summary.validation
    export(run, tmp_path / "other", val_fraction=0.2, seed=1)
    assert _jsonl(tmp_path / "other" / "validation.jsonl") != validation


def test_invalid_records_are_skipped_with_a_reason(make_run: MakeRun, tmp_path: Path) -> None:
    good = synthetic(10)
    blank = Record(
        messages=[{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "  "}]
    )
    unanswered = Record(messages=[{"role": "user", "content": "Only a question?"}])
    summary = export(make_run([*good, blank, unanswered]), tmp_path / "out", val_fraction=0.2)
    assert summary.skipped_invalid == 2
    assert summary.train + summary.validation == 10
    skipped = {s["id"]: s for s in _jsonl(tmp_path / "out" / "skipped.jsonl")}
    assert "empty content" in skipped[blank.id]["reason"]
    assert "no assistant message" in skipped[unanswered.id]["reason"]
    assert skipped[blank.id]["record"]["messages"] == blank.messages


def _qa(user: str, answer: str = "Done.") -> Record:
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    )


def _contaminated(references: list[Record]) -> tuple[list[Record], list[Record]]:
    """Training records made from validation inputs: near copies, and long shared spans."""
    short = [r for r in references if len(rouge_tokens(user_text(r))) < 12][:5]
    near = [_qa("Please answer this: " + user_text(ref)) for ref in short]
    longest = sorted(references, key=lambda r: -len(rouge_tokens(user_text(r))))[:3]
    spans = []
    for i, ref in enumerate(longest):
        span = " ".join(rouge_tokens(user_text(ref))[:15])
        rng = random.Random(i)
        spans.append(_qa(f"{sentence(rng, 60)} {span} {sentence(rng, 60)}"))
    return near, spans


def test_real_validation_with_decontamination(make_run: MakeRun, tmp_path: Path) -> None:
    references = list(read_records(SEED_TASKS))
    near, spans = _contaminated(references)
    clean = synthetic(40)
    out = tmp_path / "out"
    summary = export(make_run([*clean, *near, *spans]), out, validation=SEED_TASKS, seed=3)

    assert summary.dropped_decontam == len(near) + len(spans)
    assert summary.train == len(clean)
    assert summary.validation == len(references)
    assert summary.validation_file == str(SEED_TASKS)
    assert {r["id"] for r in _jsonl(out / "decontaminated.jsonl")} == {r.id for r in near + spans}
    tests = {d["id"]: d["test"] for d in _jsonl(out / "decontaminated.jsonl")}
    assert {tests[r.id] for r in near} == {"rouge_l"}
    assert {tests[r.id] for r in spans} == {"ngram"}
    # validation is the real file, converted to chat rows; train is synthetic only
    validation = _jsonl(out / "validation.jsonl")
    assert sorted(json.dumps(r) for r in validation) == sorted(
        json.dumps(CHAT.to_row(r)) for r in references
    )
    metadata = _jsonl(out / "metadata.jsonl")
    assert {m["source"] for m in metadata if m["split"] == "validation"} == {"real"}
    assert {m["source"] for m in metadata if m["split"] == "train"} == {"synthetic"}
    assert all(
        m["origin"]["path"] == str(SEED_TASKS) for m in metadata if m["split"] == "validation"
    )
    # a stricter threshold and no n-gram test keep the span records
    loose = export(
        make_run([*clean, *near, *spans]), tmp_path / "loose", validation=SEED_TASKS, ngram=0
    )
    assert loose.dropped_decontam == len(near)


def test_mixing_real_data(make_run: MakeRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = export(
        make_run(synthetic(80)), out, val_fraction=0.1, mix_real=USER_ORIENTED, real_fraction=0.2
    )
    assert summary.validation == 8
    assert summary.real_mixed == 18  # 18 / (72 + 18) = 0.2
    assert summary.train == 90
    assert summary.real_fraction_actual == pytest.approx(0.2)
    metadata = _jsonl(out / "metadata.jsonl")
    train_sources = [m["source"] for m in metadata if m["split"] == "train"]
    assert train_sources.count("real") == 18
    assert {m["source"] for m in metadata if m["split"] == "validation"} == {"synthetic"}
    # provenance stays out of the training rows
    for row in _jsonl(out / "train.jsonl"):
        assert set(row) == {"messages"}
        assert validate_openai_chat(row) == []


def test_mixing_with_real_validation_decontaminates_real_rows_too(
    make_run: MakeRun, tmp_path: Path
) -> None:
    summary = export(
        make_run(synthetic(40)),
        tmp_path / "out",
        validation=SEED_TASKS,
        mix_real=SEED_TASKS,  # the same file: every real row overlaps validation
        real_fraction=0.5,
    )
    assert summary.dropped_decontam_real == len(list(read_records(SEED_TASKS)))
    assert summary.real_mixed == 0 and summary.train == 40


def test_parquet_holds_the_same_rows(make_run: MakeRun, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = synthetic(30)
    records.append(
        Record(
            messages=[
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Dis bonjour."},
                {"role": "assistant", "content": "Bonjour !"},
            ]
        )
    )
    run = make_run(records)
    for row_format in ("chat", "alpaca", "sharegpt"):
        export(run, tmp_path / row_format, format=row_format, val_fraction=0.2)
        export(
            run,
            tmp_path / f"{row_format}-pq",
            format=row_format,
            file_format="parquet",
            val_fraction=0.2,
        )
        for split in ("train", "validation"):
            expected = _jsonl(tmp_path / row_format / f"{split}.jsonl")
            table = pq.read_table(tmp_path / f"{row_format}-pq" / f"{split}.parquet")
            rows = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
            assert rows == expected
    assert export(run, tmp_path / "p", format="parquet").file_format == "parquet"


def test_hf_layout(make_run: MakeRun, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "hf"
    summary = export(make_run(synthetic(20)), out, format="hf", val_fraction=0.25)
    assert summary.format == "chat" and summary.file_format == "hf"
    train = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()
    validation = pq.read_table(out / "data" / "validation-00000-of-00001.parquet").to_pylist()
    assert (len(train), len(validation)) == (15, 5)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "  - split: train\n    path: data/train-*.parquet" in card
    assert "  - split: validation\n    path: data/validation-*.parquet" in card
    # a split with no rows is left out of the layout
    none = export(make_run(synthetic(20)), tmp_path / "hf0", format="hf", val_fraction=0.0)
    assert none.validation == 0
    assert not (tmp_path / "hf0" / "data" / "validation-00000-of-00001.parquet").exists()
    assert "validation" not in (tmp_path / "hf0" / "README.md").read_text(encoding="utf-8")


def test_preference_export(make_run: MakeRun, tmp_path: Path) -> None:
    pairs = [
        Record(
            messages=[{"role": "user", "content": f"Pick {i}"}],
            chosen=f"good {i}",
            rejected=f"bad {i}",
        )
        for i in range(10)
    ]
    out = tmp_path / "out"
    summary = export(make_run([*pairs, *synthetic(3)]), out, format="preference", val_fraction=0.2)
    assert summary.skipped_invalid == 3
    assert summary.train + summary.validation == 10
    for row in _jsonl(out / "train.jsonl") + _jsonl(out / "validation.jsonl"):
        assert set(row) == {"prompt", "chosen", "rejected"}
        assert row["prompt"][-1]["role"] == "user"
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
    reasons = {s["reason"] for s in _jsonl(out / "skipped.jsonl")}
    assert reasons == {"record has no chosen/rejected pair, so it cannot be a preference row"}
    with pytest.raises(RunDirError, match="can be a preference row"):
        export(make_run(synthetic(3)), tmp_path / "y", format="preference")
    with pytest.raises(DataError, match="preference"):
        export(make_run(pairs), tmp_path / "x", format="preference", validation=SEED_TASKS)


def test_reexport_replaces_the_previous_files(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run(synthetic(20))
    out = tmp_path / "out"
    export(run, out, format="parquet")
    (out / "mine.txt").write_text("kept")
    export(run, out, format="chat")
    assert not (out / "train.parquet").exists()
    assert (out / "train.jsonl").exists() and (out / "mine.txt").exists()


def test_parquet_without_pyarrow(
    make_run: MakeRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(synthetic(10))
    out = tmp_path / "out"
    export(run, out)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'teachkit\[parquet\]'"):
        export(run, out, format="parquet")
    assert (out / "train.jsonl").exists()  # the previous export is left as it was


def test_errors(make_run: MakeRun, tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a run directory"):
        export(tmp_path, tmp_path / "out")
    empty = make_run([])
    with pytest.raises(RunDirError, match="no accepted records"):
        export(empty, tmp_path / "out")
    run = make_run(synthetic(5))
    with pytest.raises(RunDirError, match="holds the run's records"):
        export(run, run / "accepted")
    with pytest.raises(ExportError, match="conflicts"):
        export(run, tmp_path / "out", format="parquet", file_format="jsonl")
    with pytest.raises(ExportError, match="mix_real"):
        export(run, tmp_path / "out", real_fraction=0.2)
    with pytest.raises(ExportError, match="val_fraction"):
        export(run, tmp_path / "out", val_fraction=1.0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "output": "y"}\n{"oops": 1}\n')
    with pytest.raises(DataError, match="line 2"):
        export(run, tmp_path / "out", validation=bad)
    empty_file = tmp_path / "empty.jsonl"
    empty_file.write_text("")
    with pytest.raises(DataError, match="it is empty"):
        export(run, tmp_path / "out", mix_real=empty_file, real_fraction=0.1)
