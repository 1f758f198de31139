"""The JSON Schema (draft 2020-12) of the quality panel, ``teachkit.quality.panel/1``.

Readers of a panel (the report, ``teachkit eval``, the lineage guard) may rely on every key listed
as required here; a figure that cannot be computed (too few records, no n-gram) is ``null``, never
missing. A new key may appear in a later version; a key changes meaning only with a new schema id.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PANEL_SCHEMA"]

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_SHARE_OR_NULL = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_QUANTILES = {"type": "object", "patternProperties": {"^p[0-9]+$": _NUM}}


def _obj(properties: dict[str, Any], *, nullable: bool = False) -> dict[str, Any]:
    return {
        "type": ["object", "null"] if nullable else "object",
        "required": sorted(properties),
        "properties": properties,
    }


_HISTOGRAM = _obj(
    {"edges": {"type": "array", "items": _INT}, "counts": {"type": "array", "items": _INT}}
)
_LENGTH = _obj(
    {
        "count": _INT,
        "mean": _NUM_OR_NULL,
        "quantiles": {**_QUANTILES, "type": ["object", "null"]},
        "histogram": {**_HISTOGRAM, "type": ["object", "null"]},
    }
)
_DISTINCT = _obj({"distinct": _INT, "total": _INT, "value": _SHARE_OR_NULL})
_OPENERS = _obj(
    {
        "records": _INT,
        "distinct": _INT,
        "top_share": _SHARE_OR_NULL,
        "top": {
            "type": "array",
            "items": _obj({"opener": {"type": "string"}, "count": _INT, "share": _SHARE}),
        },
    }
)
_ROUGE = _obj(
    {"sample": _INT, "mean_max": _SHARE, "mean_pairwise": _SHARE, "max_quantiles": _QUANTILES},
    nullable=True,
)
_DIVERSITY = _obj(
    {
        "tokens": _INT,
        "vocabulary": _INT,
        "distinct": {"type": "object", "additionalProperties": _DISTINCT},
        "self_rouge_l": _ROUGE,
        "openers": {"type": "object", "additionalProperties": _OPENERS},
    }
)
_LENGTHS = _obj({"words": _LENGTH, "chars": _LENGTH})
_UNAVAILABLE = _obj(
    {"available": {"const": False}, "reason": {"type": "string"}, "install": {"type": "string"}}
)
_NEIGHBOURS = _obj(
    {
        "exact": {"type": "boolean"},
        "queries": _INT,
        "distance": _obj({"mean": _NUM, "quantiles": _QUANTILES}),
        "threshold": _NUM,
        "repeat_share": _SHARE,
        "repeat_share_interval": {"type": ["array", "null"], "items": _SHARE},
        "clusters": _INT_OR_NULL,
        "clustered_records": _INT_OR_NULL,
        "largest_cluster": _INT_OR_NULL,
    },
    nullable=True,
)
_EMBEDDING = {
    "oneOf": [
        _obj(
            {
                "available": {"const": True},
                "model": {"type": ["string", "null"]},
                "dim": _INT,
                "dispersion": _NUM_OR_NULL,
                "vendi": {"type": ["number", "null"], "minimum": 1 - 1e-6},
                "neighbours": _NEIGHBOURS,
            }
        ),
        _UNAVAILABLE,
    ]
}
_AXES = _obj(
    {
        "records": _INT,
        "with_axes": _INT,
        "axes": {
            "type": "object",
            "additionalProperties": _obj(
                {
                    "values": {
                        "type": "array",
                        "items": _obj({"value": {"type": "string"}, "count": _INT}),
                    },
                    "distinct": _INT,
                    "declared": _INT_OR_NULL,
                    "unseen": {"type": "array", "items": {"type": "string"}},
                    "undeclared": {"type": "array", "items": {"type": "string"}},
                    "missing_records": _INT,
                }
            ),
        },
        "combinations": _obj({"seen": _INT, "total": _INT, "share": _SHARE_OR_NULL}),
    },
    nullable=True,
)
_CLUSTERS = _obj(
    {
        "k": _INT,
        "fitted_on": _INT,
        "reached_share": _SHARE,
        "total_variation": _SHARE,
        "missed": {"type": "array", "items": _INT},
        "under": {"type": "array", "items": _INT},
        "under_factor": _NUM,
        "clusters": {
            "type": "array",
            "items": _obj(
                {
                    "cluster": _INT,
                    "reference_share": _SHARE,
                    "synthetic_share": _SHARE,
                    "ratio": _NUM_OR_NULL,
                    "example": {"type": ["string", "null"]},
                }
            ),
        },
    },
    nullable=True,
)
_MMD = _obj(
    {
        "mmd2": _NUM,
        "p_value": _SHARE,
        "bandwidth": _NUM,
        "samples": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
        "permutations": _INT,
    },
    nullable=True,
)
_DRIFT = _obj(
    {
        "vocabulary_js": _SHARE_OR_NULL,
        "length_js": _obj({"words": _SHARE_OR_NULL, "chars": _SHARE_OR_NULL}),
        "embedding": {
            "oneOf": [
                _obj(
                    {
                        "available": {"const": True},
                        "centroid_distance": _NUM_OR_NULL,
                        "mmd": _MMD,
                        "clusters": _CLUSTERS,
                    }
                ),
                _UNAVAILABLE,
            ]
        },
    },
    nullable=True,
)
_REFERENCE = _obj(
    {
        "records": _INT,
        "empty": _INT,
        "diversity": _DIVERSITY,
        "lengths": _LENGTHS,
        "embedding": _obj({"dispersion": _NUM_OR_NULL, "vendi": _NUM_OR_NULL}, nullable=True),
    },
    nullable=True,
)

PANEL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "teachkit.quality.panel/1",
    "title": "teachkit quality panel",
    **_obj(
        {
            "schema": {"const": "teachkit.quality.panel/1"},
            "config": {"type": "object"},
            "records": _INT,
            "empty": _INT,
            "diversity": _DIVERSITY,
            "lengths": _LENGTHS,
            "axes": _AXES,
            "embedding": _EMBEDDING,
            "reference": _REFERENCE,
            "drift": _DRIFT,
        }
    ),
}
