"""One figure style: colour-blind-safe palette (Okabe-Ito), fonts and sizes, intervals drawn as bands."""

from __future__ import annotations

import re

import plotly.graph_objects as go

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
FONT = dict(family="Helvetica, Arial, sans-serif", size=13, color="#222222")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def rgba(colour: str | None, alpha: float) -> str:
    """A colour string (#RRGGBB or rgb(...)) with transparency ``alpha``; grey when it cannot be read."""
    if isinstance(colour, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
        r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
        return f"rgba({r},{g},{b},{alpha})"
    match = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,[^)]*)?\)", colour or "")
    if match:
        return f"rgba({match[1]},{match[2]},{match[3]},{alpha})"
    return f"rgba(128,128,128,{alpha})"


def band_color(i: int, alpha: float = 0.2) -> str:
    return rgba(color(i), alpha)


def error_bars(value, low, high, **kwargs) -> dict:
    """Asymmetric error bars (``error_y``) from a value and the bounds of its interval."""
    return dict(type="data", symmetric=False, array=high - value, arrayminus=value - low, **kwargs)


def styled(fig: go.Figure, *, title: str | None = None, x: str | None = None, y: str | None = None) -> go.Figure:
    """Apply the workbench layout to a figure in place and return it."""
    fig.update_layout(template="simple_white", font=FONT, title=title, width=720, height=440,
                      legend=dict(bgcolor="rgba(255,255,255,0.6)"), margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def line_with_band(fig: go.Figure, x, y, low, high, *, name: str, i: int, row: int | None = None,
                   col: int | None = None, **kwargs) -> go.Figure:
    """A line with its interval drawn as a shaded band (legend shows the line only), in subplot ``row``, ``col``."""
    x = list(x)
    fig.add_trace(go.Scatter(x=x + x[::-1], y=list(high) + list(low)[::-1], fill="toself", fillcolor=band_color(i),
                             mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=name,
                             **kwargs), row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=list(y), mode="lines+markers", name=name, line=dict(color=color(i), width=2),
                             marker=dict(size=5), legendgroup=name, **kwargs), row=row, col=col)
    return fig
