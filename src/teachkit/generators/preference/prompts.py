"""Where a ``preference`` recipe's prompts come from: a template over axes, a file, or a run.

* ``template`` (with ``axes``): rendered per index exactly as the ``templated`` generator does
  (:class:`~teachkit.prompts.axes.AxisSampler`, sandboxed templates); never runs out.
* ``file``: JSON Lines of prompts (``{"prompt": ...}``) or chats, read through
  :func:`teachkit.formats.read_records`; a row's answer, if any, is dropped and its other fields
  (``meta``, extra keys of a prompt row) stay with the prompt for verifiers.
* ``run``: another run directory's accepted records (``accepted/*.jsonl``, committed lines), the
  prompt of each.

A file or a run is a fixed list: the generator runs out when each prompt was used once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from teachkit.errors import DataError
from teachkit.formats.pair_rows import prompt_turns
from teachkit.formats.readers import read_records
from teachkit.prompts.axes import Axes, AxisSampler, AxisSampling
from teachkit.prompts.templates import compile_template
from teachkit.recipe.base import StrictModel
from teachkit.records import Message, Record, content_hash

__all__ = ["PromptItem", "PromptSource", "PromptSpec", "prompt_id"]

#: meta keys of a source record that are provenance, not facts about the prompt
_PROVENANCE = ("source", "origin", "recipe", "recipe_hash", "teacher", "sampling", "job", "created")


def prompt_id(messages: list[Message]) -> str:
    """A stable id of a prompt's turns (the same prompt always has the same id)."""
    return content_hash(messages, prefix="p1-", length=16)


class PromptSpec(StrictModel):
    """``prompts:``, exactly one of ``template``, ``file`` or ``run``."""

    #: the user prompt, a template over ``axes``
    template: str | None = None
    axes: Axes = Field(default_factory=dict)
    axis_sampling: AxisSampling = "cartesian"
    #: a system prompt (a template over the axes), added unless the prompt has a system turn
    system: str | None = None
    #: JSON Lines (or a JSON array) of prompts or chats
    file: str | None = None
    #: a run directory whose accepted records give the prompts
    run: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        given = [k for k in ("template", "file", "run") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "prompts needs exactly one of 'template' (with axes), 'file' or 'run', "
                f"got {given or 'none'}"
            )
        if self.axes and self.template is None:
            raise ValueError("axes go with a prompt template; a file or a run has its prompts")
        names = set(self.axes)
        for where, source in (("prompts.template", self.template), ("prompts.system", self.system)):
            if source is not None:
                compile_template(source, where).check_variables(names)
        return self


@dataclass(slots=True)
class PromptItem:
    messages: list[Message]
    #: facts about the prompt that verifiers read (a reference answer, tests)
    meta: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, str] = field(default_factory=dict)
    #: where it came from: {"kind": template|file|run, ...}
    origin: dict[str, Any] = field(default_factory=dict)


class PromptSource:
    """Prompt ``index`` -> a :class:`PromptItem` (None once a fixed list is used up)."""

    def __init__(self, spec: PromptSpec, *, seed: int, base_dir: str) -> None:
        self.spec = spec
        self.system = compile_template(spec.system, "prompts.system") if spec.system else None
        self.items: list[PromptItem] | None = None
        self.sampler: AxisSampler | None = None
        if spec.template is not None:
            self.template = compile_template(spec.template, "prompts.template")
            self.sampler = AxisSampler(spec.axes, spec.axis_sampling, seed=seed, base_dir=base_dir)
            self.template_hash: str | None = self.template.hash
        else:
            self.template_hash = None
            self.items = self._load(Path(base_dir))

    def _load(self, base: Path) -> list[PromptItem]:
        if self.spec.file is not None:
            path = base / self.spec.file
            return [self._item(r, {"kind": "file", "path": str(path)}) for r in read_records(path)]
        run = base / str(self.spec.run)
        shards = sorted((run / "accepted").glob("*.jsonl"))
        if not shards:
            raise DataError(
                f"The run {run} has no accepted records (no accepted/*.jsonl). Give the folder "
                "that `teachkit run` wrote, after it accepted some records.",
                path=str(run),
            )
        items = []
        for shard in shards:
            for record in read_records(shard, source="synthetic"):
                items.append(self._item(record, {"kind": "run", "path": str(run)}))
        return items

    def _item(self, record: Record, origin: dict[str, Any]) -> PromptItem:
        turns = prompt_turns(record)
        where = record.meta.get("origin") or {}
        if not any(m["role"] == "user" for m in turns):
            raise DataError(
                f"{where.get('path', origin['path'])}, {where.get('line', '?')}: the row has no "
                "user turn to ask. Give each row a prompt or a chat with a user turn.",
                path=origin["path"],
            )
        if self.system is not None and turns[0]["role"] != "system":
            turns.insert(0, {"role": "system", "content": self.system.render()})
        meta = {k: v for k, v in record.meta.items() if k not in _PROVENANCE}
        origin = {**origin, "line": where.get("line"), "record": record.id}
        return PromptItem(messages=turns, meta=meta, origin=origin)

    @property
    def size(self) -> int | None:
        return None if self.items is None else len(self.items)

    def get(self, index: int) -> PromptItem | None:
        if self.items is not None:
            return self.items[index] if index < len(self.items) else None
        assert self.sampler is not None
        axes = self.sampler.values(index)
        messages: list[Message] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system.render(**axes)})
        messages.append({"role": "user", "content": self.template.render(**axes)})
        return PromptItem(messages=messages, axes=axes, origin={"kind": "template"})
