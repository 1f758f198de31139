from __future__ import annotations

import itertools
import json
import logging
import math
from collections import Counter

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from teachkit.errors import DataError, RecipeError
from teachkit.prompts import Axes, AxisSampler, AxisSpec, compile_template
from teachkit.recipe.base import StrictModel


class _Holder(StrictModel):
    """Stands in for a generator spec that declares axes."""

    axes: Axes


def _axes(sizes: list[int]) -> dict[str, list[str]]:
    return {f"axis{i}": [f"v{i}_{j}" for j in range(n)] for i, n in enumerate(sizes)}


sizes_strategy = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4)
modes = st.sampled_from(["cartesian", "random", "round_robin"])


# --- determinism and the three sampling modes -----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sizes_strategy, modes, st.integers(0, 2**32), st.lists(st.integers(0, 10**9), max_size=8))
def test_values_depend_only_on_the_index(sizes, mode, seed, indices):
    axes = _axes(sizes)
    first = AxisSampler(axes, mode, seed=seed)
    second = AxisSampler(axes, mode, seed=seed)
    for index in reversed(indices):  # order of asking must not matter
        second.values(index)
    for index in indices:
        chosen = first.values(index)
        assert chosen == second.values(index)
        assert set(chosen) == set(axes)
        assert all(chosen[name] in axes[name] for name in axes)


@settings(max_examples=60, deadline=None)
@given(sizes_strategy, st.integers(0, 1000), st.booleans())
def test_cartesian_covers_every_combination_once_per_cycle(sizes, seed, shuffle):
    sampler = AxisSampler(_axes(sizes), "cartesian", seed=seed, shuffle=shuffle)
    assert sampler.size == math.prod(sizes)
    cycle = [tuple(sampler.values(i).values()) for i in range(sampler.size)]
    assert len(set(cycle)) == sampler.size
    following = [tuple(sampler.values(sampler.size + i).values()) for i in range(sampler.size)]
    assert following == cycle


@settings(max_examples=60, deadline=None)
@given(sizes_strategy, st.integers(0, 1000), st.data())
def test_cartesian_prefixes_are_balanced(sizes, seed, data):
    sampler = AxisSampler(_axes(sizes), "cartesian", seed=seed)
    prefix = data.draw(st.integers(1, max(sizes)))
    counts = Counter()
    for i in range(prefix):
        counts.update(sampler.values(i).items())
    for name, values in _axes(sizes).items():
        per_value = [counts[(name, v)] for v in values]
        assert max(per_value) - min(per_value) <= 1


@settings(max_examples=60, deadline=None)
@given(sizes_strategy, st.integers(0, 1000), st.integers(1, 200))
def test_round_robin_keeps_every_axis_balanced(sizes, seed, length):
    axes = _axes(sizes)
    sampler = AxisSampler(axes, "round_robin", seed=seed)
    counts = Counter()
    for i in range(length):
        counts.update(sampler.values(i).items())
    for name, values in axes.items():
        per_value = [counts[(name, v)] for v in values]
        assert max(per_value) - min(per_value) <= 1
        assert sum(per_value) == length


def test_round_robin_without_shuffle_follows_declared_order():
    sampler = AxisSampler({"a": ["x", "y", "z"], "b": ["p", "q"]}, "round_robin", shuffle=False)
    got = [sampler.values(i) for i in range(4)]
    assert [g["a"] for g in got] == ["x", "y", "z", "x"]
    assert [g["b"] for g in got] == ["p", "q", "p", "q"]


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_random_frequencies_follow_weights(seed):
    axes = {"level": {"values": ["easy", "medium", "hard"], "weights": [1, 2, 7]}}
    sampler = AxisSampler(axes, "random", seed=seed)
    draws = 20_000
    counts = Counter(sampler.values(i)["level"] for i in range(draws))
    for value, share in {"easy": 0.1, "medium": 0.2, "hard": 0.7}.items():
        # ~10 standard deviations: loose, yet a sampler that ignored weights fails it
        assert abs(counts[value] / draws - share) < 0.03


def test_random_draws_of_an_axis_ignore_other_axes():
    alone = AxisSampler({"style": ["a", "b", "c", "d"]}, "random", seed=3)
    together = AxisSampler({"topic": ["x", "y"], "style": ["a", "b", "c", "d"]}, "random", seed=3)
    assert [alone.values(i)["style"] for i in range(50)] == [
        together.values(i)["style"] for i in range(50)
    ]


def test_seed_changes_the_order():
    axes = _axes([6, 5])
    one = [AxisSampler(axes, "cartesian", seed=1).values(i) for i in range(30)]
    two = [AxisSampler(axes, "cartesian", seed=2).values(i) for i in range(30)]
    assert one != two


def test_negative_index_is_refused():
    with pytest.raises(ValueError, match=">= 0"):
        AxisSampler({"a": ["x"]}).values(-1)


def test_unknown_mode_is_a_recipe_error():
    with pytest.raises(RecipeError, match="cartesian, random or round_robin"):
        AxisSampler({"a": ["x"]}, "shuffle")  # type: ignore[arg-type]


def test_no_axes_gives_empty_values():
    sampler = AxisSampler({})
    assert sampler.values(5) == {}
    assert sampler.coverage([{}]).combination_fraction == 1.0


def test_weights_outside_random_mode_are_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="teachkit"):
        AxisSampler({"a": {"values": ["x", "y"], "weights": {"x": 3}}}, "cartesian")
    assert "only random sampling" in caplog.text


# --- coverage ---------------------------------------------------------------------------------


def test_coverage_counts_values_and_combinations():
    axes = {"domain": ["law", "art", "math"], "level": ["easy", "hard"]}
    sampler = AxisSampler(axes, "cartesian", seed=5)
    first = [sampler.values(i) for i in range(3)]
    coverage = sampler.coverage(first)
    assert sum(coverage.counts["domain"].values()) == 3
    assert coverage.fraction("domain") == 1.0  # the largest axis is walked first
    assert coverage.combinations_seen == 3
    assert coverage.combination_fraction == pytest.approx(0.5)
    full = sampler.coverage(sampler.values(i) for i in range(sampler.size))
    summary = full.summary()
    assert summary["combinations"] == {"seen": 6, "total": 6, "fraction": 1.0}
    assert summary["axes"]["level"] == {
        "values": 2,
        "seen": 2,
        "fraction": 1.0,
        "min_count": 3,
        "max_count": 3,
    }


def test_coverage_keeps_unknown_values_apart():
    sampler = AxisSampler({"a": ["x", "y"]})
    coverage = sampler.coverage([{"a": "x"}, {"a": "gone"}, {"other": "z"}])
    assert coverage.counts["a"] == {"x": 1, "y": 0, "gone": 1}
    assert coverage.fraction("a") == 0.5
    assert coverage.summary()["axes"]["a"]["min_count"] == 0
    assert coverage.combinations_seen == 1


# --- recipe validation ----------------------------------------------------------------------------


def test_yaml_shorthands_and_numbers():
    text = """
    axes:
      style: [formal, casual]
      difficulty: [1, 2, 3]
      persona: personas.txt
      level:
        values: [{value: easy, weight: 3}, hard]
    """
    holder = _Holder.model_validate(yaml.safe_load(text))
    assert holder.axes["style"].values == ["formal", "casual"]
    assert holder.axes["difficulty"].values == ["1", "2", "3"]
    assert holder.axes["persona"].file == "personas.txt"
    assert holder.axes["level"].load("level") == (["easy", "hard"], [3.0, 1.0])


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ({"values": ["a"], "file": "x.txt"}, "exactly one of"),
        ({}, "exactly one of"),
        ([], "no values"),
        (["a", "b", "a"], "more than once"),
        ({"values": ["a", "b"], "weights": [1]}, "one weight per value"),
        ({"values": ["a"], "weights": {"b": 2}}, "not in the axis"),
        ({"values": ["a"], "weights": [-1]}, "positive"),
        ({"file": "x.txt", "weights": [1]}, "only goes with inline values"),
        ([True, "maybe"], "quote it"),
        ({"values": ["a"], "colour": "red"}, "Extra inputs"),
    ],
)
def test_invalid_axes_are_explained(axis, message):
    with pytest.raises(ValidationError, match=message):
        _Holder.model_validate({"axes": {"topic": axis}})


@pytest.mark.parametrize("name", ["2nd", "target-language", "for", "loop", "true", "my axis"])
def test_axis_names_must_be_template_variables(name):
    with pytest.raises(ValidationError, match="template"):
        _Holder.model_validate({"axes": {name: ["a"]}})
    with pytest.raises(RecipeError, match="template"):
        AxisSampler({name: ["a"]})


def test_python_built_axes_report_recipe_errors():
    with pytest.raises(RecipeError, match="'topic' is invalid"):
        AxisSampler({"topic": {"values": []}})


def test_axis_names_are_usable_in_templates():
    sampler = AxisSampler({"domain": ["law"], "target_language": ["French"]})
    template = compile_template("Write about {{ domain }} in {{ target_language }}.")
    template.check_variables(sampler.names)
    assert template.render(**sampler.values(0)) == "Write about law in French."


# --- files -------------------------------------------------------------------------------------


def test_lines_file_relative_to_base_dir(tmp_path):
    (tmp_path / "personas.txt").write_text(
        "\ufeff# who asks\na nurse\n\n  a retired pilot  \r\na nurse\n", encoding="utf-8"
    )
    sampler = AxisSampler({"persona": "personas.txt"}, "random", base_dir=tmp_path)
    assert sampler.axis_values("persona") == ["a nurse", "a retired pilot"]
    # the repeated line merged into the first, doubling its weight
    assert AxisSpec(file="personas.txt").load("persona", tmp_path)[1] == [2.0, 1.0]


def test_jsonl_file_with_weights(tmp_path):
    lines = [{"value": "law", "weight": 3}, {"value": "art"}, "music", {"value": 42, "weight": 0.5}]
    (tmp_path / "domains.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    spec = AxisSpec(file="domains.jsonl", weights={"art": 2})
    assert spec.load("domain", tmp_path) == (["law", "art", "music", "42"], [3.0, 2.0, 1.0, 0.5])
    sampler = AxisSampler({"domain": spec}, "random", base_dir=tmp_path, seed=1)
    counts = Counter(sampler.values(i)["domain"] for i in range(13_000))
    assert abs(counts["law"] / 13_000 - 3 / 6.5) < 0.03


def test_jsonl_field_from_real_data(shared_data):
    tasks = shared_data / "self-instruct" / "user_oriented_instructions.jsonl"
    rows = [json.loads(line) for line in tasks.read_text(encoding="utf-8").splitlines()]
    expected = Counter(row["motivation_app"] for row in rows)
    spec = AxisSpec(file=str(tasks), field="motivation_app")
    values, weights = spec.load("app", allowed=[shared_data])
    assert values == list(expected)  # first-seen order, duplicates merged
    assert dict(zip(values, weights, strict=True)) == {k: float(v) for k, v in expected.items()}
    sampler = AxisSampler({"app": spec}, "cartesian", seed=0, allowed=[shared_data])
    seen = {sampler.values(i)["app"] for i in range(len(expected))}
    assert seen == set(expected)


def test_format_can_be_forced(tmp_path):
    (tmp_path / "styles.data").write_text('{"value": "terse"}\n{"value": "chatty"}\n')
    assert AxisSpec(file="styles.data", format="jsonl").load("s", tmp_path)[0] == [
        "terse",
        "chatty",
    ]
    assert AxisSpec(file="styles.data", format="lines").load("s", tmp_path)[0][0].startswith("{")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "\n# only a comment\n\n", "has no values"),
        ("bad.jsonl", '{"value": "a"}\n{"value": \n', "line 2 is not valid JSON"),
        ("nokey.jsonl", '{"value": "a"}\n{"name": "b"}\n', "line 2 has no 'value' key"),
        ("list.jsonl", '["a", "b"]\n', "line 1: the value must be a non-empty string"),
        ("blank.jsonl", '{"value": "  "}\n', "non-empty string"),
        ("weight.jsonl", '{"value": "a", "weight": -2}\n', "line 1: 'weight' must be a positive"),
        ("flag.jsonl", '{"value": "a", "weight": true}\n', "'weight' must be"),
    ],
)
def test_file_errors_name_path_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        AxisSampler({"topic": name}, base_dir=tmp_path)
    assert str(tmp_path / name) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*relative paths"):
        AxisSampler({"topic": "nowhere.txt"}, base_dir=tmp_path)


def test_not_utf8(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\u00e9\n".encode() + "na\u00efve\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.txt, line 2 is not valid UTF-8"):
        AxisSampler({"word": "latin.txt"}, base_dir=tmp_path)


def test_directory_is_unreadable(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        AxisSampler({"topic": "folder"}, base_dir=tmp_path)


def test_weights_for_values_missing_from_file(tmp_path):
    (tmp_path / "t.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="does not contain"):
        AxisSampler({"topic": {"file": "t.txt", "weights": {"c": 2}}}, base_dir=tmp_path)


def test_cartesian_over_files_and_lists(tmp_path):
    (tmp_path / "p.txt").write_text("nurse\npilot\nteacher\n")
    sampler = AxisSampler(
        {"persona": "p.txt", "level": ["easy", "hard"]}, "cartesian", base_dir=tmp_path, seed=9
    )
    combos = {tuple(sampler.values(i).items()) for i in range(6)}
    expected = {
        (("persona", p), ("level", lv))
        for p, lv in itertools.product(["nurse", "pilot", "teacher"], ["easy", "hard"])
    }
    assert combos == expected
