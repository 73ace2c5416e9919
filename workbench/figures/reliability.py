"""Reliability diagrams: accuracy against mean confidence per bin, one curve per channel (or per split),
with Wilson intervals on each bin's accuracy and marker area growing with the bin's count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.figures.style import color, styled
from workbench.store.results import Result


@dataclass(frozen=True)
class ReliabilityDisplay:
    """``bins``: channel, mean_confidence, accuracy, acc_low, acc_high, count (one row per bin; empty bins
    are skipped); ``ece``: channel -> ECE for the legend (optional); ``by``: column naming the curves."""

    bins: pd.DataFrame
    ece: dict | None = None
    by: str = "channel"
    title: str | None = "Reliability diagram"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "ReliabilityDisplay":
        """From a ``channels`` result (curves per channel) or a ``prior_knowledge`` one (per channel and split)."""
        bins = result["reliability"]
        ece = None
        if "channels" in result.tables:
            table = result["channels"]
            ece = dict(zip(table["channel"], table.get("ece", pd.Series(np.nan, index=table.index))))
        if "split" in bins:
            bins = bins.assign(curve=bins["channel"] + " (" + bins["split"] + ")")
            kwargs.setdefault("by", "curve")
        return cls(bins, ece, **kwargs)

    def figure(self) -> go.Figure:
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#888888", dash="dot"),
                                 name="perfect calibration"))
        bins = self.bins[self.bins["count"] > 0]
        total = bins.groupby(self.by)["count"].transform("sum")
        for i, (name, part) in enumerate(bins.groupby(self.by, sort=False)):
            share = part["count"] / total.loc[part.index]
            ece = (self.ece or {}).get(name, np.nan)
            label = f"{name} (ECE {ece:.3f})" if np.isfinite(ece) else name
            fig.add_trace(go.Scatter(
                x=part["mean_confidence"], y=part["accuracy"], mode="lines+markers", name=label,
                line=dict(color=color(i), width=1.5), marker=dict(size=6 + 30 * np.sqrt(share), color=color(i)),
                error_y=dict(type="data", symmetric=False, array=part["acc_high"] - part["accuracy"],
                             arrayminus=part["accuracy"] - part["acc_low"], thickness=1, width=0),
                customdata=np.c_[part["count"]],
                hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>n=%{customdata[0]}"))
        fig.update_xaxes(range=[0, 1])
        fig.update_yaxes(range=[0, 1])
        return styled(fig, title=self.title, x="mean confidence in bin", y="accuracy in bin")
