"""The one offline HTML page both reports are made of (a run's ``report.html``, the ladder's ``report.html``).

``page_html(title, findings, sections)``: plotly.js inlined once in the head, the findings in words above every
figure, a table of contents, then one anchored ``<section>`` per ``(heading, html)``, whose body is built from
``figure_html`` and ``table_html`` (CSV downloads are ``data:`` links, so they work offline). The page names no
external URL (no CDN, no fonts, no MathJax). ``write_html`` writes a page of figures alone.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

FIGURE_SIZE = (860, 460)  # layout pixels of every figure box on the page
ROWS_SHOWN = 10  # a folded table shows its first rows; the CSV link holds them all

STYLE = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}h2{margin-top:36px}
.box{margin:8px 0 4px 0}.reading{margin:0 0 24px 0}.note{color:#666;font-size:13px}
ul.findings li{margin:4px 0}details{margin:6px 0 14px 0}summary{cursor:pointer}
table.table{border-collapse:collapse;font-size:12px}table.table td,table.table th{padding:2px 8px;
border-bottom:1px solid #ddd;text-align:right}"""


def anchor(heading: str) -> str:
    """The id of a section: its heading in lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"


def figure_html(fig: go.Figure, div_id: str, reading: str = "") -> str:
    """One figure in a fixed-size box (drawn by the page's one plotly.js), its reading in a line under it."""
    fig = go.Figure(fig).update_layout(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1])
    body = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": False})
    line = f"<p class='reading'>{html.escape(reading)}</p>" if reading else ""
    return f"<div class='box' style='width:{FIGURE_SIZE[0]}px;height:{FIGURE_SIZE[1]}px'>{body}</div>{line}"


def table_html(frame: pd.DataFrame, name: str, *, rows: int = ROWS_SHOWN, open_: bool = False) -> str:
    """``frame`` folded under its name: the first ``rows`` rows shown, every row in a CSV download."""
    def cell(v):  # lists and dicts as JSON, so the cell and the CSV read the same
        return json.dumps(v) if isinstance(v, (list, tuple, dict)) else v

    frame = frame.map(cell) if len(frame.columns) else frame
    shown = frame.head(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                                     classes="table")
    csv = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    file = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".csv"
    first = f"first {rows} of {len(frame)} rows" if len(frame) > rows else f"{len(frame)} rows"
    return (f"<details{' open' if open_ else ''}><summary>{html.escape(name.replace('_', ' '))} ({first})</summary>"
            f"{shown}<p class='note'><a download='{file}' href='data:text/csv;base64,{csv}'>download all "
            f"{len(frame)} rows as CSV</a></p></details>")


def page_html(title: str, findings: Sequence[str], sections: Sequence[tuple[str, str]], *, note: str = "") -> str:
    """The page: plotly.js once in the head, the title, ``note``, the findings (escaped text; no such section when
    there are none), the contents, then each ``(heading, html body)`` section."""
    contents = "".join(f"<li><a href='#{anchor(h)}'>{html.escape(h)}</a></li>" for h, _ in sections)
    said = "".join(f"<li>{html.escape(line)}</li>" for line in findings)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             f"<h1>{html.escape(title)}</h1>", note,
             f"<section id='findings'><h2>Findings</h2><ul class='findings'>{said}</ul></section>" if said else "",
             f"<nav id='contents'><h2>Contents</h2><ol>{contents}</ol></nav>"]
    parts += [f"<section id='{anchor(h)}'><h2>{html.escape(h)}</h2>{body}</section>" for h, body in sections]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(figures: Mapping[str, go.Figure], path: str | Path, *, title: str) -> Path:
    """A page of figures alone, each in its own section (the page beside a patching or fine-tuning result)."""
    sections = [(heading, figure_html(fig, f"figure-{i}")) for i, (heading, fig) in enumerate(figures.items())]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page_html(title, [], sections or [("No figures", "<p>No stored results to draw yet.</p>")]),
                    encoding="utf-8")
    return path
