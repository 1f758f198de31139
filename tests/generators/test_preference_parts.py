"""Parts of the preference generator: the recipe section's checks, the reward endpoints (vLLM
shapes, against the fake server), the judge's answer parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from teachkit.errors import RecipeError
from teachkit.generators.preference.scorers.base import Prompt, ScorerContext
from teachkit.generators.preference.scorers.judge import parse_ratings, parse_winner
from teachkit.generators.preference.scorers.reward import RewardSpec, reward_root
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeServer
from teachkit.testing.fake_reward import script_reward

BASE = {"count": 2, "prompts": {"template": "Hi {{ x }}", "axes": {"x": ["a"]}}}


def generator(**extra: object) -> dict[str, object]:
    return {"generator": {"kind": "preference", **BASE, **extra}}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"scorers": []}, "scorers"),
        ({"scorers": [{"kind": "nope"}]}, "unknown kind 'nope'"),
        ({"candidates": 1, "scorers": [{"kind": "judge"}]}, "candidates"),
        (
            {"candidates": 2, "writers": [{"name": "a", "n": 2}], "scorers": [{"kind": "judge"}]},
            "either 'candidates'",
        ),
        ({"writers": [{"name": "a", "n": 1}], "scorers": [{"kind": "judge"}]}, "at least 2"),
        ({"scorers": [{"kind": "judge"}, {"kind": "judge"}]}, "share a name"),
        (
            {"prompts": {"file": "x.jsonl", "template": "y"}, "scorers": [{"kind": "judge"}]},
            "exactly one of",
        ),
        (
            {"prompts": {"template": "Hi {{ nobody }}"}, "scorers": [{"kind": "judge"}]},
            "nobody",
        ),
    ],
)
def test_recipe_errors_name_the_problem(extra: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe(generator(**extra))


def test_a_valid_section_fills_its_defaults() -> None:
    recipe = parse_recipe(generator(scorers=[{"kind": "judge", "mode": "pairwise"}]))
    spec = recipe.generator
    assert spec is not None
    writers = spec.resolved_writers()  # type: ignore[attr-defined]
    assert [(w.name, w.n) for w in writers] == [("teacher", 4)]


@pytest.mark.parametrize("endpoint", ["pooling", "classify", "score"])
async def test_reward_endpoints_have_vllm_shapes(tmp_path: Path, endpoint: str) -> None:
    async with FakeServer() as server:
        script = script_reward(server, rules=[("best", 2.0), ("worst", -2.0), ("refuse", None)])
        spec = RewardSpec(base_url=f"{server.base_url}", endpoint=endpoint)
        scorer = spec.build(ScorerContext(base_dir=tmp_path))
        prompt = Prompt(messages=[{"role": "user", "content": "Rate me"}])
        try:
            scores = await scorer.score(prompt, ["the best", "the worst", "please refuse"])
        finally:
            await scorer.aclose()
        assert script.calls == ["the best", "the worst", "please refuse"]
        path = {"pooling": "/pooling", "classify": "/classify", "score": "/v1/score"}[endpoint]
        assert server.requests[path] == 3
    best, worst, refused = scores.values
    assert best is not None and worst is not None and best > worst
    if endpoint != "classify":
        assert (best, worst) == (2.0, -2.0)
    else:  # a class probability
        assert 0.5 < best < 1.0 and 0.0 < worst < 0.5
    assert refused is None and scores.details[2]["reason"] == "reward_failed"


def test_reward_root_drops_v1() -> None:
    assert reward_root("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"
    assert reward_root("http://h:1") == "http://h:1"


def test_judge_answers_are_read_leniently_but_never_guessed() -> None:
    assert parse_winner('{"winner": "B", "reason": "clearer"}') == "B"
    assert parse_winner('```json\n{"winner": "tie"}\n```') == "tie"
    assert parse_winner("After thinking... Winner: A.") == "A"
    assert parse_winner("A") == "A"
    assert parse_winner("Both have merits.") is None
    aspects = ["helpfulness", "honesty"]
    assert parse_ratings('{"helpfulness": 8, "honesty": "9", "reason": "ok"}', aspects, 10) == (
        {"helpfulness": 8.0, "honesty": 9.0},
        "ok",
    )
    assert parse_ratings('{"helpfulness": 8}', aspects, 10) is None  # an aspect is missing
    assert parse_ratings('{"helpfulness": 11, "honesty": 2}', aspects, 10) is None


def test_the_example_recipe_loads_and_plans_without_a_teacher() -> None:
    import teachkit
    from support import REPO
    from teachkit.engine.api import plan

    recipe = teachkit.load_recipe(REPO / "examples" / "preference.yaml")
    dry = plan(recipe)
    assert dry.requests >= 1
    assert "boxed" in dry.sample_prompts[0]
