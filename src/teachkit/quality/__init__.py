"""Quality metrics of synthetic data: diversity, drift from real data, and model collapse.

:func:`quality_panel` measures a set of records (optionally against real reference records) and
returns one JSON-serialisable dict (schema :data:`PANEL_SCHEMA`, documented in docs/quality.md).
Every metric is also a function of its own. :mod:`teachkit.quality.svg` draws the charts a report
needs; :mod:`teachkit.quality.collapse` reproduces model collapse (Shumailov et al. 2024).
"""

from teachkit.quality.axes import AxisCounter, axis_coverage
from teachkit.quality.drift import (
    centroid_distance,
    cluster_coverage,
    js_divergence,
    kmeans,
    length_divergence,
    mmd_test,
    vocabulary_divergence,
)
from teachkit.quality.embedding import (
    Moments,
    dispersion,
    nearest_neighbours,
    neighbour_summary,
    repeat_clusters,
    unit_rows,
    vendi_score,
)
from teachkit.quality.encode import CachedEncoder, Encoder, default_encoder, encode_batches
from teachkit.quality.lexical import (
    LexicalStats,
    NgramCounter,
    Vocabulary,
    distinct_n,
    length_edges,
    length_summary,
    opener_concentration,
    tokens,
)
from teachkit.quality.panel import SCHEMA_ID, PanelBuilder, PanelConfig, quality_panel
from teachkit.quality.rouge import self_rouge_l
from teachkit.quality.sampling import StreamSample, sample_positions
from teachkit.quality.schema import PANEL_SCHEMA

__all__ = [
    "PANEL_SCHEMA",
    "SCHEMA_ID",
    "AxisCounter",
    "CachedEncoder",
    "Encoder",
    "LexicalStats",
    "Moments",
    "NgramCounter",
    "PanelBuilder",
    "PanelConfig",
    "StreamSample",
    "Vocabulary",
    "axis_coverage",
    "centroid_distance",
    "cluster_coverage",
    "default_encoder",
    "dispersion",
    "distinct_n",
    "encode_batches",
    "js_divergence",
    "kmeans",
    "length_divergence",
    "length_edges",
    "length_summary",
    "mmd_test",
    "nearest_neighbours",
    "neighbour_summary",
    "opener_concentration",
    "quality_panel",
    "repeat_clusters",
    "sample_positions",
    "self_rouge_l",
    "tokens",
    "unit_rows",
    "vendi_score",
    "vocabulary_divergence",
]
