"""One report page per run (``workbench report RUN``, ``wb.report(run)``): every figure and table of the run
and of its analyses, in one self-contained HTML file that opens offline and can be moved or mailed alone.

What it holds, read from stored results only (a missing analysis is listed as not run, never re-run):
the run (model, dataset, size, accuracy, id, config hash, whether its collect finished), then for the latest
result of each analysis (``store.results``) the figures its paper builder draws (``figures.paper``: probes
per layer, replication, channels and reliability, prior knowledge, bottleneck and logit lens, patching
heatmap, gradient and controls, fine-tuning) and its headline tables (``REPORT_TABLES``), then one row per
example: question, gold, answer, correct, and each confidence channel.

plotly.js is inlined once in the page head; every figure is a ``div.figure`` of a fixed size drawn by it.
The page names no external URL (no CDN, no fonts, no MathJax).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from workbench.analyses.inputs import require_complete
from workbench.errors import WorkbenchError
from workbench.figures.paper import builder_for
from workbench.store import Run, open_run
from workbench.store.provenance import write_bytes_atomic
from workbench.store.results import LATEST, Result, read_result

FIGURE_SIZE = (860, 460)  # layout pixels of every figure box on the page
# analysis -> the tables shown (the rest stay in the result folder); patching-* results use "patching"
REPORT_TABLES: dict[str, tuple[str, ...]] = {
    "probes": ("layers",), "replication": ("layers",), "channels": ("channels", "validity"),
    "prior_knowledge": ("contrast",), "bottleneck": ("summary", "lens"),
    "patching": ("gradient_summary", "controls_summary", "attribution_summary", "pairs"),
    "finetune": ("comparison", "seed_summary", "patch_gradient"),
}
EXAMPLE_COLUMNS = ("example_id", "family", "question", "gold", "answer", "correct")
CONFIDENCE_COLUMNS = ("verbal_confidence", "softmax_expected", "argmax_confidence", "argmax", "answer_prob")
ROWS_SHOWN = 400  # a table longer than this shows its first rows and says how many there are


@dataclass(frozen=True)
class Section:
    """One analysis on the page: its figures and tables, and a note (where it was stored, or why it is empty)."""

    title: str
    figures: dict[str, go.Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    note: str = ""


def latest_results(run: Run) -> tuple[dict[str, Result], dict[str, str]]:
    """The latest result of every analysis stored beside the run, by analysis folder name, and why each
    unreadable one (another format version, a damaged file) could not be read."""
    root = run.path / "results"
    found, unreadable = {}, {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if (folder / LATEST).exists() or (folder / "manifest.json").exists():
            try:
                found[folder.name] = read_result(folder)
            except (WorkbenchError, OSError, ValueError) as error:
                unreadable[folder.name] = str(error)
    return found, unreadable


def _tables_of(name: str, result: Result) -> dict[str, pd.DataFrame]:
    wanted = REPORT_TABLES.get(name) or REPORT_TABLES.get(name.split("-")[0], ())
    return {table: result[table] for table in wanted if table in result.tables}


def example_table(run: Run, results: dict[str, Result]) -> pd.DataFrame:
    """One row per example: question, gold, answer, correct, and each confidence channel the run holds
    (the probe's out-of-fold probability too, when a channels result carries it)."""
    records = run.records
    columns = [c for c in (*EXAMPLE_COLUMNS, *CONFIDENCE_COLUMNS) if c in records.columns]
    frame = records[columns].copy()
    channels = results.get("channels")
    if channels is not None and "probe" in channels["scores"].columns:
        frame = frame.merge(channels["scores"][["example_id", "probe"]], on="example_id", how="left")
    return frame


def report_sections(run: Run) -> list[Section]:
    """The run's sections: one per stored analysis, in the order of ``REPORT_TABLES``, then the examples."""
    results, unreadable = latest_results(run)
    related = {result.manifest["analysis"]: result for result in results.values()}
    order = list(REPORT_TABLES)
    names = sorted(results, key=lambda n: (order.index(n.split("-")[0]) if n.split("-")[0] in order else len(order), n))
    sections = []
    for name in names:
        result = results[name]
        builder = builder_for(name) or builder_for(result.manifest["analysis"])
        note = f"stored in {result.path.relative_to(run.path)} (config hash {result.manifest['config_hash'][:12]})"
        try:
            figures = builder(result, related) if builder else {}
        except (KeyError, ValueError, WorkbenchError) as error:
            figures, note = {}, f"{note}; figures not drawn: {error}"
        sections.append(Section(name, figures, _tables_of(name, result), note))
    sections += [Section(name, note=f"not read: {why}") for name, why in unreadable.items()]
    missing = [n for n in ("probes", "channels", "bottleneck", "patching") if not any(r.split("-")[0] == n for r in results)]
    if missing:
        sections.append(Section("Not run yet", note=f"no stored result of: {', '.join(missing)} "
                                                     "(workbench probe / calibrate / bottleneck / patch)"))
    sections.append(Section("Examples", tables={"examples": example_table(run, results)}))
    return sections


def run_summary(run: Run) -> pd.DataFrame:
    """The run in one column: what it is and where it came from."""
    records = run.records
    config = run.config
    rows = {"model": run.model_name, "dataset": config.get("dataset"), "examples": run.n_examples,
            "accuracy": round(float(records["correct"].mean()), 4), "complete": run.complete, "run id": run.run_id,
            "config hash": run.manifest.get("config_hash"), "model checksum": run.manifest["model"].get("checksum")}
    return pd.DataFrame({"": list(rows), "value": [str(v) for v in rows.values()]})


def _table_html(frame: pd.DataFrame) -> str:
    shown = frame.head(ROWS_SHOWN)
    for column in shown.columns:
        if shown[column].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            shown = shown.assign(**{column: shown[column].map(json.dumps)})
    text = shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="table")
    more = f"<p class='note'>first {ROWS_SHOWN} of {len(frame)} rows</p>" if len(frame) > ROWS_SHOWN else ""
    return text + more


def _figure_html(fig: go.Figure, div_id: str) -> str:
    fig = go.Figure(fig).update_layout(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
    body = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": False})
    return f"<div class='box' style='width:{FIGURE_SIZE[0]}px;height:{FIGURE_SIZE[1]}px'>{body}</div>"


STYLE = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}h2{margin-top:36px}
.box{margin:8px 0 24px 0}.note{color:#666;font-size:13px}table.table{border-collapse:collapse;font-size:12px}
table.table td,table.table th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"""


def report_html(run: Run, sections: list[Section]) -> str:
    """The page's text: plotly.js once in the head, then the run summary and every section."""
    title = f"{run.path.name}: {run.model_name}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             f"<h1>{html.escape(title)}</h1>", _table_html(run_summary(run))]
    if not run.complete:
        parts.append("<p><b>This run is incomplete: its collect did not finish.</b></p>")
    n_figures = 0
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        for name, fig in section.figures.items():
            parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>")
            parts.append(_figure_html(fig, f"figure-{n_figures}"))
            n_figures += 1
        for name, frame in section.tables.items():
            parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>{_table_html(frame)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: str | Path | Run, path: str | Path | None = None, *, allow_incomplete: bool = False) -> Path:
    """Write the run's report page (default ``RUN/report.html``, replaced each call: it holds no result of its
    own, only what the results hold) and return its path."""
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, allow_incomplete)
    path = Path(path) if path is not None else run.path / "report.html"
    if path.is_dir():
        raise WorkbenchError(f"{path} is a folder; give the report a file name such as {path / 'report.html'}")
    write_bytes_atomic(path, report_html(run, report_sections(run)).encode("utf-8"))
    return path
