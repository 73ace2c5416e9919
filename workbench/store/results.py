"""Analysis results on disk: named tables (parquet) plus a manifest tracing them to their run and config.

Results live in ``RUN/results/<analysis>/``. Figures read these; analyses write them.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store.provenance import provenance, write_bytes_atomic, write_json_atomic

RESULT_FORMAT = 1


@dataclass(frozen=True)
class Result:
    """Stored tables of one analysis and the manifest that made them."""

    path: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise WorkbenchError(f"result {self.path} has no table {name!r}; it has {', '.join(self.tables)}")
        return self.tables[name]


def result_dir(run_path: str | Path, analysis: str) -> Path:
    return Path(run_path) / "results" / analysis


def write_result(path: str | Path, analysis: str, tables: dict[str, pd.DataFrame], config: dict[str, Any],
                 run_manifest: dict[str, Any] | None = None, **extra: Any) -> Result:
    """Write tables then the manifest, each atomically; the manifest is written last and names the tables."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_bytes_atomic(path / f"{name}.parquet", buffer.getvalue())
    run_manifest = run_manifest or {}
    manifest = {
        **provenance(config, run_manifest.get("model")),
        "analysis": analysis, "format": RESULT_FORMAT, "tables": sorted(tables),
        "run": {"config_hash": run_manifest.get("config_hash"), "config": run_manifest.get("config")},
        "grading": (run_manifest.get("config") or {}).get("grading", "exact"),  # runs before the field: exact
        **extra,
    }
    write_json_atomic(path / "manifest.json", manifest)
    return Result(path, manifest, dict(tables))


def read_result(path: str | Path) -> Result:
    """A stored result; a clear error when the folder is not one or was written by another format version."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise WorkbenchError(f"{path} holds no analysis result (no manifest.json); run the analysis first")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != RESULT_FORMAT:
        raise WorkbenchError(f"{path} was written by another result format ({manifest.get('format')}, this version "
                             f"reads {RESULT_FORMAT}); re-run the analysis")
    tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in manifest["tables"]}
    return Result(path, manifest, tables)


def remove_result(path: str | Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
