"""Steering dose-response: one panel per layer, shift in expected confidence against alpha, the probe
direction and the random-direction control each with its bootstrap band, and the seed's null at zero.

Display pattern: ``SteeringDoseDisplay.from_result(result).figure()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import band_color, color, styled
from workbench.store.results import Result


@dataclass(frozen=True)
class SteeringDoseDisplay:
    """``dose``: layer, direction, alpha, shift, shift_low, shift_high (expected confidence, 0-1)."""

    dose: pd.DataFrame
    direction: str = "probe"
    title: str | None = "Steering at the confidence slot: dose-response per layer"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "SteeringDoseDisplay":
        return cls(result["dose"], result.config["direction"], **kwargs)

    def figure(self) -> go.Figure:
        layers = sorted(self.dose["layer"].unique())
        cols = min(4, len(layers))
        rows = math.ceil(len(layers) / cols)
        fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=[f"layer {x}" for x in layers],
                            horizontal_spacing=0.04, vertical_spacing=0.12)
        for k, layer in enumerate(layers):
            r, c = k // cols + 1, k % cols + 1
            for i, direction in enumerate((self.direction, "random")):
                part = self.dose[(self.dose["layer"] == layer) & (self.dose["direction"] == direction)]
                part = part.sort_values("alpha")
                x = part["alpha"].tolist()
                name = "random directions (control)" if direction == "random" else f"{direction} direction"
                fig.add_trace(go.Scatter(x=x + x[::-1], y=list(100 * part["shift_high"]) + list(100 * part["shift_low"])[::-1],
                                         fill="toself", fillcolor=band_color(i), line=dict(width=0), hoverinfo="skip",
                                         showlegend=False, legendgroup=name), row=r, col=c)
                fig.add_trace(go.Scatter(x=x, y=100 * part["shift"], mode="lines+markers", name=name,
                                         line=dict(color=color(i), width=2), legendgroup=name, showlegend=k == 0),
                              row=r, col=c)
            fig.add_hline(y=0, line=dict(color="#888888", dash="dot", width=1), row=r, col=c)
        fig.update_xaxes(title_text="alpha")
        fig.update_yaxes(title_text="shift in expected confidence (points)", col=1)
        fig.add_annotation(text="dotted: no effect (the seed study's null)", xref="paper", yref="paper", x=0, y=-0.18,
                           showarrow=False, font=dict(size=11, color="#666666"))
        return styled(fig, title=self.title).update_layout(width=260 * cols + 120, height=300 * rows + 80)


def write_figures(result: Result, folder: str | Path) -> list[Path]:
    """The dose-response figure as interactive HTML into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "dose_response.html"
    SteeringDoseDisplay.from_result(result).figure().write_html(out, include_plotlyjs="directory")
    return [out]
