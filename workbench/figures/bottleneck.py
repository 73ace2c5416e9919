"""The text bottleneck in pictures: softmax expected value against argmax per example (coloured by
correctness) with both read-outs' histograms split by correctness; and the logit lens's AUROC per layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import FONT, color, line_with_band, styled
from workbench.store.results import Result

OUTCOMES = ((True, "correct", 2), (False, "incorrect", 1))  # (label, name, palette index)


@dataclass(frozen=True)
class BottleneckDisplay:
    """``scores``: correct, softmax_expected, argmax_confidence (0-100); ``summary``: the test's one row (optional)."""

    scores: pd.DataFrame
    summary: dict | None = None

    @classmethod
    def from_result(cls, result: Result) -> "BottleneckDisplay":
        return cls(result["scores"], result["summary"].iloc[0].to_dict())

    def title(self) -> str:
        s = self.summary
        if not s:
            return "Softmax expected value vs argmax"
        return (f"AUROC softmax {s['auroc_softmax']:.2f} vs argmax {s['auroc_argmax']:.2f}: difference "
                f"{s['difference']:+.2f} [{s['difference_low']:+.2f}, {s['difference_high']:+.2f}] -> {s['verdict']}")

    def figure(self) -> go.Figure:
        fig = make_subplots(rows=1, cols=3, column_widths=[0.4, 0.3, 0.3], horizontal_spacing=0.08,
                            subplot_titles=("per example", "softmax expected value", "argmax"))
        jitter = np.random.default_rng(0).uniform(-0.8, 0.8, len(self.scores))  # argmax values repeat; spread them
        for label, name, i in OUTCOMES:
            part = self.scores["correct"].to_numpy() == label
            rows = self.scores[part]
            fig.add_trace(go.Scatter(x=rows["argmax_confidence"] + jitter[part], y=rows["softmax_expected"],
                                     mode="markers", name=name, legendgroup=name,
                                     marker=dict(color=color(i), size=6, opacity=0.7)), row=1, col=1)
            for col, column in ((2, "softmax_expected"), (3, "argmax_confidence")):
                fig.add_trace(go.Histogram(x=rows[column], xbins=dict(start=0, end=101, size=5), name=name,
                                           legendgroup=name, showlegend=False, marker_color=color(i), opacity=0.6,
                                           histnorm="probability"), row=1, col=col)
        fig.update_xaxes(title_text="argmax (jittered)", row=1, col=1)
        fig.update_yaxes(title_text="softmax expected value", row=1, col=1)
        fig.update_xaxes(title_text="confidence (0-100)", row=1, col=2)
        fig.update_xaxes(title_text="confidence (0-100)", row=1, col=3)
        fig.update_yaxes(title_text="share within outcome", row=1, col=2)
        styled(fig, title=self.title())
        return fig.update_layout(barmode="overlay", width=1100, title_font=dict(size=FONT["size"]))


@dataclass(frozen=True)
class LogitLensDisplay:
    """``lens``: layer, auroc, low, high, first_token_mass (status "ok" rows); ``probe``: the confidence-slot
    probe's per-layer AUROC (layer, auroc, low, high), optional, to show signal present vs readable."""

    lens: pd.DataFrame
    probe: pd.DataFrame | None = None
    title: str | None = "Logit lens at the confidence slot"

    @classmethod
    def from_result(cls, bottleneck: Result, probes: Result | None = None, **kwargs) -> "LogitLensDisplay":
        lens = bottleneck["lens"]
        probe = None if probes is None else probes["layers"].query(
            "status == 'ok' and role == 'confidence_slot' and probe == 'logistic'")
        return cls(lens[lens["status"] == "ok"], probe if probe is not None and len(probe) else None, **kwargs)

    def figure(self) -> go.Figure:
        fig = go.Figure()
        lens = self.lens.sort_values("layer")
        line_with_band(fig, lens["layer"], lens["auroc"], lens["low"], lens["high"],
                       name="logit lens: expected confidence", i=0)
        if self.probe is not None:
            probe = self.probe.sort_values("layer")
            line_with_band(fig, probe["layer"], probe["auroc"], probe["low"], probe["high"],
                           name="linear probe (signal present)", i=2)
        fig.add_trace(go.Scatter(x=lens["layer"], y=lens["first_token_mass"], yaxis="y2", mode="lines",
                                 name="mass on confidence tokens", line=dict(color=color(7), dash="dot", width=1)))
        fig.add_hline(y=0.5, line=dict(color="#888888", dash="dot", width=1))
        fig.update_layout(yaxis=dict(range=[0, 1.02]),
                          yaxis2=dict(overlaying="y", side="right", range=[0, 1.02], title_text="mass", showgrid=False))
        return styled(fig, title=self.title, x="layer (residual read-out)", y="AUROC (correct vs incorrect)")
