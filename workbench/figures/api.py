"""The figure verbs of the public API: find stored results and export all their figures in the paper style.

Thin callers of ``figures.paper`` (imported when called, so ``import workbench`` stays light).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.store.results import Result, read_result


def find_results(root: str | Path) -> list[Result]:
    """The latest stored result of each analysis under ``root`` (a run, a sweep, or any folder holding them),
    opened, sorted by path (keyed results are followed through ``latest.json``)."""
    from workbench.figures.paper import find_results as result_folders

    return [read_result(path) for path in result_folders(root)]


def export_figures(results: str | Path, out: str | Path = "figures",
                   formats: str | Iterable[str] = ("svg", "pdf", "png"), *, allow_incomplete: bool = False) -> Any:
    """Every figure of every result under ``results``, paper-styled, written to ``out`` (what ``workbench
    figures`` does; no model runs). Returns what was written (``.paths``) and what was not (``.skipped``,
    each with its reason). ``formats``: svg, pdf, png (static, through kaleido and Chromium) and html. Results of
    an incomplete run are refused unless ``allow_incomplete``."""
    from workbench.figures.paper import regenerate_figures

    return regenerate_figures(results, out, formats, allow_incomplete=allow_incomplete)
