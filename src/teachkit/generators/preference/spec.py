"""The ``preference`` recipe kind: prompts, who writes the candidates, who scores them.

```yaml
generator:
  kind: preference
  count: 500                      # prompts kept (each with every candidate and score)
  prompts: {template: "...", axes: {...}}   # or {file: prompts.jsonl} or {run: runs/sft}
  candidates: 4                   # from the recipe's teacher; or writers: [...]
  scorers: [{kind: judge, mode: pairwise}]
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from teachkit.generators.base import GeneratorContext
from teachkit.generators.preference.prompts import PromptSpec
from teachkit.generators.preference.scorers.base import ScorerSpec
from teachkit.recipe.base import StrictModel, TeacherConfig
from teachkit.recipe.kinds import GeneratorSpecBase

if TYPE_CHECKING:
    from teachkit.generators.preference.generator import PreferenceGenerator

__all__ = ["DEFAULT_CANDIDATES", "PreferenceSpec", "WriterSpec"]

DEFAULT_CANDIDATES = 4
#: candidate slots per prompt: sample indices are prompt index * this + slot
MAX_CANDIDATES = 1000


class WriterSpec(StrictModel):
    """One teacher that writes candidates: ``{name: weak, n: 2, teacher: {...}}``."""

    #: the label of its candidates (``meta.candidates[i].teacher``) and of its usage in the
    #: manifest; ``teacher`` is the recipe's own teacher
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    #: its own teacher; unset: the recipe's teacher
    teacher: TeacherConfig | None = None
    #: candidates it writes per prompt
    n: int = Field(default=1, ge=1, le=128)


class PreferenceSpec(GeneratorSpecBase):
    kind: Literal["preference"] = "preference"
    prompts: PromptSpec
    #: candidates per prompt from the recipe's teacher (when ``writers`` is not given)
    candidates: int | None = Field(default=None, ge=2, le=128)
    #: several teachers writing candidates (e.g. a strong and a weak model)
    writers: list[WriterSpec] | None = Field(default=None, min_length=1)
    #: how candidates are graded; the first ranks, the next break its ties
    scorers: list[ScorerSpec] = Field(min_length=1)
    #: keep prompts whose candidates carry no preference (all tied, all correct, all wrong);
    #: by default they go to rejected/ with the reason and ``count`` counts informative prompts
    keep_uninformative: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PreferenceSpec:
        if self.writers is not None and self.candidates is not None:
            raise ValueError(
                "give either 'candidates' (all from the recipe's teacher) or 'writers' (each "
                "with its n), not both"
            )
        names = [w.name for w in self.writers or []]
        if len(names) != len(set(names)):
            raise ValueError(f"two writers share a name ({names}); give each its own")
        for writer in self.writers or []:
            if writer.name == "teacher" and writer.teacher is not None:
                raise ValueError(
                    "the writer name 'teacher' means the recipe's own teacher; name a writer "
                    "with its own teacher config otherwise"
                )
        if sum(w.n for w in self.resolved_writers()) < 2:
            raise ValueError("a prompt needs at least 2 candidates to compare; raise n")
        scorers = [s.name or s.kind for s in self.scorers]
        if len(scorers) != len(set(scorers)):
            raise ValueError(f"two scorers share a name ({scorers}); give each a 'name'")
        return self

    def resolved_writers(self) -> list[WriterSpec]:
        if self.writers is not None:
            return list(self.writers)
        return [WriterSpec(name="teacher", n=self.candidates or DEFAULT_CANDIDATES)]

    def build(self, ctx: GeneratorContext) -> PreferenceGenerator:
        from teachkit.generators.preference.generator import PreferenceGenerator

        return PreferenceGenerator(self, ctx)
