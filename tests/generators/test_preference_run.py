"""The ``preference`` generator end to end against the fake server over real HTTP: candidates that
tie, miss scores or differ only in length; a pairwise judge that disagrees with itself across
swapped orders; several writers, native ``n`` and one request per candidate, all cached; a
verifier that finds all-right and all-wrong prompts; prompts from another run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import teachkit
from teachkit.engine.export import export
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeCall, FakeServer
from teachkit.testing.fake_reward import script_reward


def write_prompts(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def recipe(server: FakeServer, generator: dict[str, Any], **extra: Any) -> Any:
    data = {
        "name": "pref",
        "teacher": {
            "backend": "openai",
            "model": "fake",
            "base_url": server.base_url,
            "max_concurrency": 8,
            "sampling": {"temperature": 0.9, "max_tokens": 200},
        },
        "generator": {"kind": "preference", **generator},
        **extra,
    }
    return parse_recipe(data)


LONG = "Short. " + "It has more and more words in it to be longer. " * 3


def candidates_script(call: FakeCall) -> str:
    k = call.index
    if call.prompt.startswith("tie"):
        return f"tie answer {k}"
    if call.prompt.startswith("gap"):
        return f"gap answer {k}"
    if call.prompt.startswith("length"):
        return ["Short.", LONG.strip(), "Short. It has more words.", "Short. More."][k]
    return f"quality {k}"


def reward(text: str) -> float | None:
    if text.startswith("tie"):
        return 0.5
    if text.startswith("gap answer") and not text.endswith("0"):
        return None  # the reward server refuses these: no score
    if text.startswith("gap"):
        return 0.7
    if text.startswith("Short"):
        return len(text) / 100  # differ only in length
    return int(text.split()[-1]) / 10


async def test_ties_missing_scores_and_length_only_candidates(tmp_path: Path) -> None:
    prompts = write_prompts(
        tmp_path / "prompts.jsonl",
        [{"prompt": p} for p in ("tie me", "gap me", "length me", "normal me")],
    )
    async with FakeServer(candidates_script) as server:
        script_reward(server, reward)
        generator = {
            "count": 4,
            "prompts": {"file": str(prompts)},
            "candidates": 4,
            "keep_uninformative": True,
            "scorers": [{"kind": "reward", "base_url": server.url, "endpoint": "pooling"}],
        }
        summary = await teachkit.run_async(recipe(server, generator), tmp_path / "run")
        assert summary.status == "complete", summary.message
        # native n: one chat request per prompt, four choices each
        assert server.requests["/v1/chat/completions"] == 4
        assert server.requests["/pooling"] == 16
    records = {r.user: r for r in teachkit.read_accepted(tmp_path / "run")}
    gap = records["gap me"].meta["candidates"]
    assert [c["scores"]["reward"] for c in gap] == [0.7, None, None, None]
    assert gap[1]["verdicts"]["reward"]["reason"] == "reward_failed"

    out = export(tmp_path / "run", tmp_path / "data", format="preference", val_fraction=0.0)
    report = out.pairs
    assert report is not None
    assert report["skipped_prompts"] == {"all_tied": 1, "too_few_candidates": 1}
    assert report["excluded_candidates"] == {"missing_score": 3}
    rows = {r["prompt"][0]["content"]: r for r in read(tmp_path / "data" / "train.jsonl")}
    assert set(rows) == {"length me", "normal me"}
    assert rows["length me"]["chosen"][0]["content"] == LONG.strip()
    assert rows["normal me"]["chosen"][0]["content"] == "quality 3"
    assert rows["normal me"]["rejected"][0]["content"] in ("quality 0", "quality 1", "quality 2")
    skipped = read(tmp_path / "data" / "skipped.jsonl")
    assert sorted(s["reason"] for s in skipped) == [
        "all_tied",
        *["missing_score"] * 3,
        "too_few_candidates",
    ]

    # length control: the chosen long answer is paired only with answers of similar length
    out = export(
        tmp_path / "run",
        tmp_path / "ratio",
        format="preference",
        val_fraction=0.0,
        pairing={"policy": "best_vs_worst", "max_length_ratio": 1.5},
    )
    rows = {r["prompt"][0]["content"]: r for r in read(tmp_path / "ratio" / "train.jsonl")}
    assert set(rows) == {"normal me"}
    assert out.pairs is not None and out.pairs["skipped_prompts"]["length_ratio"] == 1
    assert rows["normal me"]["rejected"][0]["content"] == "quality 0"


_PAIR = re.compile(r"Answer A:\n(.*?)\n\nAnswer B:\n(.*?)\n\nAnswer with JSON", re.S)


def judged(call: FakeCall) -> str:
    if "Compare two answers" not in call.prompt:
        return f"quality {call.index}"
    match = _PAIR.search(call.prompt)
    assert match is not None
    first, second = (int(t.split()[-1]) for t in match.groups())
    biased = {first, second} == {1, 3}  # position bias on this pair: the two orders disagree
    winner = "A" if biased or first > second else "B"
    return json.dumps({"winner": winner, "reason": "scripted"})


async def test_pairwise_judge_keeps_only_comparisons_both_orders_agree_on(tmp_path: Path) -> None:
    async with FakeServer(judged) as server:
        generator = {
            "count": 2,
            "prompts": {"template": "Explain {{ topic }}.", "axes": {"topic": ["tides", "rain"]}},
            "candidates": 4,
            "scorers": [{"kind": "judge", "mode": "pairwise"}],
        }
        summary = await teachkit.run_async(recipe(server, generator), tmp_path / "run")
        assert summary.status == "complete", summary.message
        judge_calls = sum(1 for b in server.bodies if "Compare two" in json.dumps(b))
        assert judge_calls == 2 * 12  # 6 pairs, each in both orders, per prompt
    for record in teachkit.read_accepted(tmp_path / "run"):
        comparisons = {(c["a"], c["b"]): c for c in record.meta["comparisons"]["judge"]}
        assert comparisons[(1, 3)]["status"] == "disagree"
        assert comparisons[(1, 3)]["first"] == 1 and comparisons[(1, 3)]["second"] == 3
        assert all(c["status"] == "agree" for k, c in comparisons.items() if k != (1, 3))
        wins = [c["scores"]["judge"] for c in record.meta["candidates"]]
        assert wins == [0.0, 1.0, 2.0, 2.0]
    out = export(
        tmp_path / "run",
        tmp_path / "data",
        format="preference",
        val_fraction=0.0,
        pairing={"policy": "all_above_margin"},
    )
    assert out.pairs is not None
    assert out.pairs["dropped_pairs"] == {"order_disagreement": 2, "tie": 2}
    pairs = sorted(
        (r["chosen"][0]["content"], r["rejected"][0]["content"])
        for r in read(tmp_path / "data" / "train.jsonl")
    )
    expected = [("quality 1", "quality 0"), ("quality 2", "quality 0"), ("quality 2", "quality 1"),
                ("quality 3", "quality 0")]  # fmt: skip
    assert pairs == sorted(expected * 2)


async def test_several_writers_native_n_and_single_requests_all_cached(tmp_path: Path) -> None:
    def answer(call: FakeCall) -> str:
        return f"{call.body['model']} answer seed {call.body.get('seed')} choice {call.index}"

    async with FakeServer(answer) as server:
        teacher = {"backend": "openai", "base_url": server.base_url}
        generator = {
            "count": 3,
            "prompts": {"template": "Say {{ w }}.", "axes": {"w": ["hi", "yo", "hey"]}},
            "writers": [
                {"name": "strong", "n": 2, "teacher": {**teacher, "model": "strong"}},
                {
                    "name": "weak",
                    "n": 2,
                    "teacher": {**teacher, "model": "weak", "options": {"supports_n": False}},
                },
            ],
            "scorers": [{"kind": "reward", "base_url": server.base_url}],
            "keep_uninformative": True,
        }
        cache = str(tmp_path / "cache.sqlite")
        summary = await teachkit.run_async(
            recipe(server, generator), tmp_path / "a", cache_path=cache
        )
        assert summary.status == "complete", summary.message
        strong = [b for b in server.bodies if b.get("model") == "strong"]
        weak = [b for b in server.bodies if b.get("model") == "weak"]
        assert len(strong) == 3 and all(b["n"] == 2 for b in strong)
        assert len(weak) == 6 and all("n" not in b for b in weak)
        assert len({b["seed"] for b in weak}) == 6  # distinct sample indices
        teachers = summary.manifest["usage"]["teachers"]
        assert {"strong", "weak"} <= set(teachers)
        assert summary.manifest["generator"]["scorers"]["reward"]["requests"] == 12
        for record in teachkit.read_accepted(tmp_path / "a"):
            who = [(c["teacher"], c["model"]) for c in record.meta["candidates"]]
            assert who == [("strong", "strong")] * 2 + [("weak", "weak")] * 2
        # the same recipe again, same cache: nothing is asked again, candidates or scores
        server.reset()
        summary = await teachkit.run_async(
            recipe(server, generator), tmp_path / "b", cache_path=cache
        )
        assert summary.status == "complete"
        assert server.calls == 0 and server.requests["/pooling"] == 0
    first = sorted(r.id for r in teachkit.read_accepted(tmp_path / "a"))
    assert first == sorted(r.id for r in teachkit.read_accepted(tmp_path / "b"))


async def test_verifier_scorer_skips_all_right_and_all_wrong_prompts(tmp_path: Path) -> None:
    pytest.importorskip("math_verify")
    prompts = write_prompts(
        tmp_path / "maths.jsonl",
        [
            {"prompt": "easy: 2+2?", "answer": "4"},
            {"prompt": "hard: 7*8?", "answer": "56"},
            {"prompt": "mixed: 3+4?", "answer": "7"},
        ],
    )

    def solve(call: FakeCall) -> str:
        if call.prompt.startswith("easy"):
            return f"Thinking {call.index}... \\boxed{{4}}"
        if call.prompt.startswith("hard"):
            return f"I guess \\boxed{{{50 + call.index}}}"
        return f"Answer: \\boxed{{{7 if call.index == 2 else 9 + call.index}}}"

    async with FakeServer(solve) as server:
        generator = {
            "count": 3,
            "prompts": {"file": str(prompts)},
            "candidates": 3,
            "scorers": [{"kind": "verifier", "verifier": {"kind": "math"}}],
        }
        summary = await teachkit.run_async(recipe(server, generator), tmp_path / "run")
    assert summary.status == "exhausted"  # two of three prompts carry no preference
    assert summary.drops == {"preference": {"all_correct": 1, "all_incorrect": 1}}
    (record,) = teachkit.read_accepted(tmp_path / "run")
    assert record.meta["answer"] == "7"
    assert [c["scores"]["verifier"] for c in record.meta["candidates"]] == [0.0, 0.0, 1.0]
    assert record.chosen == "Answer: \\boxed{7}"
    assert record.meta["candidates"][0]["verdicts"]["verifier"]["passed"] is False


async def test_prompts_from_another_run(tmp_path: Path) -> None:
    async with FakeServer() as server:
        sft = parse_recipe(
            {
                "name": "sft",
                "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
                "generator": {
                    "kind": "templated",
                    "count": 3,
                    "prompt": "Describe {{ x }}.",
                    "axes": {"x": ["a fox", "a bee", "an oak"]},
                },
            }
        )
        assert (await teachkit.run_async(sft, tmp_path / "sft")).status == "complete"
        generator = {
            "count": 3,
            "prompts": {"run": str(tmp_path / "sft"), "system": "Be concise."},
            "candidates": 2,
            "scorers": [{"kind": "reward", "base_url": server.url}],
            "keep_uninformative": True,
        }
        summary = await teachkit.run_async(recipe(server, generator), tmp_path / "pref")
        assert summary.status == "complete", summary.message
    sources = {r.id: r for r in teachkit.read_accepted(tmp_path / "sft")}
    for record in teachkit.read_accepted(tmp_path / "pref"):
        assert record.messages[0] == {"role": "system", "content": "Be concise."}
        origin = record.meta["prompt_source"]
        assert origin["kind"] == "run" and origin["record"] in sources
        assert record.user == sources[origin["record"]].user
