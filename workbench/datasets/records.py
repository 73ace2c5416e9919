"""Reading a local data file into records: one dict per row, each with its place in the file for errors.

Understands JSONL, JSON (a list of rows, or TriviaQA's ``{"Data": [...]}``), CSV, TSV and Parquet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class Record:
    """One row of a data file and where it came from, e.g. ``line 3 of data/x.jsonl``."""

    where: str
    fields: Mapping[str, Any]

    def text(self, key: str) -> str:
        """The field as a stripped, non-empty string, or a WorkbenchError naming the row and the field."""
        value = self.fields.get(key)
        if value is None or not str(value).strip():
            raise WorkbenchError(f"{self.where}: missing {key!r}; fill it in or remove that row")
        return str(value).strip()


def read_records(path: Path, *, columns: Sequence[str] | None = None) -> list[Record]:
    """Every row of ``path``; ``columns`` names the columns of a CSV/TSV file that has no header row."""
    if not path.is_file():
        raise WorkbenchError(f"no such data file: {path}; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return _read_jsonl(path)
        if suffix == ".json":
            return _read_json(path)
        if suffix in (".csv", ".tsv"):
            return _read_delimited(path, delimiter="\t" if suffix == ".tsv" else ",", columns=columns)
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise WorkbenchError(f"line {line} of {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
                             f"offset {error.start}); re-save the file as UTF-8") from None
    if suffix == ".parquet":
        return _read_parquet(path)
    raise WorkbenchError(f"cannot read {path}: unknown file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


def _read_jsonl(path: Path) -> list[Record]:
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"line {number} of {path}"
            records.append(Record(where, _as_row(_parse_json(line, where), where)))
    return records


def _read_json(path: Path) -> list[Record]:
    data = _parse_json(path.read_text(encoding="utf-8"), str(path))
    if isinstance(data, dict) and isinstance(data.get("Data"), list):
        data = data["Data"]  # the original TriviaQA release
    if not isinstance(data, list):
        raise WorkbenchError(f"{path}: expected a JSON list of rows (or {{'Data': [...]}}); convert it to JSONL")
    return [Record(f"row {n} of {path}", _as_row(row, f"row {n} of {path}")) for n, row in enumerate(data, start=1)]


def _read_delimited(path: Path, *, delimiter: str, columns: Sequence[str] | None) -> list[Record]:
    records = []
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        header = list(columns) if columns is not None else next(reader, [])
        start = reader.line_num + 1
        for row in reader:
            where = f"line {start} of {path}"
            start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise WorkbenchError(f"{where}: {len(row)} columns where {len(header)} were expected; fix that row")
            records.append(Record(where, dict(zip(header, row))))
    return records


def _read_parquet(path: Path) -> list[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise WorkbenchError(f"reading {path} needs pyarrow: pip install pyarrow") from error
    rows = pq.read_table(path).to_pylist()
    return [Record(f"row {n} of {path}", row) for n, row in enumerate(rows, start=1)]


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise WorkbenchError(f"{where}: invalid JSON ({error.msg}); fix or remove it") from error


def _as_row(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WorkbenchError(f"{where}: expected a JSON object, got {type(value).__name__}; fix or remove it")
    return value
