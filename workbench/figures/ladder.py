"""The ladder's report page (``out/report.html`` of ``workbench replicate``) and its markdown table (``out/ladder.md``,
``markdown_table``), drawn from the claims and the evidence tables alone (no run store, no model).

``write_report`` writes one offline page (``figures.page``): the claims in words first (``claim_findings``: per
claim, its statement, the seed's value and each model's verdict with its value and interval), the contents,
then the claims and accuracy tables (folded, downloadable as CSV), each model's figures (first seed) with a line
on how to read each, and any further ``(heading, html)`` sections a caller adds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.analyses import seed_patching as sp
from workbench.analyses.calibration import auroc
from workbench.analyses.claims import VERDICTS, Evidence
from workbench.figures.page import figure_html, page_html, table_html
from workbench.figures.style import color, styled
from workbench.store.provenance import write_bytes_atomic


def value_text(value: float, low: float, high: float, digits: int = 2) -> str:
    """A claim's value and interval as text; empty when the claim has no value (inconclusive with a reason: never
    NaN printed as a number)."""
    if not np.isfinite(value):
        return ""
    interval = f"[{low:+.{digits}f}, {high:+.{digits}f}]" if np.isfinite(low) and np.isfinite(high) else "[no interval]"
    return f"{value:+.{digits}f} {interval}"


def verdict_text(row, digits: int = 2) -> str:
    """A model's verdict on a claim, then its value and interval (``value_text``) when it has one."""
    return f"{row['verdict']} {value_text(row['value'], row['low'], row['high'], digits)}".strip()


def reading(part: pd.DataFrame) -> str:
    """A claim row's plain-words reading: how many models reproduce or refute it."""
    counts = part["verdict"].value_counts()
    n = len(part)
    return "; ".join(f"{counts[v]} of {n} {'models' if n > 1 else 'model'} {v}" for v in VERDICTS if counts.get(v, 0))


def markdown_table(claims: pd.DataFrame, accuracy: pd.DataFrame | None = None) -> str:
    """The claims as a markdown table: one row per claim, definition and read position; the seed's value, then
    each model's verdict and value [low, high], then a plain-words reading."""
    models = list(dict.fromkeys(claims["model"]))
    lines = ["| claim | definition | read at | seed's value | " + " | ".join(models) + " | reading |",
             "|---|---|---|---|" + "---|" * len(models) + "---|"]
    keys = ["claim", "definition", "position"]
    for (claim, definition, position), part in claims.fillna({"position": ""}).groupby(keys, sort=False):
        cells = part.set_index("model")
        row = [claim, definition, position or "—", str(part["seed_value"].iloc[0])]
        row += [verdict_text(cells.loc[model]) if model in cells.index else "—" for model in models]
        lines.append("| " + " | ".join([*row, reading(part)]) + " |")
    if accuracy is not None and not accuracy.empty:
        acc = accuracy.set_index("model")
        def cell(m: str) -> str:
            seeds = int(acc.loc[m, "seeds"]) if "seeds" in acc.columns else 1
            return f"{acc.loc[m, 'accuracy']:.2f} (n={int(acc.loc[m, 'n'])}, {seeds} seed{'s' if seeds > 1 else ''})"
        lines.append("| accuracy | | | | " + " | ".join(cell(m) if m in acc.index else "—" for m in models) + " | |")
    return "\n".join(lines)


def probe_auroc_figure(ev: Evidence) -> go.Figure:
    """Out-of-fold AUROC of the logistic probe at the confidence slot, per read-out layer."""
    correct = ev.records.set_index("example_id")["correct"].astype(bool)
    per_layer = {int(layer): auroc(rows["score"].to_numpy(), correct.loc[rows["example_id"]].to_numpy())
                 for layer, rows in ev.oof.groupby("layer")}
    fig = go.Figure(go.Scatter(x=list(per_layer), y=list(per_layer.values()), mode="lines+markers",
                               line={"color": color(0)}, name="probe"))
    fig.add_hline(y=0.5, line_dash="dot", line_color="grey")
    return styled(fig, x="read-out layer", y="out-of-fold AUROC")


def crossmodel_figure(ev: Evidence) -> go.Figure:
    """The seed's normalised shift per block (mean of clipped item shifts) at each read position; the seed's layers
    marked."""
    fig = go.Figure()
    for i, (position, rows) in enumerate(ev.crossmodel.groupby("position", sort=False)):
        shift = sp.seed_shift(rows["patched"], rows["base"], rows["tuned"])
        means = rows.assign(shift=np.clip(shift, -sp.CLIP, sp.CLIP)).groupby("layer")["shift"].mean()
        seed = means.index.isin(sp.seed_layers(int(means.index.max()) + 1))
        fig.add_scatter(x=means.index, y=means.to_numpy(), mode="lines", line={"color": color(i)}, name=position)
        fig.add_scatter(x=means.index[seed], y=means.to_numpy()[seed], mode="markers", marker={"color": color(i)},
                        name=f"{position}: the seed's layers")
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    return styled(fig, x="block (tuned resid_post written into the base model)",
                  y="mean shift (patched - base) / (tuned - base)")


def within_model_figure(ev: Evidence) -> go.Figure:
    """The workbench's within-model gradient: mean normalised shift per block, correct into incorrect runs."""
    means = ev.effects.groupby("layer")["effect"].mean()
    fig = go.Figure(go.Scatter(x=means.index, y=means.to_numpy(), mode="lines+markers", line={"color": color(0)}))
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    return styled(fig, x="block (resid_pre at the confidence slot)", y="mean normalised shift")


PROBE, CROSSMODEL, WITHIN = ("Probe AUROC per layer", "Cross-model patching (the seed's claim 4)",
                              "Within-model patching (answer-selective gradient)")
READINGS = {  # heading -> how to read the figure, one line under it
    PROBE: "Out-of-fold AUROC of the probe at the confidence slot per read-out layer; 0.5 (dotted) is chance.",
    CROSSMODEL: "How far the tuned model's state written into the base model moves its confidence toward the "
                "tuned one (1: all the way), per block and read position; markers: the seed's layers.",
    WITHIN: "Mean normalised shift when a correct run's state is written into an incorrect one, per block; rising "
            "with depth is the layer gradient.",
}


def evidence_figures(ev: Evidence) -> dict[str, go.Figure]:
    """The figures this unit's evidence can draw, by heading."""
    drawn = ((PROBE, ev.oof, probe_auroc_figure), (CROSSMODEL, ev.crossmodel, crossmodel_figure),
             (WITHIN, ev.effects, within_model_figure))
    return {heading: draw(ev) for heading, table, draw in drawn if table is not None and not table.empty}


def claim_findings(claims: pd.DataFrame) -> list[str]:
    """Each claim in words (one line per claim, definition and read position): what it states, the seed's value,
    how many models reproduce or refute it, and each model's verdict with its value and 95% interval."""
    lines = []
    for (claim, definition, position), part in claims.fillna({"position": ""}).groupby(
            ["claim", "definition", "position"], sort=False):
        where = f", read at {position}" if position else ""
        models = "; ".join(f"{r['model']} {verdict_text(r, 3)}" for _, r in part.iterrows())
        lines.append(f"{claim} ({definition}'s definition{where}): {part['statement'].iloc[0]}; the seed: "
                     f"{part['seed_value'].iloc[0]}. {reading(part)}: {models}.")
    return lines


def write_report(path: Path, claims: pd.DataFrame, accuracy: pd.DataFrame, evidence: Sequence[Evidence],
                 sections: Sequence[tuple[str, str]] = ()) -> Path:
    """The offline page: the claims in words, the claims and accuracy tables, each model's figures drawn from its
    evidence (first seed), then ``sections`` (``(heading, html)``, in order)."""
    bodies, n_figures, shown = [("Claims", table_html(claims, "claims")),
                                ("Accuracy per model and family", table_html(accuracy, "accuracy"))], 0, set()
    for ev in evidence:
        if ev.model in shown:
            continue
        shown.add(ev.model)
        figures = evidence_figures(ev)
        body = "\n".join(f"<h3>{html.escape(h)}</h3>" + figure_html(fig, f"figure-{n_figures + i}", READINGS[h])
                         for i, (h, fig) in enumerate(figures.items()))
        bodies.append((f"{ev.model} (seed {ev.seed})", body or "<p class='note'>no figures: no evidence tables</p>"))
        n_figures += len(figures)
    page = page_html("Seed-study claims across the ladder", claim_findings(claims), [*bodies, *sections])
    write_bytes_atomic(path, page.encode())
    return path


def ladder_figures(evidence_root) -> dict[str, go.Figure]:
    """The evidence figures of each model's lowest seed under an evidence folder (what the README shows), titled, by
    ``<model>_seed<S>/<figure>`` (``cross_model_patching`` for "Cross-model patching (the seed's claim 4)")."""
    from workbench.analyses.evidence import read_evidence

    _, units, _ = read_evidence(evidence_root)
    first: dict[str, Evidence] = {}
    for ev in units:  # seeds ascending
        first.setdefault(ev.model, ev)
    return {f"{ev.model}_seed{ev.seed}/{re.sub(r'[^a-z0-9]+', '_', heading.split('(')[0].lower()).strip('_')}":
            fig.update_layout(title=f"{ev.model}, seed {ev.seed}: {heading}")
            for ev in first.values() for heading, fig in evidence_figures(ev).items()}
