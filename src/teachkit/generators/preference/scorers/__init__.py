"""Scorers for the ``preference`` generator: one contract (:mod:`.base`), three kinds built in
(``verifier``, ``judge``, ``reward``), more through the ``teachkit.scorers`` entry points."""

from teachkit.generators.preference.scorers.base import (
    SCORERS,
    Prompt,
    Scorer,
    ScorerContext,
    ScorerSpec,
    ScorerSpecBase,
    Scores,
)

__all__ = ["SCORERS", "Prompt", "Scorer", "ScorerContext", "ScorerSpec", "ScorerSpecBase", "Scores"]
