"""Alpaca, driven by hand-made Responses through the generator contract."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer

from teachkit.errors import DataError
from teachkit.generators.base import GeneratorContext, Job, RestoreState
from teachkit.generators.instruct.alpaca import AlpacaGenerator, AlpacaSpec
from teachkit.generators.instruct.parse import parse_triples
from teachkit.recipe.load import load_recipe
from teachkit.records import Record, Rejection
from teachkit.teachers.backend import Capabilities, Response

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
REAL_SEEDS = str(SEEDS / "seed_tasks.jsonl")
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
FIRST_SEED = json.loads((SEEDS / "seed_tasks.jsonl").read_text().splitlines()[0])["instruction"]


def context(completion: bool = True, base: str = ".") -> GeneratorContext:
    return GeneratorContext(
        recipe_name="alpaca-test",
        recipe_hash="h0",
        seed=3,
        teacher_backend="fake",
        teacher_model="scripted",
        capabilities=Capabilities(chat=True, completion=completion),
        sampling={"seed": 3},
        base_dir=base,
        allowed_paths=(str(SEEDS),),
    )


def generator(count: int = 100, completion: bool = True, **knobs: Any) -> AlpacaGenerator:
    return AlpacaSpec(kind="alpaca", count=count, seeds=REAL_SEEDS, **knobs).build(
        context(completion)
    )


def answer(text: str, finish: str = "stop") -> Response:
    return Response(texts=[text], finish_reasons=[finish])


def item(n: int, instruction: str, given: str = "<noinput>", output: str = "Fine.") -> str:
    return f"{n}. Instruction: {instruction}\n{n}. Input:\n{given}\n{n}. Output:\n{output}\n"


SCRIPT = "###\n".join(
    [
        item(4, "Suggest three weekend activities for a family with young kids.")[
            len("4. Instruction:") :
        ],
        item(
            5,
            "Summarize the given story in one sentence for a child.",
            "A boy finds a lost dog and returns it to its owner.",
            "A boy returns a lost dog.",
        ),
        item(6, "Compose a short piece of music for the piano."),  # music
        item(7, "Sketch a flowchart of the login process."),  # flowchart
        item(8, "Say hi now."),  # too short
        item(9, FIRST_SEED),  # a seed
        item(10, "Summarize the given story in one short sentence for a child."),  # near item 5
        item(11, "Explain recursion to a beginner programmer.", output=""),  # empty output
        "12 Instruction: no dot after the number\n12. Input:\nx\n12. Output:\ny\n",
        item(13, "Write a program that prints the first ten squares."),
        item(14, "Give two tips for staying focused while studying at home."),
    ]
)


def test_prompt_shows_three_seed_tasks_and_asks_for_item_four() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None and job.key == "alpaca:prompt:000000"
    prompt = job.request.prompt
    assert prompt is not None and prompt.endswith("###\n4. Instruction:")
    assert prompt.count("###\n") == 4
    assert "List of 20 tasks:" in prompt
    by_id = {t.id: t for t in gen.seeds}
    assert len(job.context["parents"]) == 3
    for parent in job.context["parents"]:
        seed = by_id[parent]
        given, output = seed.instances[0]
        assert output in prompt and (given or "<noinput>") in prompt
    options = job.request.options
    assert options["temperature"] == 1.0 and options["top_p"] == 1.0
    assert options["max_tokens"] == 3072 and options["stop"] == ["\n20", "20."]


def test_every_filter_and_the_growing_pool() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None
    out = gen.on_response(job, answer(SCRIPT))
    assert [(r.filter, r.reason) for r in out.rejected] == [
        ("instruction_rules", "blacklisted_word"),
        ("instruction_rules", "blacklisted_word"),
        ("instruction_rules", "too_short"),
        ("rouge_l", "too_similar"),
        ("rouge_l", "too_similar"),
        ("alpaca", "empty_output"),
        ("alpaca", "unparsable"),
        ("instruction_rules", "write_a_program"),
    ]
    assert [r.detail.get("word") for r in out.rejected[:2]] == ["music", "flowchart"]
    assert out.rejected[3].detail["most_similar"] == FIRST_SEED
    near = out.rejected[4]
    assert near.detail["most_similar"] == "Summarize the given story in one sentence for a child."
    assert (
        near.detail["rouge_l"]
        == SCORER.score(near.record.meta["instruction"], near.detail["most_similar"])[
            "rougeL"
        ].fmeasure
    )
    assert [(c.meta["instruction"], c.meta["input"], c.assistant) for c in out.candidates] == [
        ("Suggest three weekend activities for a family with young kids.", "", "Fine."),
        (
            "Summarize the given story in one sentence for a child.",
            "A boy finds a lost dog and returns it to its owner.",
            "A boy returns a lost dog.",
        ),
        ("Give two tips for staying focused while studying at home.", "", "Fine."),
    ]
    second = out.candidates[1]
    assert second.user == (
        "Summarize the given story in one sentence for a child.\n\n"
        "A boy finds a lost dog and returns it to its owner."
    )
    assert second.meta["parents"] == job.context["parents"] and second.meta["pool_index"] == 1
    assert 0 < second.meta["rouge_max_seed"] <= 0.7
    assert out.jobs == []
    later = gen.next_job()
    assert later is not None and later.request.prompt is not None
    assert not any(c.meta["instruction"] in later.request.prompt for c in out.candidates)


def test_truncation_drops_only_the_last_item() -> None:
    text = item(4, "Name four capital cities in South America.")[len("4. Instruction:") :]
    text += "###\n" + item(5, "List the planets of the solar system in order.")[:40]
    items = parse_triples(text, 4, truncated=True)
    assert [(t is not None, reason) for t, reason, _ in items] == [(True, ""), (False, "truncated")]
    gen = generator()
    job = gen.next_job()
    assert job is not None
    out = gen.on_response(job, answer(text, "length"))
    assert len(out.candidates) == 1 and [r.reason for r in out.rejected] == ["truncated"]


def test_chat_mode() -> None:
    gen = generator(completion=False)
    job = gen.next_job()
    assert job is not None and job.request.messages is not None
    content = job.request.messages[0]["content"]
    assert 'Start your reply with "4. Instruction:"' in content
    reply = "###\n" + item(4, "Name four capital cities in South America.", output="Lima, Quito")
    out = gen.on_response(job, answer(reply))
    assert [c.assistant for c in out.candidates] == ["Lima, Quito"]


def test_seeds_need_an_instance(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text(json.dumps({"instruction": "Name a color please."}) + "\n")
    with pytest.raises(DataError, match="has no instance"):
        AlpacaSpec(count=1, seeds="s.jsonl").build(context(base=str(tmp_path)))


VOCAB = [f"{a}{b}" for a in "bcdfghklmnprstvz" for b in ("ar", "en", "ix", "od", "ul", "ey")]


def scripted(job: Job) -> Response:
    rng = random.Random(job.key)
    parts = []
    for n in range(4, 20):
        words = " ".join(rng.sample(VOCAB, rng.randint(4, 9)))
        parts.append(item(n, f"Describe {words}", output=rng.choice(["keep", "drop"])))
    return answer("###\n".join(parts)[len("4. Instruction:") :])


def test_restore_rebuilds_the_pool_from_accepted_and_chain_dropped_records() -> None:
    first = generator(count=10_000)
    jobs: list[Job] = []
    accepted: list[Record] = []
    rejected: list[Rejection] = []
    for _ in range(6):
        job = first.next_job()
        assert job is not None
        jobs.append(job)
        out = first.on_response(job, scripted(job))
        rejected.extend(out.rejected)
        for record in out.candidates:
            if record.assistant == "keep":
                accepted.append(record)
                first.on_accepted(record)
            else:  # dropped later in the chain: still a pool member
                rejected.append(Rejection(record, "rules", "test_drop"))
    assert len(first.pool.machine) > len(accepted) > 0
    resumed = generator(count=10_000)
    resumed.restore(RestoreState(jobs=jobs, accepted=accepted, rejected=rejected))
    assert resumed.pool.index.texts == first.pool.index.texts
    assert resumed.pool.rouge_max_seed == first.pool.rouge_max_seed
    assert resumed.stats() == first.stats()
    a, b = first.next_job(), resumed.next_job()
    assert a is not None and b is not None and (a.key, a.request) == (b.key, b.request)


def test_count_stops_new_prompts() -> None:
    gen = generator(count=1)
    job = gen.next_job()
    assert job is not None and gen.next_job() is None
    out = gen.on_response(job, answer(SCRIPT))
    gen.on_accepted(out.candidates[0])
    assert gen.next_job() is None
    stats = gen.stats()
    assert stats["accepted_records"] == 1 and "classification_fraction" not in stats


@pytest.mark.parametrize("name", ["self_instruct.yaml", "alpaca.yaml"])
def test_example_recipes_load_and_build_with_the_shipped_seeds(name: str) -> None:
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "examples" / name)
    gen = recipe.generator.build(context(base=recipe.base_dir))
    job = gen.next_job()
    assert job is not None and job.request.prompt is not None
    assert len(gen.seeds) == 21
