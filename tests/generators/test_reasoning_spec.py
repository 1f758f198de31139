"""The reasoning recipe section: what it accepts, what it refuses before any work, its defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from teachkit.errors import RecipeError
from teachkit.generators.base import GeneratorContext
from teachkit.generators.reasoning import DEFAULT_SAMPLING, ReasoningGenerator
from teachkit.recipe.load import parse_recipe
from teachkit.teachers.backend import Capabilities


def recipe(tmp_path: Path, **generator: Any) -> Any:
    (tmp_path / "p.jsonl").write_bytes(
        orjson.dumps({"problem": "What is 2 + 2?", "answer": "4", "topic": "sums"}) + b"\n"
    )
    data = {"kind": "reasoning", "count": 10, "problems": {"file": "p.jsonl"}, **generator}
    parsed = parse_recipe({"name": "r", "generator": data})
    parsed.set_base_dir(str(tmp_path))
    return parsed


def build(parsed: Any, *, n: bool = False, sampling: dict[str, Any] | None = None) -> Any:
    ctx = GeneratorContext(
        recipe_name="r",
        recipe_hash="h",
        seed=0,
        teacher_backend="openai",
        teacher_model="m",
        capabilities=Capabilities(n=n),
        sampling={"seed": 0, "n": 1, **(sampling or {})},
        base_dir=parsed.base_dir,
    )
    return parsed.generator.build(ctx)


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        ({"problems": {}}, "exactly one of 'file'"),
        ({"problems": {"file": "p.jsonl", "generate": {}}}, "exactly one of 'file'"),
        ({"problems": {"generate": {}, "preset": "gsm8k"}}, "only apply to problems read"),
        ({"problems": {"generate": {"output": {"fields": {"problem": "p"}}}}}, "'answer'"),
        ({"traces": 0}, "traces"),
        ({"parse": {"markers": ["(unclosed"]}}, "not a valid regex"),
        ({"parse": {"tag": "<think>"}}, "parse.tag"),
        ({"checks": {"mixed_language": {"script": "klingon"}}}, "unknown script"),
        ({"keep": "some"}, "keep"),
        ({"verifier": {"kind": "nope"}}, "unknown kind 'nope'"),
        ({"judge": {"threshold": 11}}, "threshold"),
        ({"prompt": "{% if %}"}, "does not parse"),
    ],
)
def test_bad_sections_fail_when_the_recipe_loads(
    tmp_path: Path, generator: dict[str, Any], message: str
) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe(tmp_path, **generator)


def test_a_prompt_may_use_the_problems_fields_but_never_the_answer(tmp_path: Path) -> None:
    build(recipe(tmp_path, prompt="A {{ topic }} problem: {{ problem }}"))
    with pytest.raises(RecipeError, match="uses answer"):
        build(recipe(tmp_path, prompt="{{ problem }} (it is {{ answer }})"))


def test_defaults_sampling_and_request_modes(tmp_path: Path) -> None:
    parsed = recipe(tmp_path)
    spec = parsed.generator
    assert spec.traces == 4 and spec.keep == "verified" and spec.verifier.kind == "math"
    native: ReasoningGenerator = build(parsed, n=True)
    job = native.next_job()
    assert job is not None and job.key == "sample:000000" and job.request.options["n"] == 4
    assert {k: job.request.options[k] for k in DEFAULT_SAMPLING} == DEFAULT_SAMPLING
    assert "within \\boxed{}" in (job.request.messages or [])[-1]["content"]
    assert native.next_job() is None  # one problem in the file
    one_by_one = build(parsed, n=False, sampling={"temperature": 1.1})
    job = one_by_one.next_job()
    assert job is not None and job.key == "sample:000000:t0" and "n" not in job.request.options
    assert job.request.options["temperature"] == 1.1 and job.request.options["top_p"] == 0.95
    assert one_by_one.complete_when_exhausted


def test_code_problems_get_the_code_prompt(tmp_path: Path) -> None:
    (tmp_path / "code.jsonl").write_bytes(
        orjson.dumps({"task_id": "T/0", "prompt": "def f():\n", "test": "assert f() == 1",
                      "entry_point": "f"}) + b"\n"
    )  # fmt: skip
    parsed = parse_recipe(
        {"generator": {"kind": "reasoning", "count": 1, "verifier": None,
                       "problems": {"file": "code.jsonl", "preset": "humaneval"}}}
    )  # fmt: skip
    parsed.set_base_dir(str(tmp_path))
    gen = build(parsed)
    job = gen.next_job()
    assert "```python" in (job.request.messages or [])[-1]["content"] and gen.checker is None


async def test_the_awaitable_hooks_give_the_same_outcome_as_the_blocking_ones(
    tmp_path: Path,
) -> None:
    from teachkit.teachers.backend import Response

    texts = [
        "<think>\n2 and 2 make 4.\n</think>\n\\boxed{4}",
        "<think>\nIt is 5.\n</think>\n\\boxed{5}",
    ]
    outcomes = []
    for awaited in (False, True):
        gen = build(recipe(tmp_path, traces=2), n=True)
        gen.restore(type("State", (), {"jobs": [], "accepted": [], "rejected": []})())
        job = gen.next_job()
        response = Response(texts=texts, finish_reasons=["stop", "stop"])
        if awaited:
            outcome = await gen.on_response_async(job, response)
        else:
            outcome = gen.on_response(job, response)
        gen.checker.close()
        outcomes.append(outcome)
    for outcome in outcomes:
        assert [r.meta["outcome"] for r in outcome.candidates] == ["passed"]
        assert [(r.reason, r.record.meta["trace_index"]) for r in outcome.rejected] == [
            ("wrong_answer", 1)
        ]
    assert [r.id for r in outcomes[0].candidates] == [r.id for r in outcomes[1].candidates]


def test_a_problems_file_outside_the_recipes_folder_is_refused(tmp_path: Path) -> None:
    from teachkit.recipe.load import load_recipe

    (tmp_path / "p.jsonl").write_bytes(orjson.dumps({"problem": "Q?", "answer": "1"}) + b"\n")
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "r.yaml"
    path.write_text(
        "generator: {kind: reasoning, count: 1, problems: {file: ../p.jsonl}}\n", encoding="utf-8"
    )
    with pytest.raises(RecipeError, match="outside the recipe's folder"):
        load_recipe(path)
    assert load_recipe(path, allow_paths=[tmp_path]).generator is not None
