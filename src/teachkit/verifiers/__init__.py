"""Verifiers: check a record's answer against a computable ground truth (see ``base``)."""

from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase

__all__ = ["Verdict", "Verifier", "VerifierContext", "VerifierSpecBase"]
