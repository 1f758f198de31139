"""Write rows to JSON Lines, Parquet, or a ``datasets``-loadable folder.

Every file is written to ``NAME.tmp`` first and renamed into place, so a reader never sees half a
file. Parquet needs pyarrow (``pip install 'teachkit[parquet]'``); the column types are fixed per
row format, so train and validation files always share one schema (even an empty file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import MissingExtraError

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

_OPTIONAL_COLUMNS = {"alpaca": ("system", "history")}


def hf_file_name(split: str) -> str:
    """The shard name the Hugging Face Hub uses for a one-file split."""
    return f"{split}-00000-of-00001.parquet"


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """One JSON object per line (UTF-8, keys in row order); returns the number of rows."""
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row))
            handle.write(b"\n")
            count += 1
    os.replace(tmp, path)
    return count


def write_json(path: Path, data: Any) -> None:
    """One indented JSON document."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)


def _schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    fields: dict[str, Any] = {
        "messages": message,
        "prompt": message,
        "chosen": message,
        "rejected": message,
        "instruction": pa.string(),
        "input": pa.string(),
        "output": pa.string(),
        "system": pa.string(),
        "history": pa.list_(pa.list_(pa.string())),
        "conversations": pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())])),
    }
    return pa.schema([(name, fields[name]) for name in columns])


def _columns(row_format: str, splits: Mapping[Path, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Required columns of ``row_format`` plus its optional ones that some row uses."""
    required = {
        "chat": ["messages"],
        "preference": ["prompt", "chosen", "rejected"],
        "alpaca": ["instruction", "input", "output"],
        "sharegpt": ["conversations"],
    }[row_format]
    optional = _OPTIONAL_COLUMNS.get(row_format, ())
    used = {key for rows in splits.values() for row in rows for key in row}
    return required + [name for name in optional if name in used]


def require_pyarrow() -> None:
    """Raise :class:`MissingExtraError` unless pyarrow can be imported."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingExtraError("pyarrow", "parquet", "Writing Parquet files") from None


def write_parquet(row_format: str, splits: Mapping[Path, Sequence[Mapping[str, Any]]]) -> None:
    """Write each ``path: rows`` pair as a Parquet file with the schema of ``row_format``."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(row_format, splits)
    schema = _schema(columns)
    for path, rows in splits.items():
        data = {name: [row.get(name) for row in rows] for name in columns}
        table = pa.Table.from_pydict(data, schema=schema)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)


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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path
