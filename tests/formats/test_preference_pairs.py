"""Pairs built at export time from scored candidates: policies, ties, missing scores, margins,
length control, judge agreement, identical normalisation of both sides, KTO labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from teachkit.errors import ExportError
from teachkit.formats import export_records
from teachkit.formats.pair_rows import normalise
from teachkit.formats.pairs import build_pairs
from teachkit.recipe.export import ExportSpec, PairingSpec
from teachkit.records import Record


def candidate(text: str, score: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "text": text,
        "teacher": extra.pop("teacher", "teacher"),
        "finish_reason": extra.pop("finish_reason", "stop"),
        "scores": {"rm": score} if score is not None else {},
        **extra,
    }


def prompt(
    name: str,
    candidates: list[dict[str, Any]],
    *,
    scorers: list[dict[str, str]] | None = None,
    **meta: Any,
) -> Record:
    return Record(
        messages=[{"role": "user", "content": f"Question {name}?"}],
        meta={
            "source": "synthetic",
            "prompt_id": f"p-{name}",
            "candidates": candidates,
            "scorers": scorers or [{"name": "rm", "kind": "reward"}],
            **meta,
        },
    )


def pairs_of(records: list[Record], **spec: Any) -> tuple[list[tuple[str, str, str]], Any]:
    built, report = build_pairs(records, PairingSpec(**spec), seed=0)
    found = [(r.meta["prompt_id"], r.chosen or "", r.rejected or "") for r in built.records]
    return found, report


def test_ties_and_missing_scores_are_dropped_with_their_reasons() -> None:
    records = [
        prompt("tie", [candidate("a", 0.5), candidate("b", 0.5), candidate("c", 0.5)]),
        prompt("missing", [candidate("a", 0.9), candidate("b", None), candidate("c", None)]),
        prompt("one-missing", [candidate("a", 0.9), candidate("b", None), candidate("c", 0.1)]),
    ]
    found, report = pairs_of(records, policy="best_vs_worst")
    assert found == [("p-one-missing", "a", "c")]
    assert report["skipped_prompts"] == {"all_tied": 1, "too_few_candidates": 1}
    assert report["excluded_candidates"] == {"missing_score": 3}
    assert report["prompts"] == 3 and report["prompts_paired"] == 1


def test_first_argmax_ties_never_make_chosen_equal_rejected() -> None:
    # two candidates share the top score and the same text: the pair is best vs a lower one
    record = prompt("dup", [candidate("same", 1.0), candidate("same", 1.0), candidate("low", 0.0)])
    found, _ = pairs_of([record], policy="best_vs_worst")
    assert found == [("p-dup", "same", "low")]
    # identical text on both sides after normalisation is never a pair
    record = prompt("ident", [candidate("x \n", 1.0), candidate("x", 0.0)])
    found, report = pairs_of([record], policy="best_vs_worst")
    assert found == [] and report["skipped_prompts"] == {"identical": 1}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("best_vs_worst", [("d", "a")]),
        ("best_vs_second", [("d", "c")]),
        (
            "all_above_margin",
            [("d", "c"), ("d", "b"), ("d", "a"), ("c", "b"), ("c", "a"), ("b", "a")],
        ),
    ],
)
def test_policies(policy: str, expected: list[tuple[str, str]]) -> None:
    record = prompt(
        "q", [candidate("a", 0.1), candidate("b", 0.4), candidate("c", 0.6), candidate("d", 0.9)]
    )
    found, report = pairs_of([record], policy=policy)
    assert [(c, r) for _, c, r in found] == expected
    assert report["pairs"] == len(expected)


def test_best_vs_random_lower_is_seeded_per_prompt_and_always_strictly_lower() -> None:
    record = prompt(
        "q", [candidate("a", 0.1), candidate("b", 0.4), candidate("c", 0.9), candidate("d", 0.9)]
    )
    picks = set()
    for seed in range(40):
        built, _ = build_pairs([record], PairingSpec(), seed=seed)
        (pair,) = built.records
        assert pair.chosen == "c"  # the first of the tied best
        assert pair.rejected in ("a", "b")  # never the other 0.9
        picks.add(pair.rejected)
        again, _ = build_pairs([record], PairingSpec(), seed=seed)
        assert again.records[0].rejected == pair.rejected
    assert picks == {"a", "b"}


def test_margin_per_scorer_and_below_margin_reason() -> None:
    record = prompt("m", [candidate("a", 0.5), candidate("b", 0.55), candidate("c", 0.9)])
    found, _ = pairs_of([record], policy="best_vs_second", min_margin=0.38)
    assert found == [("p-m", "c", "a")]  # b is within the margin, a is not
    found, report = pairs_of([record], policy="best_vs_worst", min_margin={"rm": 0.5})
    assert found == [] and report["skipped_prompts"] == {"below_margin": 1}
    found, report = pairs_of([record], policy="all_above_margin", min_margin=0.38)
    assert [(c, r) for _, c, r in found] == [("c", "a")]  # c-b and b-a are within 0.38
    assert report["dropped_pairs"] == {"below_margin": 2}


def test_candidates_differing_only_in_length_and_the_length_report() -> None:
    short, long = "Paris.", "Paris. " + "It is the capital of France, on the Seine. " * 4
    record = prompt("len", [candidate(short, 0.2), candidate(long.strip(), 0.8)])
    found, report = pairs_of([record], policy="best_vs_worst")
    assert found == [("p-len", long.strip(), short)]
    difference = len(long.strip()) - len(short)
    assert report["length_difference"]["count"] == 1
    assert report["length_difference"]["median"] == difference
    assert report["length_difference"]["chosen_longer"] == 1.0
    found, report = pairs_of([record], policy="best_vs_worst", max_length_ratio=2.0)
    assert found == [] and report["skipped_prompts"] == {"length_ratio": 1}
    # with a mid-length candidate, length control picks the rejected one among similar lengths
    middle = "Paris. It is the capital of France, on the Seine. " * 3
    record = prompt(
        "len2", [candidate(short, 0.1), candidate(middle.strip(), 0.3), candidate(long, 0.8)]
    )
    found, _ = pairs_of([record], policy="best_vs_worst", max_length_ratio=2.0)
    assert found == [("p-len2", long.strip(), middle.strip())]


def test_verifier_all_right_and_all_wrong_prompts_are_skipped() -> None:
    scorers = [{"name": "check", "kind": "verifier"}]

    def c(text: str, value: float) -> dict[str, Any]:
        return {"text": text, "teacher": "t", "scores": {"check": value}}

    records = [
        prompt("right", [c("4", 1.0), c("four", 1.0)], scorers=scorers),
        prompt("wrong", [c("5", 0.0), c("6", 0.0)], scorers=scorers),
        prompt("mixed", [c("5", 0.0), c("4", 1.0), c("6", 0.0)], scorers=scorers),
    ]
    found, report = pairs_of(records, policy="best_vs_worst")
    assert found == [("p-mixed", "4", "6")]
    assert report["skipped_prompts"] == {"all_correct": 1, "all_incorrect": 1}


def test_rank_by_breaks_ties_with_the_next_scorer() -> None:
    scorers = [{"name": "check", "kind": "verifier"}, {"name": "rm", "kind": "reward"}]

    def c(text: str, check: float, rm: float) -> dict[str, Any]:
        return {"text": text, "teacher": "t", "scores": {"check": check, "rm": rm}}

    record = prompt(
        "lex", [c("right-a", 1, 0.2), c("right-b", 1, 0.7), c("wrong", 0, 0.9)], scorers=scorers
    )
    built, _ = build_pairs([record], PairingSpec(policy="best_vs_second"))
    (pair,) = built.records
    assert (pair.chosen, pair.rejected) == ("right-b", "right-a")
    assert pair.meta["pair"]["scorer"] == "rm"  # the verifier tied them; the reward decided
    built, _ = build_pairs([record], PairingSpec(policy="best_vs_worst"))
    assert (
        built.records[0].rejected == "wrong" and built.records[0].meta["pair"]["scorer"] == "check"
    )
    built, report = build_pairs([record], PairingSpec(rank_by=["missing"]))
    assert not built.records and report["skipped_prompts"] == {"scorer_missing": 1}


def test_pairwise_judge_pairs_need_agreement_in_both_orders() -> None:
    scorers = [{"name": "judge", "kind": "judge"}]

    def c(text: str, wins: float) -> dict[str, Any]:
        return {"text": text, "teacher": "t", "scores": {"judge": wins}}

    comparisons = [
        {"a": 0, "b": 1, "status": "agree", "winner": 1},
        {"a": 0, "b": 2, "status": "disagree", "winner": None},
        {"a": 1, "b": 2, "status": "tie", "winner": "tie"},
    ]
    record = prompt(
        "pw",
        [c("zero", 0.0), c("one", 1.5), c("two", 0.5)],
        scorers=scorers,
        comparisons={"judge": comparisons},
    )
    found, report = pairs_of([record], policy="all_above_margin")
    assert [(c, r) for _, c, r in found] == [("one", "zero")]
    assert report["dropped_pairs"] == {"judged_tie": 1, "order_disagreement": 1}


def test_both_sides_are_normalised_the_same_way() -> None:
    assert normalise("a  \r\nb\t\n\n") == ("a\nb", None)
    assert normalise("<think>\n\n</think>\n\nAnswer") == ("Answer", None)
    assert normalise("<think>\n\n</think>Answer", think="keep") == ("Answer", None)
    assert normalise("<think>work</think> Answer", think="keep") == (
        "<think>work</think> Answer",
        None,
    )
    assert normalise("<think>work</think> Answer") == ("Answer", None)
    assert normalise("<think>never closed") == ("<think>never closed", "unclosed_think")
    assert normalise("Answer", think="require") == ("Answer", "missing_think")
    assert normalise("  ") == ("", "empty")
    # one side with an empty think block and the other without: identical text after pairing
    record = prompt(
        "think", [candidate("<think></think>\n42", 1.0), candidate("41  ", 0.0, teacher="weak")]
    )
    built, _ = build_pairs([record], PairingSpec(think="keep"))
    pair = built.records[0]
    assert (pair.chosen, pair.rejected) == ("42", "41")
    assert pair.meta["pair"]["rejected_teacher"] == "weak"


def test_truncated_candidates_are_left_out_unless_allowed() -> None:
    record = prompt(
        "cut", [candidate("full", 0.2), candidate("cut off mid", 0.9, finish_reason="length")]
    )
    found, report = pairs_of([record], policy="best_vs_worst")
    assert found == [] and report["excluded_candidates"] == {"truncated": 1}
    found, _ = pairs_of([record], policy="best_vs_worst", allow_truncated=True)
    assert found == [("p-cut", "cut off mid", "full")]


def test_kto_labels_each_answer_once() -> None:
    record = prompt("k", [candidate("a", 0.1), candidate("b", 0.5), candidate("c", 0.9)])
    built, report = build_pairs([record], PairingSpec(policy="all_above_margin"), unpaired=True)
    labels = {r.chosen: r.meta["pair"]["label"] for r in built.records}
    assert labels == {"c": True, "a": False}  # b is chosen over a and rejected against c
    assert report["excluded_candidates"] == {"label_conflict": 1}
    built, _ = build_pairs([record], PairingSpec(policy="best_vs_worst"), unpaired=True)
    assert {r.chosen: r.meta["pair"]["label"] for r in built.records} == {"c": True, "a": False}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_export_writes_pairs_counts_and_skipped_reasons(tmp_path: Path) -> None:
    records = [
        prompt(f"q{i}", [candidate(f"bad {i}", 0.1), candidate(f"good answer {i}", 0.9)])
        for i in range(8)
    ]
    records.append(prompt("tie", [candidate("x", 0.5), candidate("y", 0.5)]))
    records.append(prompt("gap", [candidate("x", 0.9), candidate("y", None)]))
    spec = ExportSpec(format="preference", val_fraction=0.25, seed=3)
    summary = export_records(records, tmp_path, spec)
    assert summary.train + summary.validation == 8
    report = json.loads((tmp_path / "export.json").read_text())["pairs"]
    assert report["pairs"] == 8
    assert report["skipped_prompts"] == {"all_tied": 1, "too_few_candidates": 1}
    assert report["excluded_candidates"] == {"missing_score": 1}
    skipped = read(tmp_path / "skipped.jsonl")
    assert sorted(s["reason"] for s in skipped) == [
        "all_tied",
        "missing_score",
        "too_few_candidates",
    ]
    rows = read(tmp_path / "train.jsonl") + read(tmp_path / "validation.jsonl")
    for row in rows:
        assert set(row) == {
            "prompt",
            "chosen",
            "rejected",
            "score_chosen",
            "score_rejected",
            "margin",
            "prompt_id",
        }
        assert row["margin"] == pytest.approx(row["score_chosen"] - row["score_rejected"])
        assert row["chosen"][0]["content"].startswith("good answer")
    assert len({row["prompt_id"] for row in rows}) == 8


def test_all_formats_write_the_same_pairs(tmp_path: Path) -> None:
    records = [
        prompt(f"q{i}", [candidate(f"worse {i}", 0.0), candidate(f"better {i}", 1.0)])
        for i in range(4)
    ]
    shapes = {}
    for name in ("preference", "preference_text", "preference_implicit", "kto"):
        out = tmp_path / name
        export_records(records, out, ExportSpec(format=name, val_fraction=0.0))
        shapes[name] = read(out / "train.jsonl")
    assert len(shapes["kto"]) == 8 and {r["label"] for r in shapes["kto"]} == {True, False}
    text = {r["prompt_id"]: r for r in shapes["preference_text"]}
    for row in shapes["preference_implicit"]:
        plain = text[row["prompt_id"]]
        assert (
            row["chosen"][:-1]
            == row["rejected"][:-1]
            == [{"role": "user", "content": plain["prompt"].strip()}]
        )
        assert row["chosen"][-1]["content"] == plain["chosen"]


def test_no_pair_at_all_is_an_error_that_names_the_reasons(tmp_path: Path) -> None:
    records = [prompt("tie", [candidate("x", 0.5), candidate("y", 0.5)])]
    with pytest.raises(ExportError, match="all_tied"):
        export_records(records, tmp_path, ExportSpec(format="preference"))
