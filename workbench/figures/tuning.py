"""The knowledge-split fine-tuning drawn: its table as markdown, ECE per training set, reliability before and after.

Everything reads ``analyses.tuning.tuning_table`` (numbers with intervals over items and seeds) or the evidence's
per-item ``tuning`` tables; nothing here computes a statistic of its own beyond binning for the diagrams.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analyses.calibration import reliability
from workbench.analyses.tuning import CHANNELS
from workbench.figures.page import table_html
from workbench.figures.style import color, error_bars, styled

LABELS = {"base": "base (untuned)", "known": "known-only", "unknown": "unknown-only", "mix": "mix",
          "knowledge-aware": "knowledge-aware (mix)"}
COLUMNS = (("", "accuracy", "accuracy"), ("answer_prob", "ece", "ECE"), ("answer_prob", "smece", "smECE"),
           ("answer_prob", "overconfidence", "overconf."), ("answer_prob", "brier", "Brier"),
           ("answer_prob", "auroc", "AUROC"), ("verbal", "ece", "ECE"), ("verbal", "smece", "smECE"),
           ("verbal", "overconfidence", "overconf."), ("verbal", "auroc", "AUROC"))


def cell(row: pd.Series | None) -> str:
    """'0.123 [0.100, 0.150]', or '—' without a number."""
    if row is None or not np.isfinite(row["value"]):
        return "—"
    return f"{row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"


def tuning_markdown(table: pd.DataFrame) -> str:
    """One markdown table per model: a row per training set (the base model first), accuracy, then the answer
    probability's and the verbal confidence's calibration, each value with its 95% interval and the seeds."""
    parts = []
    for model, part in table.groupby("model", sort=False):
        seeds = int(part["seeds"].max())
        keyed = {(r["variant"], r["channel"], r["metric"]): r for _, r in part.iterrows()}
        head = " | ".join(f"{name} ({'answer prob' if ch == 'answer_prob' else 'verbal'})" if ch else name
                          for ch, _, name in COLUMNS)
        lines = [f"**{model}** ({seeds} seed{'s' if seeds > 1 else ''}; held-out items, never trained on)", "",
                 f"| training set | {head} |", "|---|" + "---|" * len(COLUMNS)]
        for variant in dict.fromkeys(part["variant"]):
            cells = [cell(keyed.get((variant, ch, metric))) for ch, metric, _ in COLUMNS]
            lines.append(f"| {LABELS.get(variant, variant)} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def ece_figure(table: pd.DataFrame) -> go.Figure:
    """ECE per training set with its 95% interval, one panel per confidence channel, one colour per model."""
    fig = make_subplots(rows=1, cols=len(CHANNELS), subplot_titles=list(CHANNELS.values()), shared_yaxes=True)
    for i, (model, part) in enumerate(table[table["metric"] == "ece"].groupby("model", sort=False)):
        for col, channel in enumerate(CHANNELS, start=1):
            rows = part[part["channel"] == channel]
            fig.add_scatter(x=[LABELS.get(v, v) for v in rows["variant"]], y=rows["value"], mode="markers",
                            error_y=error_bars(rows["value"], rows["low"], rows["high"]),
                            marker=dict(color=color(i), size=9), name=model, legendgroup=model, showlegend=col == 1,
                            row=1, col=col)
    return styled(fig, y="ECE on held-out items (95% interval)").update_layout(width=980, height=440)


def reliability_grid(evidence: Sequence, channel: str = "answer_prob") -> go.Figure:
    """Small multiples: one row per model, one column per training set (the untuned base first), the binned
    reliability diagram of ``channel`` over every seed's held-out items (marker area: the bin's items)."""
    tables = {}
    for ev in evidence:
        if ev.tuning is not None and not ev.tuning.empty:
            tables.setdefault(ev.model, []).append(ev.tuning)
    models = list(tables)
    variants = list(LABELS)
    fig = make_subplots(rows=max(1, len(models)), cols=len(variants), shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=[f"{m}: {LABELS[v]}" if r == 0 else LABELS[v]
                                        for r, m in enumerate(models) for v in variants] or None,
                        horizontal_spacing=0.03, vertical_spacing=0.08)
    for r, model in enumerate(models, start=1):
        items = pd.concat(tables[model], ignore_index=True)
        for c, variant in enumerate(variants, start=1):
            rows = items[(items["variant"] == variant) & np.isfinite(items[channel].to_numpy(dtype=float))]
            fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot", width=1),
                            showlegend=False, hoverinfo="skip", row=r, col=c)
            if rows.empty:
                continue
            bins = reliability(rows[channel].to_numpy(dtype=float), rows["correct"].to_numpy(dtype=bool))
            bins = bins[bins["count"] > 0]
            fig.add_scatter(x=bins["mean_confidence"], y=bins["accuracy"], mode="lines+markers",
                            marker=dict(size=4 + 16 * np.sqrt(bins["count"] / bins["count"].max()), color=color(r - 1)),
                            line=dict(color=color(r - 1), width=1), showlegend=False, row=r, col=c,
                            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<extra></extra>")
    fig.update_xaxes(range=[0, 1]).update_yaxes(range=[0, 1])
    fig.update_xaxes(title_text=CHANNELS[channel], row=len(models) or 1)
    fig.update_yaxes(title_text="accuracy", col=1)
    return styled(fig).update_layout(width=220 * len(variants), height=240 * max(1, len(models)) + 60)


def tuning_section(table: pd.DataFrame, evidence: Sequence) -> list[tuple[str, str]]:
    """The ladder report's section on the knowledge-split fine-tuning (none when it did not run): ECE per training
    set, the reliability small multiples of both channels, and the table folded."""
    if table.empty:
        return []
    figures = (("ECE of each training set on the held-out items, with its 95% interval over items and seeds.",
                ece_figure(table)),
               ("Reliability of the answer probability, before (base) and after each fine-tuning.",
                reliability_grid(evidence)),
               ("Reliability of the verbal confidence, before (base) and after each fine-tuning.",
                reliability_grid(evidence, "verbal")))
    body = "".join(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"tuning-figure-{i}",
                               config={"displaylogo": False}) + f"<p class='reading'>{reading}</p>"
                   for i, (reading, fig) in enumerate(figures))
    return [("Fine-tuning on known, unknown and mixed items (claims 6 and 8)", body + table_html(table, "tuning"))]
