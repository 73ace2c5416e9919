"""Analysis results on disk: named tables (parquet) plus a manifest tracing them to their run and config.

Results are keyed by what made them: ``RUN/results/<analysis>/<key>/``, where the key hashes the analysis
config with the run's config hash and size, so an analysis re-run with other settings sits beside the earlier
one instead of replacing it. ``RUN/results/<analysis>/latest.json`` points at the result of the latest call;
readers given the analysis folder follow it (``read_result``, ``find_result``). A call whose key is already
stored returns that result unless ``overwrite=True`` (then, and only then, it is recomputed and replaced).
Results written before keying (``RUN/results/<analysis>/manifest.json``) are still read.
Figures read these; analyses write them.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError, did_you_mean
from workbench.store.provenance import config_hash, provenance, write_bytes_atomic, write_json_atomic

RESULT_FORMAT = 1
LATEST = "latest.json"
KEY_LENGTH = 16


@dataclass(frozen=True)
class Result:
    """One analysis's stored tables (``describe(name)`` documents a table's columns) and the manifest that made
    them: what every analysis verb returns and ``wb.open_result`` reads back. ``config`` is the analysis config
    that was hashed; its figures are drawn above the store (``wb.figure(result, name)``)."""

    path: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def analysis(self) -> str:
        return self.manifest["analysis"]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def summary(self) -> Any:
        """The typed headline numbers (a frozen dataclass; see ``workbench.store.summaries``)."""
        from workbench.store.summaries import summarize

        return summarize(self)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise WorkbenchError(f"result {self.path} has no table {name!r}; it has {', '.join(self.tables)}")
        return self.tables[name]

    def describe(self, table: str) -> pd.DataFrame:
        """What each column of ``table`` means (column, doc), from ``workbench.store.columns``."""
        from workbench.store.columns import describe_column, table_docs

        docs, columns = table_docs(self.analysis, table), list(self[table].columns)
        return pd.DataFrame({"column": columns, "doc": [describe_column(docs, str(c)) or "" for c in columns]})

    def related(self) -> dict[str, "Result"]:
        """The latest other results stored beside this one (same run), by analysis; figures combine them."""
        own = analysis_folder(self.path)
        out: dict[str, Result] = {}
        for folder in sorted(own.parent.iterdir()) if own.parent.is_dir() else []:
            if folder != own and (path := latest_dir(folder)) is not None:
                try:
                    other = read_result(path)
                except WorkbenchError:
                    continue  # another format version: not drawn beside this one
                if other.manifest.get("run", {}).get("config_hash") == self.manifest.get("run", {}).get("config_hash"):
                    out.setdefault(other.analysis, other)
        return out

    @property
    def folder(self) -> str:
        """The folder under ``RUN/results`` that holds it (``open_result(RUN, folder)`` reads it back): the analysis
        name, or one with the settings it is stored by (``patching-correct-to-incorrect-resid_pre``)."""
        return analysis_folder(self.path).name

    def __repr__(self) -> str:
        folder = "" if self.folder == self.analysis else f", folder={self.folder!r}"
        return f"Result(analysis={self.analysis!r}{folder}, path={str(self.path)!r}): {self.summary}"

    def _repr_html_(self) -> str:
        summary = self.summary
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{len(frame)} rows x "
                       f"{len(frame.columns)} columns</td></tr>" for name, frame in self.tables.items())
        folder = "" if self.folder == self.analysis else f" in {self.folder}"
        return (f"<div><b>{html.escape(type(summary).__name__)}</b> ({html.escape(self.analysis + folder)}, "
                f"<code>{html.escape(str(self.path))}</code>)<p>{html.escape(str(summary))}</p>"
                f"<table>{rows}</table></div>")


def open_result(path: str | Path, analysis: str | None = None) -> Result:
    """A stored analysis result: ``open_result("RUN/results/probes")`` or ``open_result("RUN", "probes")`` (the
    latest result of that analysis, through ``latest.json``), or one keyed result folder.

    ``analysis`` is a folder under ``RUN/results`` (``"patching-correct-to-incorrect-resid_pre"``) or the name of
    the analysis stored there (``"patching"``), when one folder holds it; any other name is one error listing
    what the run holds."""
    path = Path(path)
    return read_result(find_folder(path, analysis) if analysis is not None else path)


def stored_analyses(root: str | Path) -> dict[str, str]:
    """Folder name -> analysis name of every result stored under ``root/results`` (its latest result's)."""
    results = Path(root) / "results"
    return {folder.name: json.loads((latest / "manifest.json").read_text()).get("analysis", folder.name)
            for folder in (sorted(results.iterdir()) if results.is_dir() else [])
            if (latest := latest_dir(folder)) is not None}


def find_folder(root: str | Path, name: str) -> Path:
    """``root/results/<name>`` when it holds a result, else the one folder holding analysis ``name``; one clear
    error when none or several do."""
    if latest_dir(result_dir(root, name)) is not None:
        return result_dir(root, name)
    stored = stored_analyses(root)
    matches = [folder for folder, analysis in stored.items() if analysis == name]
    if len(matches) == 1:
        return result_dir(root, matches[0])
    if matches:
        raise WorkbenchError(f"{root} holds {len(matches)} {name!r} results: {', '.join(matches)}; name the folder, "
                             f"e.g. open_result({str(root)!r}, {matches[0]!r})")
    listed = ", ".join(folder if analysis == folder else f"{folder} ({analysis})" for folder, analysis in stored.items())
    known = dict.fromkeys([*stored.values(), *stored])  # analysis names first: the shorter suggestion
    raise WorkbenchError(f"{root} holds no {name!r} result.{did_you_mean(str(name), known)} "
                         + (f"Stored: {listed}; open one by its folder or analysis name" if stored else
                            "It holds no results yet; run the analysis first"))


def result_dir(run_path: str | Path, analysis: str) -> Path:
    return Path(run_path) / "results" / analysis


def analysis_folder(path: str | Path) -> Path:
    """``RUN/results/<name>`` for a keyed result folder ``RUN/results/<name>/<key>`` and for one stored before
    keying (``RUN/results/<name>`` itself)."""
    path = Path(path)
    return path if path.parent.name == "results" else path.parent


def write_result(path: str | Path, analysis: str, tables: dict[str, pd.DataFrame], config: dict[str, Any],
                 run_manifest: dict[str, Any] | None = None, **extra: Any) -> Result:
    """Write tables then the manifest, each atomically; the manifest is written last and names the tables."""
    path = Path(path)  # each atomic write makes the folder
    for name, frame in tables.items():
        write_bytes_atomic(path / f"{name}.parquet", frame.to_parquet(index=False))
    run_manifest = run_manifest or {}
    manifest = {
        **provenance(config, run_manifest.get("model")),
        "analysis": analysis, "format": RESULT_FORMAT, "tables": sorted(tables),
        "run": {**{key: run_manifest.get(key) for key in ("config_hash", "config", "run_id", "n_examples", "n_items")},
                "complete": run_manifest.get("complete", True)},
        "grading": (run_manifest.get("config") or {}).get("grading", "exact"),  # runs before the field: exact
        **extra,
    }
    write_json_atomic(path / "manifest.json", manifest)
    return Result(path, manifest, dict(tables))


def latest_dir(analysis_dir: str | Path) -> Path | None:
    """The result folder that ``analysis_dir`` (``RUN/results/<analysis>``) points at, or None when it holds none.

    A result folder itself resolves to itself (so every reader takes either)."""
    analysis_dir = Path(analysis_dir)
    pointer = analysis_dir / LATEST
    if pointer.exists():
        target = analysis_dir / json.loads(pointer.read_text())["key"]
        return target if (target / "manifest.json").exists() else None
    return analysis_dir if (analysis_dir / "manifest.json").exists() else None


def find_result(root: str | Path, analysis: str) -> Result | None:
    """The latest stored result of ``analysis`` beside the run (or other folder) at ``root``, or None."""
    path = latest_dir(result_dir(root, analysis))
    return read_result(path) if path is not None else None


def stored_results(analysis_dir: str | Path) -> list[Path]:
    """Every keyed result folder of one analysis, the latest first, then the others newest first."""
    analysis_dir = Path(analysis_dir)
    if not analysis_dir.is_dir():
        return []
    found = sorted((p for p in analysis_dir.iterdir() if (p / "manifest.json").exists()),
                   key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)
    latest = latest_dir(analysis_dir)
    return ([latest] if latest is not None else []) + [p for p in found if p != latest]


def result_ref(result: Result, root: str | Path) -> str:
    """How a config names another stored result it read: its path inside ``root`` (the run), so the config
    and its hash stay the same when the run is moved; the absolute path when it lies elsewhere."""
    try:
        return result.path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(result.path)


def result_key(config: dict[str, Any], run_manifest: dict[str, Any] | None) -> str:
    """What names a result: its config, and what the run it read holds (config hash, number of examples).

    The run's id is left out on purpose: the result already sits in its run's folder, and equal runs
    (a sweep re-run elsewhere, a copy) then give equal folder names."""
    run = {key: (run_manifest or {}).get(key) for key in ("config_hash", "n_examples")}
    return config_hash({"config": config, "run": run})[:KEY_LENGTH]


@dataclass(frozen=True)
class ResultSlot:
    """Where one analysis call stores its result: ``path`` (keyed), and the result already there, if any."""

    analysis: str
    path: Path
    config: dict[str, Any]
    run_manifest: dict[str, Any]
    existing: Result | None

    def write(self, tables: dict[str, pd.DataFrame], **extra: Any) -> Result:
        """Write the result into its keyed folder, then point ``latest.json`` at it."""
        result = write_result(self.path, self.analysis, tables, self.config, self.run_manifest, **extra)
        point_latest(self.path)
        return result


def point_latest(path: Path) -> None:
    """Make ``path`` (a keyed result folder) the latest result of its analysis."""
    write_json_atomic(path.parent / LATEST, {"key": path.name,
                                             "written": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def result_slot(root: str | Path, analysis: str, config: dict[str, Any], run_manifest: dict[str, Any] | None, *,
                overwrite: bool = False, name: str | None = None) -> ResultSlot:
    """The keyed folder ``root/results/<name or analysis>/<key>`` of one call, and what it already holds.

    With ``overwrite`` an earlier result of this key is removed (the caller recomputes it); without, it is
    returned as ``existing`` and becomes the latest again. Results of other keys are never touched."""
    run_manifest = run_manifest or {}
    path = result_dir(root, name or analysis) / result_key(config, run_manifest)
    existing = None
    if overwrite:
        shutil.rmtree(path, ignore_errors=True)
    elif (path / "manifest.json").exists():
        existing = read_result(path)
        point_latest(path)
    return ResultSlot(analysis, path, config, run_manifest, existing)


def store_result(root: str | Path, analysis: str, tables: dict[str, pd.DataFrame], config: dict[str, Any],
                 run_manifest: dict[str, Any] | None = None, *, overwrite: bool = False, **extra: Any) -> Result:
    """Keyed write of an analysis computed before its key was checked (cheap analyses): an equal stored
    result is kept and returned unless ``overwrite``."""
    slot = result_slot(root, analysis, config, run_manifest, overwrite=overwrite)
    return slot.existing if slot.existing is not None else slot.write(tables, **extra)


def read_result(path: str | Path) -> Result:
    """A stored result (a result folder, or an analysis folder: its latest result); a clear error when the
    folder holds none or was written by another format version."""
    path = latest_dir(path) or Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise WorkbenchError(f"{path} holds no analysis result (no manifest.json); run the analysis first")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != RESULT_FORMAT:
        raise WorkbenchError(f"{path} was written by another result format ({manifest.get('format')}, this version "
                             f"reads {RESULT_FORMAT}); re-run the analysis")
    tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in manifest["tables"]}
    return Result(path, manifest, tables)
