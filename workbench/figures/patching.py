"""Patching figures: effect heatmap (layer x role, per site), the layer gradient with its band, controls.

Display pattern: a frozen dataclass stores the tables, ``.figure()`` returns a plotly figure,
``from_result(result)`` builds it from a stored patching result. Hovering a pair's marker shows both
examples' questions, answers and confidences, so every point can be traced to its two runs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import color, line_with_band, styled


def _clip(text: Any, n: int = 60) -> str:
    text = html.escape(str(text))
    return text if len(text) <= n else text[:n - 1] + "…"


def pair_hover(pairs: pd.DataFrame) -> pd.Series:
    """Hover text per pair_id: source and target question, answer, correctness and expected confidence."""
    def side(row: pd.Series, name: str) -> str:
        mark = "correct" if row[f"{name}_correct"] else "wrong"
        return (f"<b>{name}</b> #{row[f'{name}_id']}: {_clip(row[f'{name}_question'])}<br>"
                f"&nbsp;&nbsp;answer {_clip(row[f'{name}_answer'], 40)} ({mark}; gold {_clip(row[f'{name}_gold'], 20)})"
                f"<br>&nbsp;&nbsp;confidence: softmax {row[f'{name}_softmax_expected']:.1f}, "
                f"verbal {row[f'{name}_verbal_confidence']}")
    text = pairs.apply(lambda r: f"pair {r['pair_id']}<br>{side(r, 'source')}<br>{side(r, 'target')}", axis=1)
    return pd.Series(text.to_numpy(), index=pairs["pair_id"].to_numpy())


@dataclass(frozen=True)
class EffectHeatmap:
    """Mean effect over pairs for each layer x role, one panel per site."""

    effects: pd.DataFrame
    value: str = "effect"
    title: str | None = None

    def figure(self) -> go.Figure:
        sites = list(dict.fromkeys(self.effects["site"]))
        fig = make_subplots(rows=len(sites), cols=1, subplot_titles=sites, vertical_spacing=0.12)
        for i, site in enumerate(sites, start=1):
            rows = self.effects[self.effects["site"] == site]
            wide = rows.pivot_table(index="role", columns="layer", values=self.value, aggfunc="mean")
            counts = rows.pivot_table(index="role", columns="layer", values="pair_id", aggfunc="nunique")
            fig.add_trace(go.Heatmap(
                z=wide.to_numpy(), x=list(wide.columns), y=list(wide.index), colorscale="RdBu", zmid=0,
                customdata=counts.reindex_like(wide).to_numpy(), colorbar=dict(title=self.value),
                hovertemplate="layer %{x}<br>role %{y}<br>mean " + self.value + " %{z:.4f}<br>%{customdata} pairs"
                              "<extra></extra>"), row=i, col=1)
        styled(fig, title=self.title or f"patching effect ({self.value})", x="layer")
        return fig.update_layout(height=max(300, 220 * len(sites)))

    @classmethod
    def from_result(cls, result, value: str = "effect") -> "EffectHeatmap":
        return cls(result["effects"], value=value)


@dataclass(frozen=True)
class LayerGradientDisplay:
    """Mean effect per layer with its bootstrap band (one line per role), rho in the title, and each pair's
    effect as a hoverable point."""

    per_layer: pd.DataFrame  # role, layer, mean, band_low, band_high
    summary: pd.DataFrame  # one row per role: rho, rho_low, rho_high, rho8, ...
    points: pd.DataFrame = field(default_factory=pd.DataFrame)  # role, pair_id, layer, effect, hover

    def figure(self) -> go.Figure:
        fig = go.Figure()
        for i, role in enumerate(dict.fromkeys(self.per_layer["role"])):
            pts = self.points[self.points["role"] == role] if not self.points.empty else self.points
            if not pts.empty:
                jitter = np.random.default_rng(i).uniform(-0.2, 0.2, len(pts))
                fig.add_trace(go.Scatter(
                    x=pts["layer"] + jitter, y=pts["effect"], mode="markers", name=f"pairs ({role})",
                    marker=dict(size=4, color=color(i), opacity=0.3), text=pts["hover"], legendgroup=role,
                    hovertemplate="%{text}<br>layer %{x:.0f}: effect %{y:.4f}<extra></extra>"))
            p = self.per_layer[self.per_layer["role"] == role]
            line_with_band(fig, p["layer"], p["mean"], p["band_low"], p["band_high"], name=f"mean ({role})", i=i)
        s = self.summary.iloc[0]
        title = (f"layer gradient ({s['role']}): rho = {s['rho']:+.2f} [{s['rho_low']:+.2f}, {s['rho_high']:+.2f}], "
                 f"8 layers {s['rho8']:+.2f}")
        return styled(fig, title=title, x="layer", y=str(s.get("value", "effect")))

    @classmethod
    def from_result(cls, result) -> "LayerGradientDisplay":
        points = result["effects"].groupby(["role", "pair_id", "layer"], as_index=False, sort=False)["effect"].mean()
        points["hover"] = pair_hover(result["pairs"]).reindex(points["pair_id"]).to_numpy()
        return cls(result["gradient"], result["gradient_summary"], points)


@dataclass(frozen=True)
class ControlsDisplay:
    """Mean effect per layer of the sweep beside each control; unchanged-answer shares in the legend."""

    per_layer: pd.DataFrame  # control, layer, mean_effect
    summary: pd.DataFrame  # control, share_answer_unchanged, share_argmax_unchanged, ...

    def figure(self) -> go.Figure:
        fig = go.Figure()
        shares = self.summary.set_index("control")
        for i, (name, rows) in enumerate(self.per_layer.groupby("control", sort=False)):
            label = name
            if name in shares.index and "share_answer_unchanged" in shares.columns:
                label += (f" (answer unchanged {shares.loc[name, 'share_answer_unchanged']:.0%}, "
                          f"argmax unchanged {shares.loc[name, 'share_argmax_unchanged']:.0%})")
            fig.add_trace(go.Scatter(x=rows["layer"], y=rows["mean_effect"], mode="lines+markers", name=label,
                                     line=dict(color=color(i), width=3 if name == "sweep" else 1.5)))
        fig.add_hline(y=0, line=dict(color="#999999", width=1, dash="dot"))
        return styled(fig, title="sweep and controls", x="layer", y="mean effect")

    @classmethod
    def from_result(cls, result) -> "ControlsDisplay":
        return cls(result["controls_per_layer"], result["controls_summary"])


def write_figures(result, folder: str | Path) -> list[Path]:
    """One self-contained HTML page (plotly.js inlined once) with every figure the result supports, in ``folder``."""
    from workbench.figures.page import write_html

    figures = {"Effect per layer and pair": EffectHeatmap.from_result(result).figure()}
    if "gradient" in result.tables:
        figures["Layer gradient"] = LayerGradientDisplay.from_result(result).figure()
    if "controls_per_layer" in result.tables:
        figures["Controls"] = ControlsDisplay.from_result(result).figure()
    return [write_html(figures, Path(folder) / "patching.html", title=f"patching: {Path(result.path).parent.name}")]
