"""Static export of plotly figures: SVG, PDF and PNG through kaleido (which drives a Chromium), and HTML.

Kaleido needs a Chromium-based browser. The project's set-up installs Debian's (``apt-get install -y
chromium``); ``BROWSER_PATH`` points kaleido at another. Without one, export fails with that command
in the message, before any file is written. All figures of one call share one browser session.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import plotly.graph_objects as go

from workbench.errors import WorkbenchError, did_you_mean

STATIC_FORMATS: tuple[str, ...] = ("svg", "pdf", "png")
FORMATS: tuple[str, ...] = (*STATIC_FORMATS, "html")
INSTALL_CHROMIUM = "apt-get install -y chromium"
DEFAULT_SIZE = (720, 440)  # layout pixels of a figure that sets no size (plotly's own default is 700 x 500)
PNG_SCALE = 3  # PNG pixels per layout pixel: a 720-wide figure becomes 2160 px, print quality at 6 inches


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"svg,pdf,png"`` or a sequence of names -> checked, de-duplicated, in the given order."""
    names = [f.strip().lower().lstrip(".") for f in (formats.split(",") if isinstance(formats, str) else formats)]
    names = [n for n in names if n]
    if not names:
        raise WorkbenchError(f"no figure format given; choose from {', '.join(FORMATS)}")
    for name in names:
        if name not in FORMATS:
            raise WorkbenchError(f"unknown figure format {name!r}.{did_you_mean(name, FORMATS)} "
                                 f"Choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(names))


def find_chromium() -> str:
    """The browser kaleido will use, or a clear error that says how to install one."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        raise WorkbenchError("static figure export needs kaleido >= 1 (pip install 'kaleido>=1')") from None
    override = os.environ.get("BROWSER_PATH")
    if override:
        if not Path(override).is_file():
            raise WorkbenchError(f"BROWSER_PATH={override} is not a file; unset it or point it at a Chromium binary "
                                 f"(Debian: {INSTALL_CHROMIUM})")
        return override
    path = Chromium.find_browser(skip_local=False)
    if not path or not Path(path).is_file():
        raise WorkbenchError(f"static figure export (svg, pdf, png) needs Chromium for kaleido, and none was found; "
                             f"install it with: {INSTALL_CHROMIUM} (or set BROWSER_PATH to a Chrome/Chromium binary)")
    return path


def export_figures(figures: Mapping[str | Path, go.Figure], formats: str | Iterable[str] = STATIC_FORMATS, *,
                   scale: float = PNG_SCALE) -> list[Path]:
    """Write each figure as ``<stem>.<format>`` for every format; returns the written paths.

    One kaleido session renders every static file, so many figures cost one browser start."""
    formats = parse_formats(formats)
    if figures and any(f in STATIC_FORMATS for f in formats):
        find_chromium()
    written: list[Path] = []
    jobs: list[tuple[go.Figure, Path, str]] = []
    for stem, fig in figures.items():
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            if fmt == "html":
                fig.write_html(path, include_plotlyjs=True, full_html=True)  # self-contained: opens alone, offline
                written.append(path)
            else:
                jobs.append((fig, path, fmt))
    if jobs:
        import plotly.io as pio

        figs, paths, fmts = map(list, zip(*jobs))
        try:
            pio.write_images(figs, paths, format=fmts, width=[fig.layout.width or DEFAULT_SIZE[0] for fig in figs],
                             height=[fig.layout.height or DEFAULT_SIZE[1] for fig in figs],  # else 700 x 500
                             scale=[scale if fmt == "png" else 1 for fmt in fmts])
        except RuntimeError as error:
            if "Chrome" in str(error) or "chrome" in str(error):
                raise WorkbenchError(f"kaleido could not start Chromium ({error}); install it with: "
                                     f"{INSTALL_CHROMIUM}") from None
            raise
        written += paths
    return written


def export_figure(fig: go.Figure, path_stem: str | Path, formats: str | Iterable[str] = STATIC_FORMATS, *,
                  scale: float = PNG_SCALE) -> list[Path]:
    """Write one figure as ``path_stem.svg``, ``.pdf``, ``.png`` (and/or ``.html``); returns the paths."""
    return export_figures({path_stem: fig}, formats, scale=scale)
