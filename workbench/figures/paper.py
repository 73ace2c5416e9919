"""Paper figures: one style for every figure, and every figure regenerated from stored results.

``paper_style(fig)`` returns a copy in the paper style: one font family and fixed sizes, the Okabe-Ito
colour-blind-safe palette (``style.PALETTE``) for every trace without its own colour, a colour-blind-safe
sequential scale for heatmaps, axis lines and outside ticks, no grid, and intervals drawn as bands
(a line's error bars become a shaded band; bars keep their error bars).

``regenerate_figures(results_root, out_dir, formats)`` walks every stored result under ``results_root``
(the latest result of each ``RUN/results/<analysis>/``, in run stores and sweep folders alike), builds each result's
figures with the builder registered for its analysis (``draw_figures``), and exports them. No model is run.
``spec_hash(fig)`` is a stable hash of what a figure draws: ``scripts/readme_figures.py`` writes it beside each README
figure, and a test compares it with a fresh drawing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import plotly.graph_objects as go

from workbench.errors import WorkbenchError
from workbench.figures.bottleneck import BottleneckDisplay, LogitLensDisplay
from workbench.figures.export import STATIC_FORMATS, export_figures, parse_formats
from workbench.figures.finetune import finetune_figures
from workbench.figures.patching import ControlsDisplay, EffectHeatmap, LayerGradientDisplay
from workbench.figures.prior_knowledge import PriorKnowledgeDisplay
from workbench.figures.probes import ProbeAurocDisplay
from workbench.figures.reliability import ReliabilityDisplay
from workbench.figures.replication import ReplicationDisplay
from workbench.figures.steering import SteeringDoseDisplay
from workbench.figures.style import PALETTE, rgba
from workbench.store.paths import check_output_dir
from workbench.store.results import LATEST, Result, analysis_folder, read_result
from workbench.store.run_store import run_id_of

PAPER_FONT = dict(family="Helvetica, Arial, sans-serif", size=12, color="#000000")
TICK_SIZE, TITLE_SIZE, LEGEND_SIZE = 11, 13, 11
BAND_ALPHA = 0.2
SEQUENTIAL = "Cividis"  # colour-blind-safe and monotone in lightness

# analysis -> function(result, related results of the same run by analysis) -> {figure name: figure}
FigureBuilder = Callable[..., dict[str, go.Figure]]
FIGURES: dict[str, FigureBuilder] = {}
NO_RELATED: Mapping[str, Result] = MappingProxyType({})


def register_figures(analysis: str) -> Callable[[FigureBuilder], FigureBuilder]:
    """Decorator: the builder of an analysis's paper figures (``patching-*`` results use ``patching``)."""
    def add(builder: FigureBuilder) -> FigureBuilder:
        FIGURES[analysis] = builder
        return builder
    return add


# --- the style ------------------------------------------------------------------------------------------------

def _has_error_line(trace) -> bool:
    err = getattr(trace, "error_y", None)
    return trace.type == "scatter" and "lines" in (trace.mode or "") and err is not None and err.array is not None


def _with_bands(traces: Iterable) -> list:
    """Traces with every line's error bars (``error_y`` arrays) replaced by a shaded band drawn beneath it; the
    more bands overlap, the lighter each."""
    traces = list(traces)
    alpha = max(0.07, BAND_ALPHA / max(1, sum(map(_has_error_line, traces))) ** 0.5)
    out, i = [], 0
    for trace in traces:
        if not _has_error_line(trace):
            out.append(trace)
            continue
        err = trace.error_y
        xs, ys = list(trace.x), list(trace.y)
        up = list(err.array)
        down = list(err.arrayminus) if err.symmetric is False and err.arrayminus is not None else up
        order = sorted(range(len(xs)), key=lambda k: xs[k])
        x = [xs[k] for k in order]
        high = [ys[k] + up[k] for k in order]
        low = [ys[k] - down[k] for k in order]
        colour = (trace.line.color if trace.line is not None else None) or PALETTE[i % len(PALETTE)]
        band = go.Scatter(x=x + x[::-1], y=high + low[::-1], mode="lines", fill="toself", fillcolor=rgba(colour, alpha),
                          line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=trace.legendgroup or
                          trace.name, xaxis=trace.xaxis, yaxis=trace.yaxis)
        line = go.Scatter(trace)
        line.error_y = None
        line.line.color = colour
        out += [band, line]
        i += 1
    return out


def paper_style(fig: go.Figure, *, width: int | None = None, height: int | None = None) -> go.Figure:
    """A copy of ``fig`` in the paper style (see the module docstring); the figure's own size unless given."""
    styled = go.Figure(data=_with_bands(fig.data), layout=fig.layout)
    layout = styled.layout
    width = width or layout.width or 720
    height = height or layout.height or 440
    # the legend goes under the plot (which keeps the full width), in as many columns as its labels allow;
    # the figure grows by the legend's height
    labels = [str(t.name) for t in styled.data if t.name and t.showlegend is not False]
    columns = max(1, min(4, int(width // (LEGEND_SIZE * 0.6 * max(map(len, labels), default=1) + 60))))
    rows = -(-len(labels) // columns) if len(labels) > 1 or layout.showlegend else 0
    styled.update_layout(
        template="simple_white", font=PAPER_FONT, colorway=list(PALETTE), paper_bgcolor="white",
        plot_bgcolor="white", width=width, height=height + rows * (LEGEND_SIZE + 12),
        legend=dict(font=dict(size=LEGEND_SIZE), bgcolor="rgba(255,255,255,0)", orientation="h", yref="container",
                    y=0, yanchor="bottom", x=0, xanchor="left", entrywidth=1 / columns, entrywidthmode="fraction",
                    traceorder="normal", itemsizing="constant"),  # groups would stack one per row
        colorscale=dict(sequential=SEQUENTIAL),
    )
    if layout.title.text:
        styled.update_layout(title=dict(font=dict(size=TITLE_SIZE, family=PAPER_FONT["family"])))
    axes = dict(showgrid=False, ticks="outside", showline=True, linecolor="#000000", tickfont_size=TICK_SIZE,
                title_font_size=PAPER_FONT["size"])
    styled.update_xaxes(**axes).update_yaxes(**axes)
    styled.update_annotations(font_family=PAPER_FONT["family"], font_size=TICK_SIZE)
    for trace in styled.data:
        if trace.type == "heatmap" and trace.zmid is None:  # no diverging scale of its own: the colour-blind-safe one
            trace.colorscale = SEQUENTIAL
        if trace.type == "scatter" and trace.fill == "toself" and trace.mode is None:
            trace.mode = "lines"  # a band is an area: no markers on its outline
    return styled


# --- builders, one per analysis ----------------------------------------------------------------------------

@register_figures("probes")
def _probes(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {"auroc_per_layer": ProbeAurocDisplay.from_result(result, related.get("channels"),
                                                             related.get("bottleneck")).figure()}


@register_figures("channels")
def _channels(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {"reliability": ReliabilityDisplay.from_result(result).figure()}


@register_figures("prior_knowledge")
def _prior_knowledge(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {"known_vs_unknown": PriorKnowledgeDisplay.from_result(result).figure(),
            "reliability": ReliabilityDisplay.from_result(result, title="Reliability by prior knowledge").figure()}


@register_figures("replication")
def _replication(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {"seeds": ReplicationDisplay.from_result(result).figure()}


@register_figures("bottleneck")
def _bottleneck(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    figures = {"softmax_vs_argmax": BottleneckDisplay.from_result(result).figure()}
    if "lens" in result.tables:
        figures["logit_lens"] = LogitLensDisplay.from_result(result, related.get("probes")).figure()
    return figures


@register_figures("patching")
def _patching(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    figures = {"heatmap": EffectHeatmap.from_result(result).figure()}
    if "gradient" in result.tables and "gradient_summary" in result.tables:
        figures["gradient"] = LayerGradientDisplay.from_result(result).figure()
    if "controls_per_layer" in result.tables:
        figures["controls"] = ControlsDisplay.from_result(result).figure()
    return figures


@register_figures("finetune")
def _finetune(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"): fig for name, fig in finetune_figures(result).items()}


@register_figures("steering")
def _steering(result: Result, related: Mapping[str, Result] = NO_RELATED) -> dict[str, go.Figure]:
    return {"dose_response": SteeringDoseDisplay.from_result(result).figure()}


def builder_for(analysis: str) -> FigureBuilder | None:
    """The builder of an analysis (``patching-correct-to-incorrect-resid_pre`` -> ``patching``)."""
    return FIGURES.get(analysis) or FIGURES.get(analysis.split("-")[0])


# --- regeneration ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Regenerated:
    """What ``regenerate_figures`` wrote, and each result it could not draw with the reason."""

    paths: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def find_results(root: str | Path) -> list[Path]:
    """Every analysis folder holding a result (``.../results/<name>/``: its latest result through ``latest.json``,
    or one written before results were keyed) under ``root``, sorted; none inside hidden or unfinished folders.
    ``root`` may also be one analysis folder or one keyed result folder."""
    root = Path(root)
    if root.parent.name == "results" or root.parent.parent.name == "results":
        return [root]
    candidates = sorted({p.parent for p in root.rglob(LATEST)} | {p.parent for p in root.rglob("manifest.json")})
    found = []
    for folder in candidates:
        rel = folder.relative_to(root).parts
        if folder.parent.name != "results" or any(p.startswith(".") or p == "partial" for p in rel):
            continue
        if (folder / LATEST).exists():
            found.append(folder)
            continue
        try:
            if "analysis" in json.loads((folder / "manifest.json").read_text()):  # a result, not a run's manifest
                found.append(folder)
        except (OSError, json.JSONDecodeError):
            found.append(folder)  # unreadable: regenerate_figures reports it
    return found


def read_manifest(run_dir: Path) -> dict:
    """A run folder's manifest, or {} where there is none."""
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _run_label(result: Result) -> str:
    config = result.manifest.get("run", {}).get("config") or {}
    model = Path(str(config.get("model", "run"))).name
    dataset = config.get("dataset", "")
    dataset = Path(dataset).stem if "/" in str(dataset) else str(dataset)
    parts = [model, dataset] + ([f"seed{config['seed']}"] if "seed" in config else [])
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", "_".join(p for p in parts if p)) or "run"


def regenerate_figures(results_root: str | Path, out_dir: str | Path = "figures",
                       formats: str | Iterable[str] = STATIC_FORMATS, *, allow_incomplete: bool = False) -> Regenerated:
    """Every figure of every stored result under ``results_root`` (``draw_figures``), exported into ``out_dir`` as
    ``out_dir/<model>_<dataset>_seed<seed>/<result>-<figure>.<format>``. A result that cannot be read (another
    format version) or drawn is listed in ``skipped`` with the reason; the others are still written."""
    formats = parse_formats(formats)
    check_output_dir(out_dir)
    figures, skipped = draw_figures(results_root, allow_incomplete=allow_incomplete)
    paths = export_figures({Path(out_dir) / stem: fig for stem, fig in figures.items()}, formats) if figures else []
    return Regenerated(paths, skipped)


def draw_figures(results_root: str | Path, *, allow_incomplete: bool = False,
                 read: Callable[[Path], Result] = read_result) -> tuple[dict[Path, go.Figure], list[tuple[Path, str]]]:
    """(every figure of every stored result under ``results_root``, paper-styled, by ``<run label>/<result>-<figure>``;
    each result that could not be read or drawn, with the reason).

    The run label is ``<model>_<dataset>_seed<seed>``, one per run, told apart by the run's id, so copies of a run or
    runs of one config never merge: the id is appended when two runs would share a label. Results of an incomplete
    run are refused unless ``allow_incomplete``. ``read`` opens a result folder (``read_result``)."""
    root = Path(results_root)
    if not root.exists():
        raise WorkbenchError(f"{root} does not exist; give a run folder, a sweep folder, or a folder holding them")
    folders = find_results(root)
    if not folders:
        raise WorkbenchError(f"no stored results under {root} (looked for RUN/results/<analysis>/); "
                             "run an analysis (workbench probe/calibrate/bottleneck/patch) or a sweep first")
    skipped: list[tuple[Path, str]] = []
    by_run: dict[tuple[str, int], list[tuple[str, Result]]] = {}  # (run id, copy): a copied run keeps its id
    for folder in folders:
        try:
            result = read(folder)
        except (WorkbenchError, OSError, json.JSONDecodeError) as error:
            skipped.append((folder, str(error)))
            continue
        run = result.manifest.get("run", {})
        run_dir = analysis_folder(folder).parent.parent  # the run the result read
        run_id = run.get("run_id") or run_id_of(read_manifest(run_dir), run_dir)
        complete = run.get("complete", read_manifest(run_dir).get("complete", True))
        if complete is False and not allow_incomplete:
            raise WorkbenchError(f"{folder} was computed on an incomplete run ({run_dir}: its collect did not finish); "
                                 f"resume the collect and re-run the analysis, or pass allow_incomplete=True "
                                 f"(--allow-incomplete) to draw it anyway")
        name = analysis_folder(folder).name  # probes for RUN/results/probes and RUN/results/probes/<key>
        copy = 0  # results of one run id share a folder (a sweep's analysis units); a copy's repeat gets its own
        while any(name == other for other, _ in by_run.get((run_id, copy), [])):
            copy += 1
        by_run.setdefault((run_id, copy), []).append((name, result))
    labels: set[str] = set()
    figures: dict[Path, go.Figure] = {}
    for (run_id, _), results in by_run.items():
        label = base = _run_label(results[0][1])
        if label in labels:
            label = base = f"{base}_{run_id[:8]}"
        for copy in range(2, len(by_run) + 2):
            if label not in labels:
                break
            label = f"{base}_{copy}"  # a copy of a run (same id)
        labels.add(label)
        related = {}
        for _, result in results:
            related.setdefault(result.manifest["analysis"], result)
        for name, result in results:
            builder = builder_for(name) or builder_for(result.manifest["analysis"])
            if builder is None:
                skipped.append((result.path, f"no figure builder registered for analysis {name!r}"))
                continue
            try:
                built = builder(result, related)
            except (KeyError, ValueError, WorkbenchError) as error:
                skipped.append((result.path, f"{type(error).__name__}: {error}"))
                continue
            for fig_name, fig in built.items():
                figures[Path(label) / f"{name}-{fig_name}"] = paper_style(fig)
    return figures, skipped


def spec_hash(fig: go.Figure, digits: int = 6) -> str:
    """sha256 of a figure's plotly spec (its JSON, keys sorted, typed arrays decoded, floats rounded to ``digits``
    significant digits): the same for the same drawing on any machine, another when the code draws something else."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict) and {"dtype", "bdata"} <= set(value):  # plotly's typed array: numbers again
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
            shape = value.get("shape")
            return plain(array.reshape([int(n) for n in str(shape).split(",")]) if shape else array)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, np.ndarray)):
            return [plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
        if isinstance(value, (float, np.floating)):
            return float(f"{value:.{digits}g}") or 0.0  # -0.0 and 0.0 alike
        return value.item() if isinstance(value, np.generic) else value

    text = json.dumps(plain(fig.to_dict()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
