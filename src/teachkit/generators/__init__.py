"""Generators: recipe kinds that render requests and parse answers into records."""

from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome

__all__ = ["Generator", "GeneratorContext", "Job", "Outcome"]
