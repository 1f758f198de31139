"""The closed-loop guard: every way a teacher can be the student, lineage files, and the
allowed closed loop that stamps generations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from support import shard_rows
from teachkit.errors import RecipeError
from teachkit.quality.identity import identify, normalise_model_id, same_model
from teachkit.quality.lineage import plan_lineage
from teachkit.recipe.load import parse_recipe


def recipe(tmp_path: Path, **top: Any) -> teachkit.Recipe:
    teacher = top.pop("teacher", {})
    prompt = top.pop("prompt", "Explain {{ topic }} briefly.")
    data: dict[str, Any] = {
        "name": "loop",
        "teacher": {"backend": "scripted", **teacher},
        "generator": {
            "kind": "templated",
            "count": 4,
            "axes": {"topic": ["rain", "snow", "wind", "sun"]},
            "prompt": prompt,
        },
        "quality": {"embeddings": False},
        **top,
    }
    loaded = parse_recipe(data, base_dir=tmp_path)
    loaded.set_base_dir(str(tmp_path))
    return loaded


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m"),
        ("bartowski/SmolLM2-135M-Instruct-GGUF", "smollm2-135m"),
        ("smollm2:135m-instruct-q4_K_M", "smollm2-135m"),
        ("/models/SmolLM2-135M-Instruct-Q8_0.gguf", "smollm2-135m"),
        ("SmolLM2-1.7B-Instruct", "smollm2-1-7b"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", "qwen2-5-7b"),
        ("meta-llama/Llama-2-7b-chat-hf", "llama-2-7b"),
    ],
)
def test_normalised_ids(name: str, expected: str) -> None:
    assert normalise_model_id(name) == expected


def test_sizes_stay_apart() -> None:
    big, small = identify("HuggingFaceTB/SmolLM2-1.7B-Instruct"), identify("SmolLM2-135M")
    assert same_model(big, small) is None


@pytest.mark.parametrize(
    ("teacher", "student"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "bartowski/SmolLM2-135M-Instruct-GGUF"),
        ("smollm2:135m-instruct-q4_K_M", "SmolLM2-135M"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct-q4_k_m.gguf"),
    ],
)
def test_the_teacher_as_student_is_refused_before_the_directory_exists(
    tmp_path: Path, scripted: Any, teacher: str, student: str
) -> None:
    loop = recipe(tmp_path, teacher={"model": teacher}, student=student)
    with pytest.raises(RecipeError, match="is the student this data is for") as info:
        teachkit.run(loop, tmp_path / "run")
    assert "same model id after normalisation" in str(info.value)
    assert "allow_closed_loop" in str(info.value)
    assert not (tmp_path / "run").exists()
    assert scripted.calls == []


def test_a_different_model_is_generation_zero(tmp_path: Path, scripted: Any) -> None:
    ok = recipe(tmp_path, teacher={"model": "SmolLM2-1.7B-Instruct"}, student="SmolLM2-135M")
    summary = teachkit.run(ok, tmp_path / "run")
    assert summary.status == "complete"
    lineage = orjson.loads((tmp_path / "run" / "lineage.json").read_bytes())
    assert lineage["generation"] == 0 and lineage["closed_loop"] is None
    assert lineage["student"]["ids"] == ["smollm2-135m"]
    assert {r["meta"]["depth"] for r in shard_rows(tmp_path / "run", "accepted")} == {0}


def test_gguf_basename_and_size_label_identify_the_student(
    tmp_path: Path, gguf: Any, model_header: Any
) -> None:
    teacher = gguf("renamed-teacher.gguf", model_header("tinyteach", "7M"))
    gguf("student.gguf", model_header("tinyteach", "7M", tokens=["p", "q"]))
    loop = recipe(tmp_path, teacher={"model": str(teacher)}, student="student.gguf")
    with pytest.raises(RecipeError, match=r"same model id after normalisation \(tinyteach-7m\)"):
        plan_lineage(loop)
    other_size = gguf("small.gguf", model_header("tinyteach", "1M", tokens=["p", "q"]))
    plan_lineage(recipe(tmp_path, teacher={"model": str(teacher)}, student=str(other_size)))


def test_gguf_base_model_keys_identify_the_student(
    tmp_path: Path, gguf: Any, model_header: Any
) -> None:
    tuned = model_header(
        "my-sft",
        "",
        tokens=["z"],
        **{"general.base_model.count": 1, "general.base_model.0.name": "Teacher Model 7B"},
    )
    gguf("tuned.gguf", tuned)
    loop = recipe(
        tmp_path, teacher={"model": "org/Teacher-Model-7B-Instruct"}, student="tuned.gguf"
    )
    with pytest.raises(RecipeError, match="declares teacher-model-7b as its base model"):
        plan_lineage(loop)


def test_tokenizer_and_template_fingerprint_identify_the_student(
    tmp_path: Path, gguf: Any, model_header: Any
) -> None:
    teacher = gguf("a.gguf", model_header("alpha", "7M"))
    gguf("b.gguf", model_header("beta", "3M"))  # other names, same tokenizer, template, shape
    loop = recipe(tmp_path, teacher={"model": str(teacher)}, student="b.gguf")
    with pytest.raises(RecipeError, match="same tokenizer, chat template and architecture"):
        plan_lineage(loop)
    gguf("c.gguf", model_header("beta", "3M", template="{{ messages[0].content }}"))
    plan_lineage(recipe(tmp_path, teacher={"model": str(teacher)}, student="c.gguf"))


def _generation_zero(tmp_path: Path) -> Path:
    first = recipe(
        tmp_path,
        teacher={"model": "big-teacher-70b"},
        student="org/little-student-1b",
        export={"format": "chat", "val_fraction": 0.25},
    )
    summary = teachkit.run(first, tmp_path / "gen0")
    assert summary.status == "complete"
    return tmp_path / "gen0"


def _real_file(tmp_path: Path) -> Path:
    path = tmp_path / "real.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Real question {i}?"},
                {"role": "assistant", "content": f"A real answer number {i}."},
            ]
        }
        for i in range(6)
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _next_generation(tmp_path: Path, gen0: Path, **top: Any) -> teachkit.Recipe:
    return recipe(
        tmp_path,
        name="gen1",
        prompt="Describe {{ topic }} in one line for a child.",
        teacher={"model": "little-student-1b-Instruct"},  # the student of gen0, now trained
        filters=[
            {
                "kind": "novelty",
                "threshold": 0.99,
                "field": "user",
                "against": str(gen0 / "dataset" / "train.jsonl"),
            }
        ],
        **top,
    )


def test_a_lineage_file_naming_the_teacher_is_refused(tmp_path: Path, scripted: Any) -> None:
    gen0 = _generation_zero(tmp_path)
    written = orjson.loads((gen0 / "lineage.json").read_bytes())
    assert written["student"]["ids"] == ["little-student-1b"]
    with pytest.raises(RecipeError, match=f"was trained on data of the run {gen0}"):
        teachkit.run(_next_generation(tmp_path, gen0), tmp_path / "gen1")
    assert not (tmp_path / "gen1").exists()


def test_trained_on_declares_the_lineage(tmp_path: Path, scripted: Any) -> None:
    gen0 = _generation_zero(tmp_path)
    declared = recipe(tmp_path, teacher={"model": "someone-else"}, trained_on=[str(gen0)])
    with pytest.raises(RecipeError, match="trained_on names it"):
        plan_lineage(declared)
    with pytest.raises(RecipeError, match=r"holds no lineage\.json"):
        plan_lineage(recipe(tmp_path, trained_on=[str(tmp_path)]))


def test_allow_closed_loop_needs_real_data() -> None:
    with pytest.raises(RecipeError, match="allow_closed_loop needs real data"):
        parse_recipe({"allow_closed_loop": True, "export": {"format": "chat"}})


def test_an_allowed_closed_loop_stamps_generations(tmp_path: Path, scripted: Any) -> None:
    gen0 = _generation_zero(tmp_path)
    real = _real_file(tmp_path)
    loop = _next_generation(
        tmp_path,
        gen0,
        allow_closed_loop=True,
        export={"format": "chat", "mix_real": str(real), "real_fraction": 0.25},
    )
    summary = teachkit.run(loop, tmp_path / "gen1")
    assert summary.status == "complete"
    lineage = orjson.loads((tmp_path / "gen1" / "lineage.json").read_bytes())
    assert lineage["generation"] == 1
    assert lineage["real_fraction"] == 0.25 and lineage["real_file"] == str(real)
    assert "was trained on data of the run" in lineage["closed_loop"]
    assert [a["path"] for a in lineage["ancestors"]] == [str(gen0)]
    assert lineage["parents"][0]["via"] == "filters[0].against"
    metas = [r["meta"] for r in shard_rows(tmp_path / "gen1", "accepted")]
    assert metas and {m["depth"] for m in metas} == {1}
    assert {m["real_fraction"] for m in metas} == {0.25}
    gen0_depths = {r["meta"]["depth"] for r in shard_rows(gen0, "accepted")}
    assert gen0_depths == {0} and all(
        "real_fraction" not in r["meta"] for r in shard_rows(gen0, "accepted")
    )
    # resuming the complete run is recognised as the same recipe (same generation)
    again = teachkit.run(loop, tmp_path / "gen1")
    assert again.status == "already_complete"
