"""Reliability diagrams as small multiples: one panel per channel, so channels and their bands never overlap.

Each panel: the diagonal of perfect calibration; the binned accuracies (Wilson intervals as error bars,
marker area growing with the bin's count); the smoothed reliability curve (relplot's kernel smoother at the
smooth-ECE bandwidth, from the result's ``smooth`` table; drawn only where the confidences have density,
since elsewhere it falls back to the diagonal) when stored; and below it a density strip of the
confidences (the smoothed density, or the bins' counts when no smooth table is stored). Curves within a panel
are the ``by`` groups (one per channel result; known vs unknown for a prior-knowledge result).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import band_color, color, error_bars, styled
from workbench.store.results import Result

SUPPORT = 0.02  # the smoothed curve is drawn where the density is at least this share of its peak


def _label(row: dict) -> str:
    """The panel's headline metric: smECE with its interval, else ECE, else nothing."""
    for metric, name in (("smece", "smECE"), ("ece", "ECE")):
        value = row.get(metric, np.nan)
        if isinstance(value, float) and np.isfinite(value):
            low, high = row.get(f"{metric}_low", np.nan), row.get(f"{metric}_high", np.nan)
            interval = f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else ""
            return f"{name} {value:.3f}{interval}"
    return ""


@dataclass(frozen=True)
class ReliabilityDisplay:
    """``bins``: channel, mean_confidence, accuracy, acc_low, acc_high, count (+ the ``by`` column);
    ``smooth``: channel, confidence, accuracy, density (+ ``by``), optional; ``labels``: channel -> text under
    the panel's title (optional); ``by``: the column naming the curves within a panel (None: one curve)."""

    bins: pd.DataFrame
    smooth: pd.DataFrame | None = None
    labels: dict | None = None
    by: str | None = None
    title: str | None = "Reliability diagram"
    columns: int = 4

    @classmethod
    def from_result(cls, result: Result, *, channels=None, **kwargs) -> "ReliabilityDisplay":
        """From a ``channels`` result (one curve per panel, smoothed) or a ``prior_knowledge`` one (a curve per
        split); ``channels`` picks and orders the panels (default: all, in the result's order)."""
        bins = result["reliability"]
        smooth = result.tables.get("smooth")
        labels = ({row["channel"]: _label(row) for row in result["channels"].to_dict("records")}
                  if "channels" in result.tables else None)
        if "split" in bins:
            kwargs.setdefault("by", "split")
        if channels is not None:
            bins = bins[bins["channel"].isin(channels)]
            order = {name: i for i, name in enumerate(channels)}
            bins = bins.iloc[np.argsort([order[c] for c in bins["channel"]], kind="stable")]
            smooth = smooth[smooth["channel"].isin(channels)] if smooth is not None else None
        return cls(bins, smooth, labels, **kwargs)

    def figure(self) -> go.Figure:
        panels = list(dict.fromkeys(self.bins["channel"]))
        cols = max(1, min(self.columns, len(panels)))
        rows = ceil(len(panels) / cols)
        labels = self.labels or {}
        named = [f"{name}<br><sup>{labels[name]}</sup>" if labels.get(name) else name for name in panels]
        named += [""] * (rows * cols - len(panels))
        titles = [t for r in range(rows) for t in named[r * cols:(r + 1) * cols] + [""] * cols]  # strips: no title
        height = 140 + 320 * rows
        fig = make_subplots(rows=2 * rows, cols=cols, row_heights=[0.8, 0.2] * rows, subplot_titles=titles,
                            vertical_spacing=45 / height, horizontal_spacing=0.06, shared_xaxes=True)
        groups = [None] if self.by is None else list(dict.fromkeys(self.bins[self.by]))
        for k, channel in enumerate(panels):
            row, col = 2 * (k // cols) + 1, k % cols + 1
            fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#888888", dash="dot"),
                                     name="perfect calibration", legendgroup="diagonal", showlegend=k == 0),
                          row=row, col=col)
            for i, group in enumerate(groups):
                self._draw(fig, channel, group, i, row, col, first=k == 0)
            fig.update_yaxes(range=[0, 1], row=row, col=col, title_text="accuracy" if col == 1 else None)
            fig.update_yaxes(showticklabels=False, row=row + 1, col=col, title_text="density" if col == 1 else None)
            fig.update_xaxes(range=[0, 1], row=row, col=col)
            last = k + cols >= len(panels)  # nothing below this panel: label its axis
            fig.update_xaxes(range=[0, 1], row=row + 1, col=col, title_text="confidence" if last else None)
        return styled(fig, title=self.title).update_layout(width=max(360, 260 * cols), height=height, showlegend=True,
                                                           margin=dict(t=90 if self.title else 60))

    def _select(self, table: pd.DataFrame, channel: str, group) -> pd.DataFrame:
        part = table[table["channel"] == channel]
        return part if group is None else part[part[self.by] == group]

    def _draw(self, fig: go.Figure, channel: str, group, i: int, row: int, col: int, *, first: bool) -> None:
        """One curve (binned points, smoothed line, density strip) of one panel."""
        name = "binned" if group is None else str(group)
        bins = self._select(self.bins, channel, group)
        bins = bins[bins["count"] > 0]
        share = bins["count"] / bins["count"].sum() if len(bins) else bins["count"]
        fig.add_trace(go.Scatter(
            x=bins["mean_confidence"], y=bins["accuracy"], mode="markers", name=name, legendgroup=name,
            showlegend=first, marker=dict(size=5 + 25 * np.sqrt(share), color=color(i), opacity=0.8),
            error_y=error_bars(bins["accuracy"], bins["acc_low"], bins["acc_high"], thickness=1, width=0),
            customdata=np.c_[bins["count"]],
            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>n=%{customdata[0]}"), row=row, col=col)
        smooth = self._select(self.smooth, channel, group) if self.smooth is not None else None
        if smooth is not None and len(smooth):
            supported = smooth["density"] >= SUPPORT * smooth["density"].max()
            fig.add_trace(go.Scatter(x=smooth["confidence"], y=smooth["accuracy"].where(supported), mode="lines",
                                     name=f"{name}, smoothed" if group is not None else "smoothed",
                                     legendgroup=f"{name}-smooth", showlegend=first,
                                     line=dict(color=color(i), width=2)), row=row, col=col)
            fig.add_trace(go.Scatter(x=smooth["confidence"], y=smooth["density"], mode="lines", fill="tozeroy",
                                     fillcolor=band_color(i, 0.35), line=dict(color=color(i), width=1),
                                     name="density", showlegend=False, hoverinfo="skip"), row=row + 1, col=col)
        else:
            fig.add_trace(go.Bar(x=bins["mean_confidence"], y=bins["count"], marker_color=band_color(i, 0.6),
                                 width=0.02, name="count", showlegend=False), row=row + 1, col=col)
