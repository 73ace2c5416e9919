"""HTML figure pages beside a run: each command's figures, built from the results stored in the run.

One self-contained file per page (plotly.js embedded once, so it opens offline), written to
``RUN/figures/<page>.html``. Figures read results only; a missing result drops its figure, never re-runs it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go

from workbench.errors import WorkbenchError
from workbench.figures.bottleneck import BottleneckDisplay, LogitLensDisplay
from workbench.figures.prior_knowledge import PriorKnowledgeDisplay
from workbench.figures.probes import ProbeAurocDisplay
from workbench.figures.reliability import ReliabilityDisplay
from workbench.figures.replication import ReplicationDisplay
from workbench.store import Run
from workbench.store.results import Result, find_result


def _probe_page(r: dict[str, Result | None]) -> dict[str, go.Figure]:
    figs = {}
    if r["probes"]:
        figs["AUROC per layer"] = ProbeAurocDisplay.from_result(r["probes"], r["channels"], r["bottleneck"]).figure()
    if r["replication"]:
        figs["Replication across seeds"] = ReplicationDisplay.from_result(r["replication"]).figure()
    return figs


def _calibrate_page(r: dict[str, Result | None]) -> dict[str, go.Figure]:
    figs = {}
    if r["channels"]:
        figs["Reliability per channel"] = ReliabilityDisplay.from_result(r["channels"]).figure()
        if r["probes"]:
            figs["AUROC per layer and channel"] = ProbeAurocDisplay.from_result(r["probes"], r["channels"]).figure()
    if r["prior_knowledge"]:
        figs["Known vs unknown items"] = PriorKnowledgeDisplay.from_result(r["prior_knowledge"]).figure()
        figs["Reliability, known vs unknown"] = ReliabilityDisplay.from_result(
            r["prior_knowledge"], title="Reliability by prior knowledge").figure()
    return figs


def _bottleneck_page(r: dict[str, Result | None]) -> dict[str, go.Figure]:
    figs = {}
    if r["bottleneck"]:
        figs["Softmax vs argmax"] = BottleneckDisplay.from_result(r["bottleneck"]).figure()
        if "lens" in r["bottleneck"].tables:
            figs["Logit lens"] = LogitLensDisplay.from_result(r["bottleneck"], r["probes"]).figure()
    return figs


PAGES: dict[str, Callable[[dict[str, Result | None]], dict[str, go.Figure]]] = {
    "probe": _probe_page, "calibrate": _calibrate_page, "bottleneck": _bottleneck_page}
ANALYSES = ("probes", "channels", "bottleneck", "prior_knowledge", "replication")


def page_figures(run: Run, page: str) -> dict[str, go.Figure]:
    """The figures of one page (``probe``, ``calibrate``, ``bottleneck``) from the results stored in ``run``."""
    if page not in PAGES:
        raise WorkbenchError(f"unknown figure page {page!r}; known: {', '.join(PAGES)}")
    return PAGES[page]({name: find_result(run.path, name) for name in ANALYSES})


def write_html(figures: dict[str, go.Figure], path: str | Path, *, title: str) -> Path:
    """One self-contained HTML page holding every figure under its heading; plotly.js is embedded once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
             f"<body style='font-family: Helvetica, Arial, sans-serif'><h1>{html.escape(title)}</h1>"]
    if not figures:
        parts.append("<p>No stored results to draw yet.</p>")
    for i, (heading, fig) in enumerate(figures.items()):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_page(run: Run, page: str) -> Path:
    """Write ``RUN/figures/<page>.html`` from the run's stored results and return its path."""
    figures = page_figures(run, page)
    return write_html(figures, run.path / "figures" / f"{page}.html", title=f"{page}: {run.path.name} ({run.model_name})")
