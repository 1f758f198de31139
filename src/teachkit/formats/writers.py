"""Write rows to JSON Lines, Parquet, or a ``datasets``-loadable folder.

The export writes every file into a staging folder and moves the finished set into place
(:mod:`teachkit.formats.outdir`), so these writers write their path directly. Parquet needs
pyarrow (``pip install 'teachkit[parquet]'``); the columns come from the row format
(:attr:`~teachkit.formats.base.RowFormat.columns`), so train and validation files always share one
schema (even an empty file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import ExportError, MissingExtraError
from teachkit.formats.base import Column, RowFormat, arrow_type

__all__ = [
    "HF_DATA_DIR",
    "hf_file_name",
    "require_pyarrow",
    "write_hf_card",
    "write_json",
    "write_jsonl",
    "write_parquet",
]

#: the folder of a ``hf`` layout that holds the Parquet shards
HF_DATA_DIR = "data"


def hf_file_name(split: str) -> str:
    """The shard name the Hugging Face Hub uses for a one-file split."""
    return f"{split}-00000-of-00001.parquet"


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """One JSON object per line (UTF-8, keys in row order); returns the number of rows."""
    count = 0
    with path.open("wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row))
            handle.write(b"\n")
            count += 1
    return count


def write_json(path: Path, data: Any) -> None:
    """One indented JSON document."""
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def _columns(fmt: RowFormat, splits: Mapping[Path, Sequence[Mapping[str, Any]]]) -> list[Column]:
    """The format's required columns plus its optional ones that some row uses."""
    used = {key for rows in splits.values() for row in rows for key in row}
    return [c for c in fmt.columns if not c.optional or c.name in used]


def require_pyarrow() -> None:
    """Raise :class:`MissingExtraError` unless pyarrow can be imported."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingExtraError("pyarrow", "parquet", "Writing Parquet files") from None


def write_parquet(fmt: RowFormat, splits: Mapping[Path, Sequence[Mapping[str, Any]]]) -> None:
    """Write each ``path: rows`` pair as a Parquet file with the columns of ``fmt``."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not fmt.columns:
        raise ExportError(
            f"The {fmt.name} format declares no columns, so it cannot be written to Parquet. "
            "Use file_format jsonl, or add columns to the format.",
            format=fmt.name,
        )
    columns = _columns(fmt, splits)
    schema = pa.schema([(c.name, arrow_type(c.type, pa)) for c in columns])
    for path, rows in splits.items():
        data = {c.name: [row.get(c.name) for row in rows] for c in columns}
        pq.write_table(pa.Table.from_pydict(data, schema=schema), path)


def write_hf_card(out: Path, counts: Mapping[str, int], *, row_format: str, seed: int) -> Path:
    """A README.md whose ``configs`` front matter tells ``datasets`` which file is which split."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in counts:
        lines += [f"  - split: {split}", f"    path: {HF_DATA_DIR}/{split}-*.parquet"]
    lines += ["---", "", "# Fine-tuning data", ""]
    lines.append(f"`{row_format}` rows exported by `teachkit export` with seed {seed}.")
    lines += ["", "| split | rows |", "| --- | --- |"]
    lines += [f"| {split} | {count} |" for split, count in counts.items()]
    lines += [
        "",
        "Load it from this folder with:",
        "",
        "```python",
        "import datasets",
        "",
        'ds = datasets.load_dataset("parquet", data_files={',
        *[f'    "{split}": "{HF_DATA_DIR}/{hf_file_name(split)}",' for split in counts],
        "})",
        "# or, reading the configs above:",
        'ds = datasets.load_dataset(".")',
        "```",
        "",
        "Row provenance (real or synthetic) is in `metadata.jsonl`; counts are in `export.json`.",
        "",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
