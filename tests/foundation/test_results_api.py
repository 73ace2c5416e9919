"""``Result``: typed summaries equal to the stored tables, figures drawn from them, every column documented."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import pytest

import workbench as wb
from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.probe_layers import probe_layers
from workbench.analyses.synthetic import make_run
from workbench.errors import WorkbenchError
from workbench.store.columns import RECORDS, undocumented
from workbench.store.results import result_slot


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("results") / "run", n=60, accuracy=0.4)
    probes = probe_layers(run, folds=3, probes=["logistic"], n_boot=100)
    return run, {"probes": probes, "channels": channels(run, probes=probes, n_boot=100),
                 "bottleneck": bottleneck(run, n_boot=100, logit_lens=False)}


def test_probe_summary_is_the_best_row_of_the_layers_table(results):
    _, r = results
    summary = r["probes"].summary
    table = r["probes"]["layers"]
    best = table.loc[table["auroc"].idxmax()]
    assert isinstance(summary, wb.ProbeSummary)
    assert (summary.best_layer, summary.auroc, summary.low, summary.high) == (
        best["layer"], best["auroc"], best["low"], best["high"])
    assert summary.best_layer == 2  # make_run plants the signal at read-out 2
    assert summary.n_readouts_probed == 4 and set(summary.by_layer) == {0, 1, 2, 3}
    with pytest.raises(Exception):
        summary.auroc = 0.5  # frozen


def test_calibrate_and_bottleneck_summaries_read_their_tables(results):
    _, r = results
    cal = r["channels"].summary
    table = r["channels"]["channels"].set_index("channel")
    assert isinstance(cal, wb.CalibrateSummary)
    assert cal.auroc["softmax_expected"] == table.loc["softmax_expected", "auroc"]
    assert cal.ece["verbal"] == table.loc["verbal", "ece"]
    assert cal.best_channel == table["auroc"].idxmax()
    assert cal.accuracy == pytest.approx(0.4)
    neck = r["bottleneck"].summary
    row = r["bottleneck"]["summary"].iloc[0]
    assert isinstance(neck, wb.BottleneckSummary)
    assert (neck.verdict, neck.difference, neck.difference_low) == (row["verdict"], row["difference"],
                                                                    row["difference_low"])
    assert neck.lens_peak_layer is None and math.isnan(neck.lens_peak_auroc)  # no lens was run


def test_figures_are_drawn_from_the_stored_tables(results):
    _, r = results
    assert wb.figure_names(r["probes"]) == ["auroc_per_layer"]
    fig = wb.figure(r["probes"])
    assert isinstance(fig, go.Figure)
    # the probe figure shows the other channels stored beside it as reference lines
    assert any("softmax_expected" in (a.text or "") for a in fig.layout.annotations)
    assert wb.figure_names(r["bottleneck"]) == ["softmax_vs_argmax"]
    assert isinstance(wb.figure(r["channels"], "reliability"), go.Figure)
    with pytest.raises(WorkbenchError, match="has no figure 'reliabilty'. Did you mean 'reliability'"):
        wb.figure(r["channels"], "reliabilty")


def test_open_result_reads_back_the_same_result_and_reprs_show_headlines(results):
    run, r = results
    again = wb.open_result(run.path, "probes")
    assert again.summary == r["probes"].summary
    assert again.config == r["probes"].config
    assert wb.open_result(run.path / "results" / "bottleneck").summary == r["bottleneck"].summary
    text = repr(again)
    assert f"{again.summary.auroc:.3f}" in text and "layer 2" in text
    html = again._repr_html_()
    assert "ProbeSummary" in html and "layers" in html and f"{again.summary.auroc:.3f}" in html
    with pytest.raises(WorkbenchError, match="holds no 'patching' result"):
        wb.open_result(run.path, "patching")


def stored_patching(run, site: str):
    """A small patching result stored as ``wb.patch`` stores one: analysis ``patching``, in the folder
    ``patching-correct-to-incorrect-<site>``."""
    effects = pd.DataFrame({"pair_id": [0, 0, 1, 1], "layer": [0, 1, 0, 1], "role": "confidence_slot", "site": site,
                            "effect": [0.1, 0.2, 0.0, 0.3], "answer_unchanged": True})
    slot = result_slot(run.path, "patching", {"pairs": "correct-to-incorrect", "site": site, "metric": "shift"},
                       run.manifest, name=f"patching-correct-to-incorrect-{site}")
    return slot.write({"effects": effects})


def test_results_open_by_analysis_name_or_by_folder_and_their_repr_names_both(tmp_path):
    run = make_run(tmp_path / "run", n=40)
    probes = probe_layers(run, layers=[1], seeds=(0,), probes=["logistic"], n_boot=50)
    patching = stored_patching(run, "resid_pre")
    assert wb.open_result(run.path, "patching").path == patching.path  # by the analysis name
    assert wb.open_result(run.path, "patching-correct-to-incorrect-resid_pre").path == patching.path  # by folder
    assert wb.open_result(run.path, "probes").path == probes.path
    assert repr(patching).startswith("Result(analysis='patching', folder='patching-correct-to-incorrect-resid_pre', "
                                     f"path={str(patching.path)!r}): rho = ")
    assert repr(probes).startswith(f"Result(analysis='probes', path={str(probes.path)!r}): probe AUROC")
    assert "patching in patching-correct-to-incorrect-resid_pre" in patching._repr_html_()
    with pytest.raises(WorkbenchError) as error:
        wb.open_result(run.path, "patchin")
    assert str(error.value) == (f"{run.path} holds no 'patchin' result. Did you mean 'patching'? Stored: "
                                "patching-correct-to-incorrect-resid_pre (patching), probes; open one by its folder "
                                "or analysis name")
    stored_patching(run, "attn_out")  # two folders of one analysis: the name no longer says which
    with pytest.raises(WorkbenchError, match=r"holds 2 'patching' results: patching-correct-to-incorrect-attn_out, "
                                             r"patching-correct-to-incorrect-resid_pre; name the folder"):
        wb.open_result(run.path, "patching")
    assert wb.open_result(run.path, "patching-correct-to-incorrect-resid_pre").path == patching.path
    with pytest.raises(WorkbenchError, match="holds no results yet; run the analysis first"):
        wb.open_result(make_run(tmp_path / "empty", n=40).path, "probes")


def test_every_stored_column_is_documented(results):
    run, r = results
    for result in r.values():
        assert undocumented(result.analysis, result.tables) == []
        described = result.describe(next(iter(result.tables)))
        assert (described["doc"] != "").all()
    assert [c for c in run.records.columns if c not in RECORDS and not c.startswith("pos_")] == []
