"""How training files are made from records: the validated settings of one export.

:class:`ExportSpec` is what ``teachkit export`` builds from its flags, what
``teachkit.engine.export.export`` takes (or builds from keyword options), and the optional
``export:`` section of a recipe, so the resolved recipe of a run records how its training files
were made. ``format`` names a registered row format (checked against the ``teachkit.formats``
registry when the export runs, and before a recipe's run starts); ``parquet`` and ``hf`` are
accepted as formats and mean chat rows in that file format.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from teachkit.recipe.base import StrictModel
from teachkit.recipe.paths import InputPath

__all__ = ["FILE_FORMATS", "ExportSpec", "FileFormat"]

FileFormat = Literal["jsonl", "parquet", "hf"]
#: what ``file_format`` accepts: JSON Lines, Parquet files, or a ``datasets``-loadable folder
FILE_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "hf")
#: formats that name a file format and mean chat rows in it
_SHORTHANDS = ("parquet", "hf")


class ExportSpec(StrictModel):
    """The settings of one export (see docs/export.md)."""

    #: a registered row format (``chat``, ``preference``, ``alpaca``, ``sharegpt``, a plugin), or
    #: ``parquet`` / ``hf`` for chat rows in that file format
    format: str = Field(default="chat", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    #: the file format the rows go into
    file_format: FileFormat = "jsonl"
    #: output folder; default ``<run dir>/dataset`` (in a recipe, relative to the run directory)
    to: str | None = None
    #: share of the records held out for validation when no ``validation`` file is given
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    #: seed of the split and of the mixing
    seed: int = 0
    #: real data to use as the validation set (train keeps every record that does not overlap it)
    validation: InputPath | None = None
    #: real data to mix into train, ``real_fraction`` of it
    mix_real: InputPath | None = None
    real_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    #: drop a train record whose ROUGE-L with a validation input is above this
    decontam_threshold: float = Field(default=0.7, ge=0.0, lt=1.0)
    #: drop a train record sharing this many consecutive words with a validation input (0: off)
    ngram: int = Field(default=13, ge=0)
    #: refuse to export a run that is not complete (running, killed, stopped early)
    require_complete: bool = False

    @field_validator("to", "validation", "mix_real", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("format") not in _SHORTHANDS:
            return data
        shorthand = data["format"]
        given = data.get("file_format")
        if given not in (None, shorthand):
            raise ValueError(
                f"format {shorthand!r} conflicts with file_format {given!r}: format {shorthand!r} "
                f"means chat rows in {shorthand}; give a row format with file_format {given!r}"
            )
        return {**data, "format": "chat", "file_format": shorthand}

    @model_validator(mode="after")
    def _mixing(self) -> ExportSpec:
        if self.real_fraction > 0 and self.mix_real is None:
            raise ValueError("real_fraction needs mix_real, the file of real examples to mix in")
        if self.mix_real is not None and self.real_fraction == 0:
            raise ValueError(
                "mix_real needs real_fraction above 0 (the share of real rows in train)"
            )
        return self
