"""Replication across seeds: AUROC mean +- sd per layer beside the shape distance between seeds' histograms."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import color, line_with_band, styled
from workbench.store.results import Result


@dataclass(frozen=True)
class ReplicationDisplay:
    """``layers``: role, layer, probe, auroc_mean, auroc_sd, shape_w1_mean, seeds."""

    layers: pd.DataFrame
    title: str | None = "Stable discrimination, seed-sensitive shape?"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "ReplicationDisplay":
        return cls(result["layers"], **kwargs)

    def figure(self) -> go.Figure:
        fig = make_subplots(rows=1, cols=2, subplot_titles=("AUROC across seeds (mean +- sd)",
                                                            "histogram distance between seeds (W1)"))
        for i, ((role, probe), part) in enumerate(self.layers.groupby(["role", "probe"], sort=False)):
            part = part.sort_values("layer")
            name = f"{probe} probe, {role}"
            line_with_band(fig, part["layer"], part["auroc_mean"], part["auroc_mean"] - part["auroc_sd"],
                           part["auroc_mean"] + part["auroc_sd"], name=name, i=i, row=1, col=1)
            fig.add_trace(go.Scatter(x=part["layer"], y=part["shape_w1_mean"], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=False, line=dict(color=color(i))), row=1, col=2)
        fig.update_xaxes(title_text="layer")
        fig.update_yaxes(title_text="AUROC", row=1, col=1)
        fig.update_yaxes(title_text="W1 (probability units)", row=1, col=2)
        return styled(fig, title=self.title).update_layout(width=1000)
