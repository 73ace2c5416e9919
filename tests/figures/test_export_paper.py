"""Paper style, static export (kaleido + Chromium) and regeneration of every figure from stored results."""

from __future__ import annotations

import json
import shutil

import plotly.graph_objects as go
import pytest

from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.figures.export import export_figure, find_chromium, parse_formats
from workbench.figures.paper import FIGURES, PAPER_FONT, builder_for, find_results, paper_style, regenerate_figures
from workbench.figures.run_report import REPORT_TABLES
from workbench.figures.style import PALETTE
from workbench.store.results import latest_dir

MAGIC = {".svg": b"<svg", ".pdf": b"%PDF", ".png": b"\x89PNG"}


@pytest.fixture(scope="module")
def kaleido_browser():
    """One kaleido browser for this module's static exports: each export call would otherwise start Chromium
    and load plotly.js again (seconds on a busy machine). Skips where no Chromium is installed."""
    import kaleido

    try:
        find_chromium()
    except WorkbenchError as error:
        pytest.skip(str(error))
    kaleido.start_sync_server(silence_warnings=True)
    yield
    kaleido.stop_sync_server(silence_warnings=True)


def test_paper_style_draws_intervals_as_bands_in_the_palette_without_touching_the_input():
    fig = go.Figure(go.Scatter(x=[0.3, 0.1, 0.2], y=[0.5, 0.2, 0.4], mode="lines+markers", name="verbal",
                               error_y=dict(type="data", symmetric=False, array=[0.1, 0.1, 0.2],
                                            arrayminus=[0.05, 0.1, 0.1])))
    fig.add_trace(go.Bar(x=["a"], y=[1], error_y=dict(type="data", array=[0.1])))
    styled = paper_style(fig)
    band, line, bar = styled.data
    assert band.fill == "toself" and band.showlegend is False and band.mode == "lines"
    assert list(band.x) == [0.1, 0.2, 0.3, 0.3, 0.2, 0.1]  # sorted along x, then back
    assert list(band.y) == pytest.approx([0.3, 0.6, 0.6, 0.45, 0.3, 0.1])  # y + up, then reversed y - down
    assert line.error_y.array is None and bar.error_y.array is not None  # bars keep their error bars
    assert band.fillcolor == "rgba(0,114,178,0.2)" and line.line.color == PALETTE[0]
    assert styled.layout.font.size == PAPER_FONT["size"] and list(styled.layout.colorway) == list(PALETTE)
    assert len(fig.data) == 2 and fig.data[0].error_y.array is not None  # the input is unchanged


def test_format_names_are_checked():
    assert parse_formats("svg, PDF,.png,svg") == ("svg", "pdf", "png")
    with pytest.raises(WorkbenchError, match="unknown figure format 'jpg'"):
        parse_formats("svg,jpg")


def test_missing_chromium_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))
    with pytest.raises(WorkbenchError, match="apt-get install -y chromium"):
        export_figure(go.Figure(), tmp_path / "fig", "png")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    export_figure(go.Figure(), tmp_path / "fig", "html")  # html needs no browser
    assert (tmp_path / "fig.html").exists()


def test_static_export_writes_every_format_at_the_figure_size(kaleido_browser, tmp_path):
    fig = paper_style(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), width=500, height=300)
    paths = export_figure(fig, tmp_path / "line", ("svg", "pdf", "png"))
    assert [p.name for p in paths] == ["line.svg", "line.pdf", "line.png"]
    for path in paths:
        assert path.read_bytes().startswith(MAGIC[path.suffix])
    assert 'width="500"' in (tmp_path / "line.svg").read_text()[:400]  # not kaleido's 700 x 500 default
    png = (tmp_path / "line.png").read_bytes()
    assert int.from_bytes(png[16:20], "big") == 3 * 500  # PNG width, at the print scale


def test_every_analysis_of_the_report_page_has_a_paper_figure_builder():
    assert set(REPORT_TABLES) <= set(FIGURES)
    assert builder_for("patching-correct-to-incorrect-resid_pre") is FIGURES["patching"]


def test_regenerate_every_figure_from_stored_results_and_skip_what_cannot_be_read(stored, kaleido_browser, tmp_path,
                                                                                   capsys):
    root = tmp_path / "results"
    shutil.copytree(stored["run"].path, root / "run", symlinks=True)
    found = {p.name for p in find_results(root)}
    assert found == {"probes", "channels", "prior_knowledge", "replication", "bottleneck"}
    old = latest_dir(root / "run" / "results" / "replication") / "manifest.json"  # as if written by another version
    old.write_text(json.dumps({**json.loads(old.read_text()), "format": 99}))

    code = main(["figures", str(root), "--format", "svg", "--out", str(tmp_path / "figures")])
    assert code == 1  # one result skipped
    err = capsys.readouterr().err
    assert "skipped" in err and "replication" in err and "another result format" in err
    written = sorted(p.relative_to(tmp_path / "figures").as_posix() for p in (tmp_path / "figures").rglob("*.svg"))
    assert written == [f"synthetic_seed0/{name}.svg" for name in (
        "bottleneck-softmax_vs_argmax", "channels-reliability", "prior_knowledge-known_vs_unknown",
        "prior_knowledge-reliability", "probes-auroc_per_layer")]
    svg = (tmp_path / "figures" / "synthetic_seed0" / "probes-auroc_per_layer.svg").read_text()
    assert "Helvetica" in svg and "fill-opacity" in svg  # the paper font; bands drawn as translucent areas

    again = regenerate_figures(root, tmp_path / "html", "html")  # the API; html needs no browser
    assert len(again.paths) == 5 and [p.name for p, _ in again.skipped] == ["replication"]


def test_no_results_is_a_clear_error(tmp_path, capsys):
    assert main(["figures", str(tmp_path), "--out", str(tmp_path / "figures")]) == 2
    assert "no stored results under" in capsys.readouterr().err
