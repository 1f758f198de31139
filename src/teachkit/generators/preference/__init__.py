"""The ``preference`` generator: several candidate answers per prompt from one or more teachers,
each graded by the recipe's scorers (a verifier, an LLM judge, a reward model), every candidate
and score kept; pairs are built at export time (docs/preference.md)."""

from teachkit.generators.preference.prompts import PromptItem, PromptSource, PromptSpec, prompt_id
from teachkit.generators.preference.spec import PreferenceSpec, WriterSpec

__all__ = ["PreferenceSpec", "PromptItem", "PromptSource", "PromptSpec", "WriterSpec", "prompt_id"]
