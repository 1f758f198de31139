"""The verify filter: any registered verifier, verdicts in meta and drops, concurrency, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml

from teachkit.errors import RecipeError, SandboxError
from teachkit.filters.base import KEEP, Drop, FilterContext
from teachkit.filters.verify import VerifyFilter, VerifySpec
from teachkit.recipe.kinds import VERIFIERS
from teachkit.recipe.load import dump_recipe, parse_recipe, recipe_hash
from teachkit.records import Record
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase


class EchoVerifier(Verifier):
    """Passes when the answer equals ``meta.expected``; can be held at a gate or made to fail."""

    kind: ClassVar[str] = "echo"

    def __init__(self, spec: EchoSpec, ctx: VerifierContext) -> None:
        self.spec, self.ctx = spec, ctx
        self.gate: asyncio.Event | None = None
        self.in_flight = self.peak = 0
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def verify(self, record: Record) -> Verdict:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.spec.fail == "bug":
                raise RuntimeError("a bug in the verifier")
            if self.spec.fail == "setup":
                raise SandboxError("no sandbox here")
            answer, expected = record.assistant, str(record.meta.get("expected"))
            ok = answer == expected
            return Verdict(
                ok,
                "passed" if ok else "mismatch",
                f"{answer!r} vs {expected!r}",
                duration=0.25,
                score=1.0 if ok else 0.0,
                data={"answer": answer},
            )
        finally:
            self.in_flight -= 1

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "strictness": self.spec.strictness}

    async def aclose(self) -> None:
        self.events.append("close")


class EchoSpec(VerifierSpecBase):
    kind: Literal["echo"] = "echo"
    strictness: int = 1
    fail: Literal["no", "bug", "setup"] = "no"

    def build(self, ctx: VerifierContext) -> EchoVerifier:
        return EchoVerifier(self, ctx)


@pytest.fixture(autouse=True)
def echo_kind() -> Iterator[None]:
    VERIFIERS.register("echo", EchoSpec)
    yield
    VERIFIERS.unregister("echo")


CTX = FilterContext(base_dir=Path("/recipes/here"), seed=7, teacher_factory=lambda c, n: None)  # type: ignore[arg-type,return-value]


def build(**spec: Any) -> VerifyFilter:
    verifier = spec.pop("verifier", {"kind": "echo"})
    return VerifySpec.model_validate({"verifier": verifier, **spec}).build(CTX)


def record(answer: str, expected: str) -> Record:
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": answer}]
    return Record(messages, meta={"expected": expected})


# --- the recipe ---------------------------------------------------------------------------------
def test_a_recipe_validates_the_verifier_through_the_registry() -> None:
    recipe = parse_recipe(
        {
            "filters": [
                {"kind": "verify", "verifier": {"kind": "echo", "strictness": 3}},
                {"kind": "verify", "name": "math", "verifier": {"kind": "math", "timeout": 2}},
            ]
        }
    )
    first, second = recipe.filters
    assert isinstance(first, VerifySpec) and isinstance(first.verifier, EchoSpec)
    assert first.verifier.strictness == 3 and first.keep_failed is False
    assert isinstance(second, VerifySpec) and second.verifier.kind == "math"
    # the resolved recipe keeps every verifier option, so a resume sees the same recipe
    dumped = yaml.safe_load(dump_recipe(recipe))
    assert dumped["filters"][0]["verifier"] == {"kind": "echo", "strictness": 3, "fail": "no"}
    assert dumped["filters"][1]["verifier"]["timeout"] == 2
    again = parse_recipe(dumped)
    assert recipe_hash(again) == recipe_hash(recipe)


def test_bad_verifier_sections_name_the_field() -> None:
    with pytest.raises(RecipeError, match=r"unknown kind 'nope'.*echo.*math.*sql"):
        parse_recipe({"filters": [{"kind": "verify", "verifier": {"kind": "nope"}}]})
    with pytest.raises(RecipeError, match=r"filters\[0\]\.verifier"):
        parse_recipe({"filters": [{"kind": "verify"}]})
    with pytest.raises(RecipeError, match=r"filters\[0\]\.verifier\.strictness"):
        parse_recipe(
            {"filters": [{"kind": "verify", "verifier": {"kind": "echo", "strictness": "x"}}]}
        )
    with pytest.raises(RecipeError, match=r"filters\[0\]\.max_concurrency"):
        parse_recipe(
            {"filters": [{"kind": "verify", "verifier": {"kind": "echo"}, "max_concurrency": 0}]}
        )


def test_the_verifier_context_comes_from_the_recipe() -> None:
    flt = build(allow_weak_sandbox=True)
    assert isinstance(flt.verifier, EchoVerifier)
    ctx = flt.verifier.ctx
    assert (ctx.base_dir, ctx.seed, ctx.allow_weak_sandbox) == (Path("/recipes/here"), 7, True)
    assert build().verifier.ctx.allow_weak_sandbox is False  # type: ignore[attr-defined]
    assert (flt.kind, flt.cost, flt.name) == ("verify", 3, "verify")


# --- keeping and dropping -----------------------------------------------------------------------
async def test_pass_keeps_with_the_verdict_and_failure_drops_with_its_reason() -> None:
    flt = build(name="checked")
    await flt.start()
    good, bad = record("4", "4"), record("5", "4")
    assert await flt.check(good) == KEEP
    assert good.meta["verdicts"] == {
        "checked": {
            "passed": True,
            "reason": "passed",
            "detail": "'4' vs '4'",
            "duration": 0.25,
            "score": 1.0,
            "data": {"answer": "4"},
        }
    }
    dropped = await flt.check(bad)
    assert isinstance(dropped, Drop) and dropped.reason == "mismatch"
    assert Verdict.from_dict(dropped.detail) == Verdict(
        False, "mismatch", "'5' vs '4'", 0.25, 0.0, {"answer": "5"}
    )
    assert "verdicts" not in bad.meta
    stats = flt.stats()
    assert stats["checked"] == 2 and stats["passed"] == 1
    assert stats["reasons"] == {"passed": 1, "mismatch": 1}
    assert stats["verifier"] == {"kind": "echo", "strictness": 1}
    await flt.aclose()
    assert flt.verifier.events == ["start", "close"]  # type: ignore[attr-defined]


async def test_keep_failed_keeps_failures_with_their_verdict() -> None:
    flt = build(keep_failed=True)
    bad = record("5", "4")
    assert await flt.check(bad) == KEEP
    assert bad.meta["verdicts"]["verify"]["passed"] is False
    assert bad.meta["verdicts"]["verify"]["reason"] == "mismatch"


async def test_two_verify_filters_keep_separate_verdicts() -> None:
    a, b = build(name="a"), build(name="b", keep_failed=True)
    r = record("4", "4")
    assert await a.check(r) == KEEP and await b.check(r) == KEEP
    assert set(r.meta["verdicts"]) == {"a", "b"}


async def test_verifications_in_flight_are_bounded() -> None:
    flt = build(max_concurrency=3)
    verifier: EchoVerifier = flt.verifier  # type: ignore[assignment]
    verifier.gate = asyncio.Event()
    tasks = [asyncio.ensure_future(flt.check(record("4", "4"))) for _ in range(10)]
    for _ in range(50):  # let every task run as far as it can
        await asyncio.sleep(0)
    assert verifier.in_flight == 3
    verifier.gate.set()
    assert await asyncio.gather(*tasks) == [KEEP] * 10
    assert verifier.peak == 3


async def test_an_unexpected_verifier_error_drops_only_that_record() -> None:
    flt = build(verifier={"kind": "echo", "fail": "bug"})
    dropped = await flt.check(record("4", "4"))
    assert isinstance(dropped, Drop) and dropped.reason == "verifier_error"
    assert "a bug in the verifier" in dropped.detail["detail"]


async def test_a_setup_error_stops_the_run() -> None:
    flt = build(verifier={"kind": "echo", "fail": "setup"})
    with pytest.raises(SandboxError):
        await flt.check(record("4", "4"))
