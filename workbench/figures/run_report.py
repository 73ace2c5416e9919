"""One report page per run (``workbench report RUN``, ``wb.report(run)``): the run's findings in words, then every
figure and table of the run and of its analyses, in one self-contained HTML file (``figures.page``) that opens
offline and can be moved or mailed alone.

Read from stored results only (a missing analysis is listed as not run, never re-run): the findings
(``figures.findings``: what ``workbench demo`` prints), the contents, the run, then per analysis (its latest result)
its findings, its paper figures (``figures.paper``) each with a line on how to read it (``READINGS``) and its
headline tables (``REPORT_TABLES``, folded, downloadable as CSV), then one row per example.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from workbench.analyses.inputs import require_complete
from workbench.errors import WorkbenchError
from workbench.figures.findings import latest_results, run_findings
from workbench.figures.page import figure_html, page_html, table_html
from workbench.figures.paper import builder_for
from workbench.store import Run, open_run
from workbench.store.provenance import write_bytes_atomic
from workbench.store.results import Result

# analysis -> the tables shown (the rest stay in the result folder); patching-* results use "patching"
REPORT_TABLES: dict[str, tuple[str, ...]] = {
    "probes": ("layers",), "replication": ("layers",), "channels": ("channels", "validity"),
    "prior_knowledge": ("contrast",), "bottleneck": ("summary", "lens"),
    "patching": ("gradient_summary", "controls_summary", "attribution_summary", "pairs"),
    "finetune": ("comparison", "seed_summary", "patch_gradient"),
}
EXAMPLE_COLUMNS = ("example_id", "family", "question", "gold", "answer", "correct")
CONFIDENCE_COLUMNS = ("verbal_confidence", "softmax_expected", "argmax_confidence", "argmax", "answer_prob")


@dataclass(frozen=True)
class Section:
    """One analysis on the page: its figures and tables, and a note (where it was stored, or why it is empty)."""

    title: str
    figures: dict[str, go.Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    note: str = ""


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
        wanted = REPORT_TABLES.get(name) or REPORT_TABLES.get(name.split("-")[0], ())
        sections.append(Section(name, figures, {t: result[t] for t in wanted if t in result.tables}, note))
    sections += [Section(name, note=f"not read: {why}") for name, why in unreadable.items()]
    missing = [n for n in ("probes", "channels", "bottleneck", "patching") if not any(r.split("-")[0] == n for r in results)]
    if missing:
        sections.append(Section("Not run yet", note=f"no stored result of: {', '.join(missing)} "
                                                     "(workbench probe / calibrate / bottleneck / patch)"))
    sections.append(Section("Examples", tables={"examples": example_table(run, results)}))
    return sections


def run_summary(run: Run) -> pd.DataFrame:
    """The run in one column: what it is and where it came from."""
    rows = {"model": run.model_name, "dataset": run.config.get("dataset"), "examples": run.n_examples,
            "accuracy": round(float(run.records["correct"].mean()), 4), "complete": run.complete, "run id": run.run_id,
            "config hash": run.manifest.get("config_hash"), "model checksum": run.manifest["model"].get("checksum")}
    return pd.DataFrame({"": list(rows), "value": [str(v) for v in rows.values()]})


# figure name (``figures.paper``'s builders) -> how to read it, one line under the figure
READINGS = {
    "auroc_per_layer": "Held-out AUROC of each probe per read-out layer (band: 95% interval); the other channels are "
                       "horizontal references; 0.5 is chance.",
    "seeds": "AUROC mean +- sd over probe seeds per layer, beside how far apart the seeds' score histograms lie.",
    "reliability": "Accuracy against stated confidence, one panel per channel: on the diagonal is calibrated, below "
                   "it overconfident.",
    "known_vs_unknown": "ECE per channel on items the model knows vs does not know, and their difference.",
    "softmax_vs_argmax": "Each example's softmax expected confidence against its argmax text, coloured by "
                         "correctness: spread in the softmax that the argmax does not show is a text bottleneck.",
    "logit_lens": "AUROC of the confidence distribution read through the logit lens at each layer, beside the probe's.",
    "heatmap": "Mean effect of patching each layer (rows: roles): blue raises the confidence, red lowers it, white is "
               "no effect.",
    "gradient": "Mean effect per layer with its 95% band and each pair's points; rho in the title is the layer "
                "gradient.",
    "controls": "The sweep's mean effect per layer beside each control's; a real effect stands above the controls.",
    "dose_response": "Shift in expected confidence against steering strength per layer, beside random directions.",
}


def _section_html(section: Section, findings: list[str], first_figure: int) -> str:
    parts = [f"<p>{html.escape(line)}</p>" for line in findings]
    if section.note:
        parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
    for i, (name, fig) in enumerate(section.figures.items()):
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>")
        parts.append(figure_html(fig, f"figure-{first_figure + i}", READINGS.get(name, "")))
    parts += [table_html(frame, name) for name, frame in section.tables.items()]
    return "\n".join(parts)


def report_html(run: Run, sections: list[Section]) -> str:
    """The page (``figures.page``): the findings in words, the contents, the run, then every section."""
    findings = run_findings(run)
    note = "" if run.complete else "<p><b>This run is incomplete: its collect did not finish.</b></p>"
    bodies, n_figures = [("run", table_html(run_summary(run), "run", open_=True))], 0
    for section in sections:
        said = [f.text for f in findings if f.analysis == section.title]
        bodies.append((section.title, _section_html(section, said, n_figures)))
        n_figures += len(section.figures)
    return page_html(f"{run.path.name}: {run.model_name}", [f.text for f in findings], bodies, note=note)


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
