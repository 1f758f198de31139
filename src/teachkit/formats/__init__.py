"""Training-file formats: row formats (one registered object each), readers, writers, the grouped
split, real-data mixing, decontamination and the export that ties them together."""

from __future__ import annotations

from teachkit.formats.base import Column, RowError, RowFormat
from teachkit.formats.decontam import Contamination, Decontaminator
from teachkit.formats.export import ExportSummary, export_records
from teachkit.formats.mix import Mix, mix_real, real_needed
from teachkit.formats.readers import read_records
from teachkit.formats.rows import (
    FORMATS,
    detect,
    readable_formats,
    row_format,
    to_row,
    validate_openai_chat,
    writable_formats,
)
from teachkit.formats.split import Split, group_of, grouped_split, validation_target
from teachkit.recipe.export import FILE_FORMATS, ExportSpec

__all__ = [
    "FILE_FORMATS",
    "FORMATS",
    "Column",
    "Contamination",
    "Decontaminator",
    "ExportSpec",
    "ExportSummary",
    "Mix",
    "RowError",
    "RowFormat",
    "Split",
    "detect",
    "export_records",
    "group_of",
    "grouped_split",
    "mix_real",
    "read_records",
    "readable_formats",
    "real_needed",
    "row_format",
    "to_row",
    "validate_openai_chat",
    "validation_target",
    "writable_formats",
]
