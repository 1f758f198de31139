"""Verifiers: check a record's answer against a computable ground truth (see ``base``)."""

from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase
from teachkit.verifiers.math import MathSpec, MathVerifier
from teachkit.verifiers.sql import SqlSpec, SqlVerifier

__all__ = [
    "MathSpec",
    "MathVerifier",
    "SqlSpec",
    "SqlVerifier",
    "Verdict",
    "Verifier",
    "VerifierContext",
    "VerifierSpecBase",
]
