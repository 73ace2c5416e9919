"""Analysis results on disk: named tables (parquet) plus a manifest tracing them to their run and config.

Results live in ``RUN/results/<analysis>/``. Figures read these; analyses write them.
"""

from __future__ import annotations

import html
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError, did_you_mean
from workbench.store.provenance import provenance, write_bytes_atomic, write_json_atomic

RESULT_FORMAT = 1


@dataclass(frozen=True)
class Result:
    """One analysis's stored tables and the manifest that made them: what every analysis verb returns and
    ``wb.open_result`` reads back.

    ``tables`` maps a name to a DataFrame (``describe(name)`` documents its columns); ``summary`` is a
    frozen dataclass of the headline numbers (``ProbeSummary``, ``CalibrateSummary``, ``BottleneckSummary``,
    ``PatchSummary``), built from the tables; ``config`` is the analysis config that was hashed;
    ``figure(name)`` draws a stored figure as a plotly ``go.Figure`` (``figure_names()`` lists them).
    """

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
        from workbench.store.summaries import summarise

        return summarise(self)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise WorkbenchError(f"result {self.path} has no table {name!r}; it has {', '.join(self.tables)}")
        return self.tables[name]

    def describe(self, table: str) -> pd.DataFrame:
        """What each column of ``table`` means (column, doc), from ``workbench.store.columns``."""
        from workbench.store.columns import describe_column, table_docs

        docs = table_docs(self.analysis, table)
        return pd.DataFrame({"column": list(self[table].columns),
                             "doc": [describe_column(docs, str(c)) or "" for c in self[table].columns]})

    def related(self) -> dict[str, "Result"]:
        """The other results stored beside this one (same run), by analysis; figures combine them."""
        out: dict[str, Result] = {}
        for folder in sorted(self.path.parent.iterdir()) if self.path.parent.is_dir() else []:
            if folder != self.path and (folder / "manifest.json").exists():
                try:
                    other = read_result(folder)
                except WorkbenchError:
                    continue  # another format version: not drawn beside this one
                if other.manifest.get("run", {}).get("config_hash") == self.manifest.get("run", {}).get("config_hash"):
                    out.setdefault(other.analysis, other)
        return out

    def figures(self) -> dict[str, Any]:
        """Every figure of this result by name (plotly ``go.Figure``), drawn from the stored tables."""
        from workbench.figures.paper import builder_for  # figures are imported only when drawn

        builder = builder_for(self.path.name) or builder_for(self.analysis)
        if builder is None:
            raise WorkbenchError(f"analysis {self.analysis!r} has no figures")
        return builder(self, self.related())

    def figure_names(self) -> list[str]:
        """Names ``figure(name)`` accepts, the default first."""
        return list(self.figures())

    def figure(self, name: str | None = None, *, paper: bool = False) -> Any:
        """One figure as a plotly ``go.Figure`` (the first of ``figure_names()`` when ``name`` is None);
        ``paper=True`` draws it in the paper style (one font, colour-blind-safe palette, bands)."""
        figures = self.figures()
        if name is None:
            name = next(iter(figures))
        if name not in figures:
            raise WorkbenchError(f"result {self.path.name} has no figure {name!r}.{did_you_mean(name, figures)} "
                                 f"Figures: {', '.join(figures)}")
        if paper:
            from workbench.figures.paper import paper_style

            return paper_style(figures[name])
        return figures[name]

    def __repr__(self) -> str:
        return f"Result({self.analysis!r}, {str(self.path)!r}): {self.summary}"

    def _repr_html_(self) -> str:
        summary = self.summary
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{len(frame)} rows x "
                       f"{len(frame.columns)} columns</td></tr>" for name, frame in self.tables.items())
        return (f"<div><b>{html.escape(type(summary).__name__)}</b> ({html.escape(self.analysis)}, "
                f"<code>{html.escape(str(self.path))}</code>)<p>{html.escape(str(summary))}</p>"
                f"<table>{rows}</table></div>")


def open_result(path: str | Path, analysis: str | None = None) -> Result:
    """A stored analysis result: ``open_result("RUN/results/probes")`` or ``open_result("RUN", "probes")``."""
    path = Path(path)
    return read_result(result_dir(path, analysis) if analysis is not None else path)


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
