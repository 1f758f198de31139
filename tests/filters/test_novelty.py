"""The novelty filter kind: ROUGE-L against kept records (and an optional reference file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import check_now
from teachkit.errors import DataError
from teachkit.filters.base import Drop, FilterChain, FilterContext, Keep
from teachkit.filters.novelty import NoveltyFilter, NoveltySpec
from teachkit.recipe.load import parse_recipe
from teachkit.records import Record
from teachkit.similarity.rouge import rouge_l

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"


def ctx(base: Path) -> FilterContext:
    def no_teacher(config: object, name: str) -> object:
        raise AssertionError("the novelty filter needs no teacher")

    return FilterContext(
        base_dir=base, seed=0, teacher_factory=no_teacher, allowed_paths=(str(SEEDS),)
    )  # type: ignore[arg-type]


def record(user: str, answer: str = "ok", **meta: object) -> Record:
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        meta=dict(meta),
    )


async def test_drops_near_copies_of_kept_records_only_after_the_chain_keeps_them() -> None:
    chain = FilterChain([NoveltySpec().build(ctx(Path(".")))])
    first = record("Summarize the following news article in two sentences.")
    near = record("Summarize the following news article in three sentences.")
    assert await chain.evaluate(first) is None
    assert await chain.evaluate(near) is None  # `first` was never remembered
    chain.remember(first)
    dropped = await chain.evaluate(near)
    assert dropped is not None
    flt, drop = dropped
    assert drop.reason == "too_similar"
    assert drop.detail["rouge_l"] == rouge_l(near.user, first.user) > 0.7
    assert drop.detail["most_similar"] == first.user
    assert first.meta["scores"]["rouge_l_max"] == 0.0
    assert flt.stats()["dropped"] == 1 and flt.stats()["pool"] == 1


def test_against_the_real_seed_file(tmp_path: Path) -> None:
    spec = NoveltySpec.model_validate(
        {"kind": "novelty", "against": str(SEEDS / "seed_tasks.jsonl"), "threshold": 0.7}
    )
    flt = spec.build(ctx(tmp_path))
    assert flt.stats()["reference"] == 175
    first_seed = json.loads((SEEDS / "seed_tasks.jsonl").read_text().splitlines()[0])
    verdict = check_now(flt, record(first_seed["instruction"] + " Please."))
    assert isinstance(verdict, Drop)
    fresh = record("Translate the proverb into Finnish and explain it.")
    assert isinstance(check_now(flt, fresh), Keep)


def test_relative_against_resolves_against_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "ref.jsonl").write_text(
        json.dumps({"instruction": "List five prime numbers above one hundred.", "output": "101"})
        + "\n"
    )
    flt = NoveltySpec(against="ref.jsonl").build(ctx(tmp_path))
    assert isinstance(check_now(flt, record("List five prime numbers above one hundred!")), Drop)
    with pytest.raises(DataError, match=r"missing\.jsonl"):
        NoveltySpec(against="missing.jsonl").build(ctx(tmp_path))


@pytest.mark.parametrize(
    ("field", "expected"),
    [("instruction", "Do X now"), ("user", "Do X now\n\nsome input"), ("assistant", "answer")],
)
def test_fields(field: str, expected: str) -> None:
    flt = NoveltyFilter(field=field)  # type: ignore[arg-type]
    rec = record("Do X now\n\nsome input", "answer", instruction="Do X now")
    flt.remember(rec)
    assert flt.index.texts == [expected]


def test_warm_rebuilds_the_pool_and_threshold_is_strict() -> None:
    flt = NoveltyFilter(threshold=1.0)
    flt.warm([record("Name three rivers in Africa.")])
    # identical text scores exactly 1.0, which is not above a threshold of 1.0
    assert isinstance(check_now(flt, record("Name three rivers in Africa.")), Keep)
    strict = NoveltyFilter(threshold=0.99)
    strict.warm([record("Name three rivers in Africa.")])
    assert isinstance(check_now(strict, record("name three RIVERS in africa")), Drop)


def test_recipes_accept_the_novelty_kind() -> None:
    recipe = parse_recipe(
        {
            "generator": {"kind": "alpaca", "count": 5},
            "filters": [{"kind": "novelty", "threshold": 0.6, "field": "user"}],
        }
    )
    (spec,) = recipe.filters
    assert isinstance(spec, NoveltySpec) and spec.threshold == 0.6 and spec.field == "user"
