"""Fine-tuning figures: before/after metrics per variant and split, confidence distributions, seeds, patching.

Display pattern: each class stores the tables of a ``finetune`` result, ``from_result`` builds it,
``figure()`` returns a plotly figure; ``write_finetune_page`` writes them all to one HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import color, error_bars, line_with_band, styled
from workbench.store.results import Result

PANELS = (("accuracy", "accuracy"), ("verbal_auroc", "verbal AUROC"), ("verbal_ece", "verbal ECE"),
          ("verbal_brier", "verbal Brier"))


@dataclass(frozen=True)
class FinetuneComparisonDisplay:
    """``comparison``: one row per (variant, split) with accuracy, verbal_auroc (+ _low/_high), verbal_ece,
    verbal_brier."""

    comparison: pd.DataFrame
    title: str | None = "Before and after fine-tuning"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "FinetuneComparisonDisplay":
        return cls(result["comparison"], **kwargs)

    def figure(self) -> go.Figure:
        fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in PANELS])
        variants = list(dict.fromkeys(self.comparison["variant"]))
        for k, (column, _) in enumerate(PANELS):
            row, col = divmod(k, 2)
            for i, variant in enumerate(variants):
                part = self.comparison[self.comparison["variant"] == variant]
                error = (error_bars(part[column], part["verbal_auroc_low"], part["verbal_auroc_high"])
                         if column == "verbal_auroc" else None)
                fig.add_trace(go.Bar(x=part["split"], y=part[column], name=variant, marker_color=color(i),
                                     error_y=error, legendgroup=variant, showlegend=k == 0),
                              row=row + 1, col=col + 1)
        return styled(fig, title=self.title).update_layout(barmode="group", width=1000, height=640)


@dataclass(frozen=True)
class ConfidenceHistogramDisplay:
    """``scores``: per example variant, split, verbal (confidence in [0, 1], NaN when unparsed), correct."""

    scores: pd.DataFrame
    split: str = "heldout"
    bins: int = 20
    title: str | None = "Verbal confidence, correct vs incorrect answers"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "ConfidenceHistogramDisplay":
        return cls(result["scores"], **kwargs)

    def figure(self) -> go.Figure:
        data = self.scores[self.scores["split"] == self.split]
        variants = list(dict.fromkeys(data["variant"]))
        fig = make_subplots(rows=1, cols=len(variants), subplot_titles=variants, shared_yaxes=True)
        for j, variant in enumerate(variants):
            part = data[data["variant"] == variant]
            for i, (label, correct) in enumerate((("correct", True), ("incorrect", False))):
                values = part.loc[part["correct"] == correct, "verbal"].dropna()
                fig.add_trace(go.Histogram(x=values, xbins=dict(start=0, end=1.0001, size=1 / self.bins),
                                           name=label, marker_color=color(i), opacity=0.7, legendgroup=label,
                                           showlegend=j == 0), row=1, col=j + 1)
        fig.update_xaxes(range=[0, 1])
        styled(fig, title=f"{self.title} ({self.split})")
        return fig.update_layout(barmode="overlay", width=240 * max(len(variants), 2), height=360)


@dataclass(frozen=True)
class SeedHistogramDisplay:
    """``histograms``: seed, centre, share (one row per seed and bin); ``summary``: metric, mean, sd."""

    histograms: pd.DataFrame
    summary: pd.DataFrame | None = None
    title: str | None = "Verbal confidence per training seed"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "SeedHistogramDisplay":
        return cls(result["seed_histograms"], result.tables.get("seed_summary"), **kwargs)

    def figure(self) -> go.Figure:
        fig = go.Figure()
        for i, (seed, part) in enumerate(self.histograms.groupby("seed", sort=True)):
            fig.add_trace(go.Scatter(x=part["centre"], y=part["share"], mode="lines+markers", name=f"seed {seed}",
                                     line=dict(color=color(i), shape="hvh")))
        title = self.title
        if self.summary is not None:
            s = self.summary.set_index("metric")
            title = (f"{title}: AUROC {s.loc['verbal_auroc', 'mean']:.3f} +- {s.loc['verbal_auroc', 'sd']:.3f}, "
                     f"ECE {s.loc['verbal_ece', 'mean']:.3f} +- {s.loc['verbal_ece', 'sd']:.3f}, "
                     f"W1 {s.loc['shape_w1', 'mean']:.3f}")
        return styled(fig, title=title, x="verbal confidence / 100", y="share of items")


@dataclass(frozen=True)
class CrossModelPatchingDisplay:
    """``per_layer``: control, layer, mean (and band_low/band_high for the sweep); ``gradient``: one row."""

    per_layer: pd.DataFrame
    gradient: pd.DataFrame | None = None
    title: str | None = "Fine-tuned state patched into the base model, per layer"

    @classmethod
    def from_result(cls, result: Result, **kwargs) -> "CrossModelPatchingDisplay":
        return cls(result["patch_per_layer"], result.tables.get("patch_gradient"), **kwargs)

    def figure(self) -> go.Figure:
        fig = go.Figure()
        for i, (name, part) in enumerate(self.per_layer.groupby("control", sort=False)):
            part = part.sort_values("layer")
            if name == "sweep" and "band_low" in part and part["band_low"].notna().all():
                line_with_band(fig, part["layer"], part["mean"], part["band_low"], part["band_high"], name=name, i=i)
            else:
                fig.add_trace(go.Scatter(x=part["layer"], y=part["mean"], mode="lines+markers", name=name,
                                         line=dict(color=color(i), dash="dot")))
        title = self.title
        if self.gradient is not None and len(self.gradient):
            g = self.gradient.iloc[0]
            title = f"{title}: rho {g['rho']:+.2f} [{g['rho_low']:+.2f}, {g['rho_high']:+.2f}]"
        return styled(fig, title=title, x="layer", y="mean shift in expected confidence (patched - base)")


def finetune_figures(result: Result) -> dict[str, go.Figure]:
    """Every figure a ``finetune`` result can draw."""
    figures = {"Before and after": FinetuneComparisonDisplay.from_result(result).figure()}
    for split in dict.fromkeys(result["scores"]["split"]):
        figures[f"Confidence distributions ({split})"] = ConfidenceHistogramDisplay.from_result(
            result, split=split).figure()
    if "seed_histograms" in result.tables:
        figures["Seeds"] = SeedHistogramDisplay.from_result(result).figure()
    if "patch_per_layer" in result.tables:
        figures["Cross-model patching"] = CrossModelPatchingDisplay.from_result(result).figure()
    if "history" in result.tables:
        fig = go.Figure()
        for i, ((variant, seed), part) in enumerate(result["history"].groupby(["variant", "seed"], sort=False)):
            fig.add_trace(go.Scatter(x=part["step"], y=part["loss"], mode="lines", name=f"{variant} seed {seed}",
                                     line=dict(color=color(i))))
        figures["Training loss"] = styled(fig, title="Training loss", x="step", y="loss")
    return figures


def write_finetune_page(result: Result, path: str | Path | None = None) -> Path:
    """Write the figures to one HTML page (default: ``<result>/figures.html``)."""
    from workbench.figures.page import write_html

    path = Path(path) if path is not None else result.path / "figures.html"
    return write_html(finetune_figures(result), path, title="Fine-tuning the verbal confidence")


__all__ = ["FinetuneComparisonDisplay", "ConfidenceHistogramDisplay", "SeedHistogramDisplay",
           "CrossModelPatchingDisplay", "finetune_figures", "write_finetune_page"]
