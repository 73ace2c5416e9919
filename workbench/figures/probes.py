"""AUROC per layer: one line with its interval band per probe (role x estimator), the other channels as
horizontal references, and optionally the logit lens's AUROC per layer on the same axis."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import pandas as pd
import plotly.graph_objects as go

from workbench.figures.style import band_color, color, line_with_band, styled
from workbench.store.results import Result


@dataclass(frozen=True)
class ProbeAurocDisplay:
    """Per-layer AUROC data. ``layers``: role, layer, probe, auroc, low, high (status "ok" rows);
    ``channels``: channel, auroc, auroc_low, auroc_high (optional); ``lens``: layer, auroc, low, high (optional)."""

    layers: pd.DataFrame
    channels: pd.DataFrame | None = None
    lens: pd.DataFrame | None = None
    title: str | None = "Held-out AUROC per layer"

    @classmethod
    def from_result(cls, probes: Result, channels: Result | None = None, bottleneck: Result | None = None,
                    **kwargs) -> "ProbeAurocDisplay":
        table = probes["layers"]
        refs = None
        if channels is not None:
            refs = channels["channels"]
            raw = (refs["channel"] != "probe") & ~refs["channel"].str.contains("+", regex=False)  # no recalibrated copies
            refs = refs[raw & refs["auroc"].notna()] if "auroc" in refs else None
        lens = bottleneck.tables.get("lens") if bottleneck is not None else None
        return cls(table[table["status"] == "ok"], refs, lens, **kwargs)

    def figure(self) -> go.Figure:
        fig = go.Figure()
        colours = count()  # each line and reference its own palette colour, in drawing order
        for (role, probe), part in self.layers.groupby(["role", "probe"], sort=False):
            part = part.sort_values("layer")
            line_with_band(fig, part["layer"], part["auroc"], part["low"], part["high"], name=f"{probe} probe, {role}",
                           i=next(colours))
        if self.lens is not None and "auroc" in self.lens:
            lens = self.lens[self.lens["status"] == "ok"].sort_values("layer")
            line_with_band(fig, lens["layer"], lens["auroc"], lens["low"], lens["high"],
                           name="logit lens, confidence_slot", i=next(colours))
        if self.channels is not None:
            for row in self.channels.itertuples():
                i = next(colours)
                fig.add_hline(y=row.auroc, line=dict(color=color(i), dash="dash", width=1.5),
                              annotation_text=f"{row.channel} {row.auroc:.2f}", annotation_position="top left",
                              annotation_font_color=color(i))
                fig.add_hrect(y0=row.auroc_low, y1=row.auroc_high, fillcolor=band_color(i, 0.08), line_width=0)
        fig.add_hline(y=0.5, line=dict(color="#888888", dash="dot", width=1))
        fig.update_yaxes(range=[0, 1.02])
        return styled(fig, title=self.title, x="layer (residual read-out)", y="AUROC (correct vs incorrect)")
