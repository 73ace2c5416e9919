"""The ladder report's figures, drawn from one (model, seed)'s evidence tables alone (no run store, no model)."""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go

from workbench.analyses import seed_patching as sp
from workbench.analyses.calibration import auroc
from workbench.analyses.claims import Evidence
from workbench.figures.style import PALETTE, styled


def probe_auroc_figure(ev: Evidence) -> go.Figure:
    """Out-of-fold AUROC of the logistic probe at the confidence slot, per read-out layer."""
    correct = ev.records.set_index("example_id")["correct"].astype(bool)
    per_layer = {int(layer): auroc(rows["score"].to_numpy(), correct.loc[rows["example_id"]].to_numpy())
                 for layer, rows in ev.oof.groupby("layer")}
    fig = go.Figure(go.Scatter(x=list(per_layer), y=list(per_layer.values()), mode="lines+markers",
                               line={"color": PALETTE[0]}, name="probe"))
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
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=means.index, y=means.to_numpy(), mode="lines", line={"color": color}, name=position)
        fig.add_scatter(x=means.index[seed], y=means.to_numpy()[seed], mode="markers", marker={"color": color},
                        name=f"{position}: the seed's layers")
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    return styled(fig, x="block (tuned resid_post written into the base model)",
                  y="mean shift (patched - base) / (tuned - base)")


def within_model_figure(ev: Evidence) -> go.Figure:
    """The workbench's within-model gradient: mean normalised shift per block, correct into incorrect runs."""
    means = ev.effects.groupby("layer")["effect"].mean()
    fig = go.Figure(go.Scatter(x=means.index, y=means.to_numpy(), mode="lines+markers", line={"color": PALETTE[0]}))
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    return styled(fig, x="block (resid_pre at the confidence slot)", y="mean normalised shift")


def evidence_figures(ev: Evidence) -> dict[str, go.Figure]:
    """The figures this unit's evidence can draw, by heading."""
    figures = {}
    if ev.oof is not None and not ev.oof.empty:
        figures["Probe AUROC per layer"] = probe_auroc_figure(ev)
    if ev.crossmodel is not None and not ev.crossmodel.empty:
        figures["Cross-model patching (the seed's claim 4)"] = crossmodel_figure(ev)
    if ev.effects is not None and not ev.effects.empty:
        figures["Within-model patching (answer-selective gradient)"] = within_model_figure(ev)
    return figures


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
