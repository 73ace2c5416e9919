"""The figure verbs of the public API: draw a stored result's figures, find stored results and export all their
figures in the paper style.

Thin callers of ``figures.paper`` (imported when called, so ``import workbench`` stays light).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError, did_you_mean
from workbench.store import Run, open_run
from workbench.store.results import Result, analysis_folder, read_result


def figure(result: Result, name: str | None = None, *, paper: bool = False) -> Any:
    """One figure of a stored result as a plotly ``go.Figure``, drawn from its tables and the results stored beside it
    (the first of ``figure_names(result)`` when ``name`` is None); ``paper=True`` draws it in the paper style (one
    font, colour-blind-safe palette, bands)."""
    from workbench.figures.paper import paper_style

    figures = _figures(result)
    name = next(iter(figures)) if name is None else name
    if name not in figures:
        raise WorkbenchError(f"result {result.path.name} has no figure {name!r}.{did_you_mean(name, figures)} "
                             f"Figures: {', '.join(figures)}")
    return paper_style(figures[name]) if paper else figures[name]


def figure_names(result: Result) -> list[str]:
    """The names ``figure(result, name)`` accepts, the default first."""
    return list(_figures(result))


def _figures(result: Result) -> dict[str, Any]:
    """Every figure of ``result`` by name, drawn by the builder registered for its analysis (``figures.paper``)."""
    from workbench.figures.paper import builder_for

    builder = builder_for(analysis_folder(result.path).name) or builder_for(result.analysis)
    if builder is None:
        raise WorkbenchError(f"analysis {result.analysis!r} has no figures")
    return builder(result, result.related())


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


def explore(run: Run | str | Path, model: Any = None) -> Any:
    """An app for JupyterLab (offline) on one example at a time (``figures.explore``): the stored probe's score per
    read-out and the logit lens's confidence distribution at a chosen block; with ``model`` (the run's own), the
    exact confidence after a source example's activation is patched in, computed live. Returns the ``Explorer``
    (``.widget`` is what the notebook shows); needs the ``lab`` extra."""
    from workbench.figures.explore import Explorer

    return Explorer(run if isinstance(run, Run) else open_run(run), model)
