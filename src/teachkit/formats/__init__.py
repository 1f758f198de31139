"""Training-file formats: rows, readers, writers, the grouped split, real-data mixing,
decontamination and the export that ties them together."""

from __future__ import annotations

from teachkit.formats.decontam import Contamination, Decontaminator
from teachkit.formats.export import FILE_FORMATS, FORMATS, ExportSummary, export, resolve_format
from teachkit.formats.mix import Mix, mix_real, real_needed
from teachkit.formats.readers import read_records
from teachkit.formats.rows import ROW_FORMATS, RowError, to_row, validate_openai_chat
from teachkit.formats.split import Split, group_of, grouped_split, validation_target

__all__ = [
    "FILE_FORMATS",
    "FORMATS",
    "ROW_FORMATS",
    "Contamination",
    "Decontaminator",
    "ExportSummary",
    "Mix",
    "RowError",
    "Split",
    "export",
    "group_of",
    "grouped_split",
    "mix_real",
    "read_records",
    "real_needed",
    "resolve_format",
    "to_row",
    "validate_openai_chat",
    "validation_target",
]
