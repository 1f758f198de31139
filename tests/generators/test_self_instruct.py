"""Self-Instruct, driven by hand-made Responses through the generator contract."""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from teachkit.errors import RecipeError, RetryableError
from teachkit.filters.base import Drop
from teachkit.filters.rules import RulesFilter, RulesSpec
from teachkit.generators.base import GeneratorContext, Job, Outcome, RestoreState
from teachkit.generators.instruct.base import InstructionRules
from teachkit.generators.instruct.parse import (
    filter_instances,
    normalize_whitespace,
    split_numbered_list,
)
from teachkit.generators.instruct.self_instruct import SelfInstructGenerator, SelfInstructSpec
from teachkit.records import Record, Rejection
from teachkit.teachers.backend import Capabilities, Response

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
REAL_SEEDS = str(SEEDS / "seed_tasks.jsonl")
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def context(completion: bool = True, chat: bool = True, base: str = ".") -> GeneratorContext:
    return GeneratorContext(
        recipe_name="si-test",
        recipe_hash="h0",
        seed=7,
        teacher_backend="fake",
        teacher_model="scripted",
        capabilities=Capabilities(chat=chat, completion=completion),
        sampling={"seed": 7, "frequency_penalty": 0.1, "temperature": 1.3, "n": 2},
        base_dir=base,
        allowed_paths=(str(SEEDS),),
    )


def generator(count: int = 50, completion: bool = True, **knobs: Any) -> SelfInstructGenerator:
    spec = SelfInstructSpec(kind="self_instruct", count=count, seeds=REAL_SEEDS, **knobs)
    return spec.build(context(completion=completion))


def answer(text: str, finish: str = "stop") -> Response:
    return Response(texts=[text], finish_reasons=[finish])


LONG = "Explain " + " ".join(["very"] * 150) + " carefully."
SCRIPT = "\n".join(
    [
        " suggest five names for a pet turtle and explain each choice.",  # kept, capitalised
        "10. Say hi there.",  # 3 words: too short
        f"11. {LONG}",  # too long
        "12. Describe the image below in great detail.",  # blacklist
        "13. Write a program that sorts a list of numbers.",  # "Write a program"
        '14. "Quote this sentence back to me exactly."',  # punctuation first
        "15. Écris un poème sur la mer en quatre vers.",  # non-ASCII first
    ]
)
SCRIPT_2 = "\n".join(
    [
        " What is the relation between the given pairs?",  # a real seed: ROUGE-L 1.0
        "10. Suggest   five names for a pet tortoise and explain each choice.",  # near the 1st
        "11. Classify the animal in the sentence as a mammal, bird, or reptile.",  # kept
        "12. Go to the nearest shop and buy some milk please.",  # "go to"
    ]
)


def test_prompt_lists_eight_numbered_seed_instructions_and_paper_sampling() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None and job.key == "si:prompt:000000" and job.stage == "prompt"
    prompt = job.request.prompt
    assert prompt is not None and job.request.messages is None
    lines = prompt.split("\n")
    assert lines[0] == "Come up with a series of tasks:"
    assert [line.split(".", 1)[0] for line in lines[1:9]] == [str(i) for i in range(1, 9)]
    assert lines[9] == "9."
    seeds = {t.id: t.instruction for t in gen.seeds}
    assert len(job.context["parents"]) == 8 and set(job.context["parents"]) <= set(seeds)
    options = job.request.options
    assert options["temperature"] == 0.7 and options["top_p"] == 0.5
    assert options["presence_penalty"] == 2.0 and options["max_tokens"] == 1024
    assert options["stop"] == ["\n\n", "\n16", "16.", "16 ."]
    # stage options win, the recipe's other sampling options are kept, n is not sent
    assert options["seed"] == 7 and options["frequency_penalty"] == 0.1 and "n" not in options
    again = generator().next_job()
    assert again is not None and again.request == job.request  # seeded by the run seed + index


def test_every_instruction_filter_then_the_novelty_filter() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None
    out = gen.on_response(job, answer(SCRIPT))
    reasons = [(r.filter, r.reason) for r in out.rejected]
    assert reasons == [
        ("instruction_rules", "too_short"),
        ("instruction_rules", "too_long"),
        ("instruction_rules", "blacklisted_word"),
        ("instruction_rules", "write_a_program"),
        ("instruction_rules", "starts_with_punctuation"),
        ("instruction_rules", "starts_with_non_ascii"),
    ]
    assert out.rejected[2].detail == {"word": "image"}
    assert all(
        r.record.user and r.record.meta["generator"] == "self_instruct" for r in out.rejected
    )
    assert [j.stage for j in out.jobs] == ["classify"]
    first = out.jobs[0].context["instruction"]
    assert first == "Suggest five names for a pet turtle and explain each choice."
    assert out.jobs[0].key.startswith("si:classify:")
    assert out.candidates == []

    job2 = gen.next_job()
    assert job2 is not None and job2.key == "si:prompt:000001"
    out2 = gen.on_response(job2, answer(SCRIPT_2))
    reasons2 = [(r.filter, r.reason) for r in out2.rejected]
    assert reasons2 == [
        ("rouge_l", "too_similar"),
        ("rouge_l", "too_similar"),
        ("instruction_rules", "blacklisted_word"),
    ]
    copy, near = out2.rejected[0], out2.rejected[1]
    assert copy.detail["rouge_l"] == 1.0
    assert copy.detail["most_similar"] == "What is the relation between the given pairs?"
    # compared with the instruction accepted one response earlier, as it joined the pool at once
    assert near.detail["most_similar"] == first
    near_text = near.record.user
    assert near.detail["rouge_l"] == SCORER.score(near_text, first)["rougeL"].fmeasure
    assert [j.context["instruction"] for j in out2.jobs] == [
        "Classify the animal in the sentence as a mammal, bird, or reptile."
    ]
    assert gen.pool.machine == [first, out2.jobs[0].context["instruction"]]
    stats = gen.stats()
    assert stats["instructions"] == {"parsed": 11, "kept": 2, "with_accepted_records": 0}
    assert stats["dropped"]["too_similar"] == 2 and stats["dropped"]["blacklisted_word"] == 2


def test_machine_instructions_join_later_prompts() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None
    gen.on_response(job, answer(SCRIPT))
    gen.on_response(job, answer(SCRIPT_2.replace("What is the relation", "Tell the relation")))
    later = gen.next_job()
    assert later is not None and later.request.prompt is not None
    assert len([p for p in later.context["parents"] if p.startswith("task-")]) == 2
    for text in gen.pool.machine:
        assert text in later.request.prompt


def test_a_truncated_list_is_dropped_whole() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None
    out = gen.on_response(job, answer(SCRIPT, finish="length"))
    assert out.jobs == [] and len(out.rejected) == 1
    assert out.rejected[0].reason == "truncated_response"
    assert out.rejected[0].record.assistant == SCRIPT
    assert gen.pool.machine == []


def run_stages(
    gen: SelfInstructGenerator, clf: str, instances: str, finish: str = "stop"
) -> Outcome:
    job = gen.next_job()
    assert job is not None
    (classify,) = gen.on_response(job, answer(SCRIPT)).jobs
    (inst_job,) = gen.on_response(classify, answer(clf)).jobs
    assert inst_job.stage == "instances" and inst_job.key.startswith("si:instances:")
    return gen.on_response(inst_job, answer(instances, finish))


def test_classify_then_input_first_instances_with_every_instance_filter() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None
    (classify,) = gen.on_response(job, answer(SCRIPT)).jobs
    prompt = classify.request.prompt
    assert prompt is not None and prompt.endswith(
        "Task: Suggest five names for a pet turtle and explain each choice.\nIs it classification?"
    )
    assert classify.request.options["temperature"] == 0.0
    (inst_job,) = gen.on_response(classify, answer(" No")).jobs
    assert inst_job.context["is_classification"] is False
    assert inst_job.request.prompt is not None
    assert "Example 1" in inst_job.request.prompt and "Class label" not in inst_job.request.prompt
    assert inst_job.request.options["stop"] == ["Example 6", "Task:"]
    text = (
        "Example 1\nTheme: sea\nOutput: Shelly, Wave, Coral\n"
        "Example 2\nTheme: space\nOutput: Comet, Orbit, Nova\n"
        "Example 3\nTheme: same\nOutput: Theme: same\n"  # input equals output
        "Example 4\nTheme: food\nOutput:\n"  # empty output
        "Example 5\nTheme: sea\nOutput: Shelly, Wave, Coral\n"  # duplicate
        "Example 6\nTheme: rivers\nOutput: Nile, Amazon, Danube:"  # ends with a colon
    )
    out = gen.on_response(inst_job, answer(text))
    assert [(r.filter, r.reason) for r in out.rejected] == [
        ("instances", "input_equals_output"),
        ("instances", "empty_output"),
        ("instances", "incomplete"),
        ("instances", "duplicate"),
    ]
    assert [(c.user, c.assistant) for c in out.candidates] == [
        (
            "Suggest five names for a pet turtle and explain each choice.\n\nTheme: sea",
            "Shelly, Wave, Coral",
        ),
        (
            "Suggest five names for a pet turtle and explain each choice.\n\nTheme: space",
            "Comet, Orbit, Nova",
        ),
    ]
    meta = out.candidates[0].meta
    assert meta["instruction"] == "Suggest five names for a pet turtle and explain each choice."
    assert meta["input"] == "Theme: sea" and meta["is_classification"] is False
    assert len(meta["parents"]) == 8 and meta["parents"] == job.context["parents"]
    assert 0.0 < meta["rouge_max_seed"] <= 0.7
    assert meta["source"] == "synthetic" and meta["teacher"]["model"] == "scripted"
    assert meta["task"].startswith("task-")


def test_classification_tasks_get_output_first_prompts() -> None:
    gen = generator()
    text = (
        "Class label: Mammal\nSentence: The bat slept in the cave.\n"
        "Class label: Reptile\nSentence: A gecko climbed the wall.\n"
        "Class label: Bird\nSentence: The bat slept in the cave."  # conflicts with the first
    )
    out = run_stages(gen, "Yes", text)
    assert out.candidates == []
    assert {r.reason for r in out.rejected} == {"conflicting_outputs"}
    ok = run_stages(generator(), "Yes", text.rsplit("\nClass label: Bird", 1)[0])
    assert [(c.meta["input"], c.assistant) for c in ok.candidates] == [
        ("Sentence: The bat slept in the cave.", "Mammal"),
        ("Sentence: A gecko climbed the wall.", "Reptile"),
    ]
    assert all(c.meta["is_classification"] is True for c in ok.candidates)


def test_generation_task_without_input_and_truncated_last_instance() -> None:
    out = run_stages(generator(), "No", "Output:\nShelly, Wave and Coral are fine names.")
    assert [(c.user, c.assistant) for c in out.candidates] == [
        (
            "Suggest five names for a pet turtle and explain each choice.",
            "Shelly, Wave and Coral are fine names.",
        )
    ]
    cut = run_stages(
        generator(), "No", "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOut", "length"
    )
    assert [c.assistant for c in cut.candidates] == ["b"]
    assert [r.reason for r in cut.rejected] == ["truncated"]
    none = run_stages(generator(), "No", "I cannot think of anything.")
    assert none.candidates == [] and [r.reason for r in none.rejected] == ["no_instances"]


def test_instance_limit() -> None:
    pairs = [(f"in {i}", f"out {i}") for i in range(8)]
    kept, dropped = filter_instances(pairs, truncated=False, limit=5)
    assert kept == pairs[:5]
    assert [reason for _, reason in dropped] == ["over_limit"] * 3
    text = "".join(f"Example {i}\nInput: {i}\nOutput: {i * 2 + 1}\n" for i in range(1, 5))
    out = run_stages(generator(max_instances=2), "No", text)
    assert len(out.candidates) == 2 and [r.reason for r in out.rejected] == ["over_limit"] * 2


def test_chat_mode_same_prompt_in_a_user_turn() -> None:
    gen = generator(completion=False)
    assert gen.mode == "chat"
    job = gen.next_job()
    assert job is not None and job.request.prompt is None and job.request.messages is not None
    (turn,) = job.request.messages
    assert turn["role"] == "user" and "Continue the numbered list" in turn["content"]
    assert turn["content"].endswith(
        "\n8. " + turn["content"].split("\n8. ")[1].split("\n")[0] + "\n9."
    )
    assert "\n\n" not in job.request.options["stop"]
    reply = (
        "9. Suggest five names for a pet turtle and explain each choice.\n\n"
        "10. Translate the proverb into Spanish and explain its meaning.\n\n"
        "I hope these tasks are useful for your list!"
    )
    out = gen.on_response(job, answer(reply))
    assert [j.context["instruction"] for j in out.jobs] == [
        "Suggest five names for a pet turtle and explain each choice.",
        "Translate the proverb into Spanish and explain its meaning.",
    ]
    (inst_job,) = gen.on_response(out.jobs[0], answer("No.")).jobs
    assert inst_job.request.messages is not None
    reply2 = "Task: Suggest five names...\nExample 1\nInput: sea\nOutput: Shelly\nTask: Next"
    got = gen.on_response(inst_job, answer(reply2))
    assert [(c.meta["input"], c.assistant) for c in got.candidates] == [("sea", "Shelly")]


def test_mode_must_match_the_backend() -> None:
    with pytest.raises(RecipeError, match="only takes chat"):
        generator(completion=False, mode="completion")
    with pytest.raises(ValueError, match="machine_instructions"):
        SelfInstructSpec(count=1, machine_instructions=9)


# --- a whole run, the way the engine drives it ------------------------------------------------
VOCAB = [f"{a}{b}" for a in "bcdfghklmnprstvz" for b in ("ar", "en", "ix", "od", "ul", "ey")]


def scripted_teacher(job: Job) -> Response:
    """Numbered lists of fresh random instructions; classification by keyword; two instances."""
    if job.stage == "prompt":
        rng = random.Random(job.key)
        items = ["Describe " + " ".join(rng.sample(VOCAB, rng.randint(4, 9))) for _ in range(7)]
        items[3] = "Draw a map of " + items[3]  # blacklisted every time
        return answer(" " + "\n".join(f"{9 + i}. {t}" if i else t for i, t in enumerate(items)))
    if job.stage == "classify":
        return answer("Yes" if "bar" in job.context["instruction"] else "No")
    if job.context["is_classification"]:
        return answer("Class label: A\nText: one\nClass label: B\nText: two")
    return answer("Example 1\nInput: x\nOutput: y\nExample 2\nOutput: z")


def drive(
    gen: SelfInstructGenerator,
    teacher: Callable[[Job], Response],
    accept: Callable[[Record], bool] = lambda r: True,
    stop_after: int | None = None,
) -> tuple[list[Job], list[Record], list[Rejection]]:
    """Creation-ordered jobs, accepted records and rejections, like a run directory holds."""
    jobs: list[Job] = []
    accepted: list[Record] = []
    rejected: list[Rejection] = []
    queue: deque[Job] = deque()
    while len(accepted) < gen.count and (stop_after is None or len(jobs) < stop_after):
        if queue:
            job = queue.popleft()
        else:
            root = gen.next_job()
            if root is None:
                break
            job = root
            jobs.append(job)
        out = gen.on_response(job, teacher(job))
        rejected.extend(out.rejected)
        for record in out.candidates:
            if len(accepted) < gen.count and accept(record):
                accepted.append(record)
                gen.on_accepted(record)
            else:
                rejected.append(Rejection(record, "rules", "test_drop"))
        jobs.extend(out.jobs)
        queue.extend(out.jobs)
    return jobs, accepted, rejected


def test_a_whole_run_reaches_the_count_with_paper_statistics() -> None:
    gen = generator(count=40)
    jobs, accepted, _ = drive(gen, scripted_teacher)
    assert len(accepted) == 40
    assert gen.next_job() is None
    keys = [j.key for j in jobs]
    assert len(keys) == len(set(keys))
    stats = gen.stats()
    kept = stats["instructions"]["kept"]
    assert kept == len(gen.pool.machine) > 0
    assert sum(stats["rouge_max_seed_histogram"].values()) == kept
    assert stats["dropped"]["blacklisted_word"] == stats["prompts"]
    clf = [r for r in accepted if r.meta["is_classification"]]
    assert stats["instances_per_instruction"] == round(
        40 / len({r.meta["task"] for r in accepted}), 3
    )
    assert stats["empty_input_fraction"] == round(
        sum(not r.meta["input"] for r in accepted) / 40, 3
    )
    assert 0 < len(clf) < 40 and stats["classification_fraction"] is not None
    assert stats["lengths_words"]["output"]["count"] == 40
    assert (
        stats["lengths_words"]["instruction"]["count"]
        == stats["instructions"]["with_accepted_records"]
    )


def test_restore_rebuilds_pool_counters_and_stats() -> None:
    first = generator(count=500)
    drop_some = lambda r: not r.assistant.startswith("z")  # noqa: E731 - the chain drops these
    jobs, accepted, rejected = drive(first, scripted_teacher, drop_some, stop_after=60)
    resumed = generator(count=500)
    resumed.restore(RestoreState(jobs=jobs, accepted=accepted, rejected=rejected))
    assert resumed.pool.index.texts == first.pool.index.texts
    assert resumed._machine_ids == first._machine_ids
    assert resumed._next_prompt == first._next_prompt
    assert resumed.stats() == first.stats()
    a, b = first.next_job(), resumed.next_job()
    assert a is not None and b is not None
    assert (a.key, a.request, a.context) == (b.key, b.request, b.context)


def test_no_new_prompts_while_in_flight_work_may_reach_the_count() -> None:
    gen = generator(count=2)
    assert gen.next_job() is not None and gen.next_job() is not None
    assert gen.next_job() is None


def test_failed_jobs_release_their_slot() -> None:
    gen = generator(count=1)
    job = gen.next_job()
    assert job is not None and gen.next_job() is None
    out = gen.on_failure(job, RetryableError("server down", status=503))
    assert out.rejected[0].filter == "teacher"
    assert gen.next_job() is not None


def test_prompt_listing_normalises_whitespace() -> None:
    gen = generator()
    job = gen.next_job()
    assert job is not None and job.request.prompt is not None
    for line in job.request.prompt.split("\n")[1:9]:
        assert not re.search(r"\s{2,}", line) and not line.endswith(":")


@pytest.mark.parametrize(
    ("text", "chat", "items"),
    [
        (
            " Alpha task one.\n10. Beta task two.\n11 . Gamma three.",
            False,
            ["Alpha task one.", "Beta task two.", "Gamma three."],
        ),
        (
            "9. Alpha task one.\n\n  10. Beta task two.\n\nHope this helps!",
            True,
            ["Alpha task one.", "Beta task two."],
        ),
        (
            "Here are seven more tasks:\n\n9. Alpha task one.\n10. Beta task two.",
            True,
            ["Alpha task one.", "Beta task two."],
        ),
        ("Alpha task one.\n10. Beta task two.", True, ["Alpha task one.", "Beta task two."]),
    ],
)
def test_split_numbered_list(text: str, chat: bool, items: list[str]) -> None:
    assert [normalize_whitespace(i) for i in split_numbered_list(text, chat)] == items


def test_overlapping_blacklist_entries_report_the_longest_match() -> None:
    gen = generator(blacklist=["go", "go to"])
    assert gen.rules.check("Go to the shop and buy milk.") == (
        "blacklisted_word",
        {"word": "go to"},
    )
    assert gen.rules.check("Let it go, then rest a while.") == ("blacklisted_word", {"word": "go"})


_WORDS = st.sampled_from(["go", "to", "Go", "image", "images", "maps", "c++", "x", "tell", "é"])
_PAPER_ONLY = {"write_a_program", "starts_with_punctuation", "starts_with_non_ascii"}


@settings(max_examples=300)
@given(
    words=st.lists(_WORDS, min_size=1, max_size=12),
    blacklist=st.lists(st.sampled_from(["go", "go to", "image", "c++", "Maps", " x "]), max_size=4),
    low=st.integers(1, 6),
    span=st.integers(0, 6),
)
def test_instruction_rules_decide_length_and_blacklist_as_the_rules_filter(
    words: list[str], blacklist: list[str], low: int, span: int
) -> None:
    """The instruction recipes call the rules filter's checks: the same drops, the same word."""
    instruction = " ".join(words)
    mine = InstructionRules(low, low + span, tuple(blacklist)).check(instruction)
    spec = {"kind": "rules", "field": "user", "blacklist_field": "user", "refusals": False}
    spec.update(min_words=low, max_words=low + span, blacklist=blacklist)
    record = Record(messages=[{"role": "user", "content": instruction}])
    theirs = RulesFilter(RulesSpec.model_validate(spec)).verdict(record)
    if isinstance(theirs, Drop):
        assert mine is not None
        if theirs.reason.startswith("blacklisted:"):
            assert mine == ("blacklisted_word", {"word": theirs.reason.split(":", 1)[1]})
        else:
            assert mine == (theirs.reason.split(":")[0], {"words": len(words)})
    else:
        assert mine is None or mine[0] in _PAPER_ONLY
