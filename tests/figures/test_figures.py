"""Figures: each Display builds a plotly figure from stored results, and a page holds them all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.figures.bottleneck import BottleneckDisplay, LogitLensDisplay
from workbench.figures.prior_knowledge import PriorKnowledgeDisplay
from workbench.figures.probes import ProbeAurocDisplay
from workbench.figures.reliability import ReliabilityDisplay
from workbench.figures.replication import ReplicationDisplay
from workbench.figures.page import write_html
from workbench.store.results import read_result


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def test_probe_auroc_per_layer_with_bands_and_channel_references(stored):
    fig = ProbeAurocDisplay.from_result(read_result(stored["probes"].path), stored["channels"]).figure()
    assert isinstance(fig, go.Figure)
    assert set(names(fig)) == {"logistic probe, confidence_slot", "diffmeans probe, confidence_slot",
                               "logistic probe, answer_last", "diffmeans probe, answer_last"}
    line = next(t for t in fig.data if t.name == "logistic probe, confidence_slot")
    assert list(line.x) == [0, 1, 2, 3] and max(line.y) == line.y[2]  # the planted layer peaks
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 4
    references = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(references) == 4 + 1  # four channels with an AUROC, and chance


def test_reliability_small_multiples_one_panel_per_channel(stored):
    result = stored["channels"]
    fig = ReliabilityDisplay.from_result(result).figure()
    panels = list(dict.fromkeys(result["reliability"]["channel"]))
    assert len(panels) >= 10 and "verbal+platt" in panels  # raw and recalibrated channels
    titles = [a.text for a in fig.layout.annotations]
    assert [t.split("<br>")[0] for t in titles if t][:len(panels)] == panels
    assert any(t.startswith("softmax_expected<br><sup>smECE ") for t in titles)
    smooth = result["smooth"]
    lines = [t for t in fig.data if t.name == "smoothed"]
    for channel, line in zip(panels, lines):  # each panel's curve is the stored one, where the data have density
        stored_part = smooth[smooth["channel"] == channel]
        drawn = np.array(line.y, dtype=float)
        supported = stored_part["density"].to_numpy() >= 0.02 * stored_part["density"].max()
        np.testing.assert_array_equal(np.isfinite(drawn), supported)
        np.testing.assert_allclose(drawn[supported], stored_part["accuracy"].to_numpy()[supported])
    lines = [t for t in fig.data if t.name == "smoothed"]
    strips = [t for t in fig.data if t.name == "density"]
    assert len(lines) == len(strips) == len(panels)
    for line, strip in zip(lines, strips):
        assert line.xaxis != strip.xaxis and strip.fill == "tozeroy" and min(strip.y) >= 0  # strip in its own row
        assert all(0 <= v <= 1 for v in line.x)
    binned = [t for t in fig.data if t.name == "binned"]
    assert len(binned) == len(panels)
    assert fig.layout.yaxis.range == (0, 1) and fig.layout.xaxis.range == (0, 1)


def test_reliability_small_multiples_by_split(stored):
    fig = ReliabilityDisplay.from_result(stored["prior_knowledge"], channels=["verbal", "softmax_expected"]).figure()
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert titles == ["verbal", "softmax_expected"]
    splits = {t.name for t in fig.data if isinstance(t, go.Scatter) and t.mode == "markers"}
    assert splits == set(stored["prior_knowledge"]["reliability"]["split"])
    assert any(isinstance(t, go.Bar) for t in fig.data)  # count strip where no smooth curve is stored


def test_bottleneck_scatter_and_histograms(stored):
    display = BottleneckDisplay.from_result(stored["bottleneck"])
    fig = display.figure()
    kinds = [type(t).__name__ for t in fig.data]
    assert kinds.count("Scatter") == 2 and kinds.count("Histogram") == 4
    assert "bottleneck" in fig.layout.title.text
    n = sum(len(t.x) for t in fig.data if isinstance(t, go.Scatter))
    assert n == len(stored["bottleneck"]["scores"])


def test_logit_lens_display_from_tables():
    lens = pd.DataFrame({"layer": range(5), "auroc": [0.5, 0.55, 0.7, 0.8, 0.6], "low": np.full(5, 0.4),
                         "high": np.full(5, 0.9), "first_token_mass": [0, 0, 0.1, 0.6, 1.0], "status": "ok"})
    fig = LogitLensDisplay(lens).figure()
    assert names(fig) == ["logit lens: expected confidence", "mass on confidence tokens"]
    assert fig.data[-1].yaxis == "y2"


def test_prior_knowledge_and_replication(stored):
    fig = PriorKnowledgeDisplay.from_result(stored["prior_knowledge"]).figure()
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert {b.name.split(" ")[0] for b in bars} == {"known", "unknown"}
    assert "P(gold) > 0.5" in fig.layout.title.text
    rep = ReplicationDisplay.from_result(stored["replication"]).figure()
    assert len([t for t in rep.data if t.fill == "toself"]) == 4


def test_a_page_of_figures_is_self_contained_html(stored, tmp_path):
    figures = {"Reliability per channel": ReliabilityDisplay.from_result(stored["channels"]).figure(),
               "Known vs unknown items": PriorKnowledgeDisplay.from_result(stored["prior_knowledge"]).figure()}
    text = write_html(figures, tmp_path / "figures" / "calibrate.html", title="calibrate").read_text()
    assert text.count("<h2>Reliability per channel</h2>") == 1 and "<h2>Known vs unknown items</h2>" in text
    assert text.count("Plotly.newPlot") == 2 and len(text) > 1_000_000  # plotly.js embedded (works offline)
    assert "id='findings'" not in text  # figures alone: no findings to open on
    empty = write_html({}, tmp_path / "empty.html", title="nothing")
    assert "No stored results" in empty.read_text()


def test_prior_knowledge_figure_with_an_empty_split(tmp_path):
    from workbench.analyses.prior_knowledge import prior_knowledge_tables

    frame = pd.DataFrame({"c": [0.2, 0.8, 0.5], "correct": [0, 1, 0], "gold_prob": [0.01, 0.2, 0.3]})
    tables = prior_knowledge_tables(frame, "c", n_boot=20)
    fig = PriorKnowledgeDisplay(tables["splits"], tables["contrast"], 0.5).figure()
    assert [t.name.split(" ")[0] for t in fig.data if isinstance(t, go.Bar)] == ["unknown"]
    assert not [t for t in fig.data if isinstance(t, go.Scatter)]  # no contrast to draw, and no error
