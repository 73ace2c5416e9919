"""Known vs unknown items: ECE per channel and split (bars with intervals), and the known-minus-unknown
overconfidence per channel with its interval."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import color, error_bars, styled
from workbench.store.results import Result


@dataclass(frozen=True)
class PriorKnowledgeDisplay:
    """``splits``: split, channel, ece, ece_low, ece_high; ``contrast``: channel, difference, low, high."""

    splits: pd.DataFrame
    contrast: pd.DataFrame
    threshold: float | None = None

    @classmethod
    def from_result(cls, result: Result) -> "PriorKnowledgeDisplay":
        return cls(result["splits"], result["contrast"], result.config.get("threshold"))

    def figure(self) -> go.Figure:
        fig = make_subplots(rows=1, cols=2, subplot_titles=("ECE per split", "overconfidence: known - unknown"))
        splits = self.splits.dropna(subset=["ece"]) if "ece" in self.splits else self.splits.iloc[0:0]
        for i, (split, part) in enumerate(splits.groupby("split", sort=True)):
            fig.add_trace(go.Bar(x=part["channel"], y=part["ece"], name=f"{split} (n={int(part['n'].max())})",
                                 marker_color=color(i + 1),
                                 error_y=error_bars(part["ece"], part["ece_low"], part["ece_high"])), row=1, col=1)
        if "difference" in self.contrast:  # absent when a split is empty
            contrast = self.contrast.dropna(subset=["difference"])
            fig.add_trace(go.Scatter(x=contrast["channel"], y=contrast["difference"], mode="markers",
                                     name="known - unknown", marker=dict(color=color(0), size=9),
                                     error_y=error_bars(contrast["difference"], contrast["low"], contrast["high"])),
                          row=1, col=2)
        fig.add_hline(y=0, line=dict(color="#888888", dash="dot", width=1), row=1, col=2)
        fig.update_yaxes(title_text="ECE", row=1, col=1)
        fig.update_yaxes(title_text="difference in mean confidence - accuracy", row=1, col=2)
        known = f" (known: P(gold) > {self.threshold:g})" if self.threshold is not None else ""
        styled(fig, title=f"Calibration on known vs unknown items{known}")
        return fig.update_layout(barmode="group", width=1000)
