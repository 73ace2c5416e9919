"""``workbench patch`` end to end: results and figures beside the run, resume after a kill, controls, rho."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from workbench.analyses.patching import runner
from workbench.analyses.patching.runner import PatchConfig, run_patching
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.figures.patching import ControlsDisplay, EffectHeatmap, LayerGradientDisplay
from workbench.store.results import read_result

LAYERS = (0, 14, 29)


def test_cli_writes_results_and_figures(smollm2_run, capsys):
    code = main(["patch", str(smollm2_run.path), "--pairs", "random", "--n-pairs", "2", "--blocks", "0,14,29",
                 "--chunk-pairs", "1", "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    path = smollm2_run.path / "results" / "patching-random-resid_pre"
    result = read_result(path)
    assert "rho(layer, effect)" in out and str(path) in out
    effects = result["effects"]
    assert len(effects) == 2 * len(LAYERS) and set(effects["layer"]) == set(LAYERS)
    assert {"source_id", "target_id", "patched_expected", "target_expected", "source_expected", "normalised_shift",
            "logit_diff", "kl", "effect"} <= set(effects.columns)
    summary = result["controls_summary"].set_index("control")
    assert list(summary.index) == ["sweep", "reverse", "off_position", "random"]
    assert summary.loc["sweep", "share_answer_unchanged"] == pytest.approx(effects["answer_unchanged"].mean())
    assert set(result["controls"]["control"]) == {"reverse", "off_position", "random"}
    g = result["gradient_summary"].iloc[0]
    mean_effect = effects.groupby("layer")["effect"].mean()  # [layer]: the gradient is rho over these means
    assert g["rho"] == pytest.approx(spearmanr(mean_effect.index, mean_effect.to_numpy())[0])
    assert g["rho_low"] <= g["rho"] <= g["rho_high"]
    np.testing.assert_allclose(result["gradient"]["mean"], mean_effect.loc[result["gradient"]["layer"]])
    assert len(result["attribution"]) == 2 * len(LAYERS) and np.isfinite(result["attribution"]["estimate"]).all()
    assert result.manifest["config"]["site"] == "resid_pre" and len(result.manifest["config_hash"]) == 64
    assert_figures_draw_the_result(result, mean_effect)
    page = (result.path / "figures" / "patching.html").read_text()  # one page, plotly.js inlined once
    assert all(title in page for title in ("Effect per layer and pair", "Layer gradient", "Controls"))
    assert page.count("Plotly.newPlot") == 3 and not list((result.path / "figures").glob("*.js"))
    assert "patching effect (effect)" in page and "sweep and controls" in page
    assert f"rho = {g['rho']:+.2f} [{g['rho_low']:+.2f}, {g['rho_high']:+.2f}]" in page
    question = result["pairs"]["target_question"].iloc[0]
    assert question[:12] in page and "confidence: softmax" in page  # hover traces each pair
    assert result.path.parent == path and not (result.path / "partial").exists()


def assert_figures_draw_the_result(result, mean_effect) -> None:
    """Each figure holds the traces and axis titles it should, with the stored numbers."""
    heatmap = EffectHeatmap.from_result(result).figure()
    [cells] = heatmap.data
    assert list(cells.x) == list(LAYERS) and list(cells.y) == ["confidence_slot"]
    np.testing.assert_allclose(np.asarray(cells.z)[0], mean_effect.loc[list(LAYERS)])
    assert heatmap.layout.xaxis.title.text == "layer" and heatmap.layout.annotations[0].text == "resid_pre"
    gradient = LayerGradientDisplay.from_result(result).figure()
    line = next(t for t in gradient.data if t.name == "mean (confidence_slot)")
    assert list(line.x) == list(LAYERS)
    np.testing.assert_allclose(line.y, mean_effect.loc[list(LAYERS)])
    points = next(t for t in gradient.data if t.name == "pairs (confidence_slot)")
    assert len(points.x) == 2 * len(LAYERS) and gradient.layout.yaxis.title.text == "effect"
    controls = ControlsDisplay.from_result(result).figure()
    assert [t.name.split(" ")[0] for t in controls.data] == ["sweep", "reverse", "off_position", "random"]
    np.testing.assert_allclose(controls.data[0].y, mean_effect.loc[list(controls.data[0].x)])
    assert controls.layout.yaxis.title.text == "mean effect"


def test_killed_run_resumes_where_it_stopped(smollm2, smollm2_run, monkeypatch):
    config = PatchConfig(pairs="random", n_pairs=2, blocks=LAYERS, chunk_pairs=1, controls=("random",),
                         attribution=False, seed=5, site="mlp_out")
    calls = []
    real_sweep = runner.patch_sweep

    def counting_sweep(*args, **kwargs):
        calls.append(1)
        return real_sweep(*args, **kwargs)

    monkeypatch.setattr(runner, "patch_sweep", counting_sweep)

    def kill_after_two_units(message: str) -> None:
        if message.startswith("random-00000"):  # after sweep-00000 is stored, before its control runs
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_patching(smollm2_run, config, model=smollm2, figures=False, progress=kill_after_two_units)
    (path,) = (smollm2_run.path / "results" / "patching-random-mlp_out").iterdir()  # the config's keyed folder
    progress = json.loads((path / "partial" / "progress.json").read_text())
    assert progress["done"] == ["sweep-00000"] and not (path / "manifest.json").exists()
    assert len(calls) == 1
    result = run_patching(smollm2_run, config, model=smollm2, figures=False)
    assert len(calls) == 2  # only sweep-00001 was computed again; the stored chunk was reused
    assert sorted(result["effects"]["pair_id"].unique()) == [0, 1]
    again = run_patching(smollm2_run, config, model=smollm2, figures=False)  # finished: read back, no work
    assert len(calls) == 2 and again.manifest["config_hash"] == result.manifest["config_hash"]
    other = run_patching(smollm2_run, config, model=smollm2, figures=False, seed=6)  # another config: beside it
    assert other.path != result.path and (result.path / "manifest.json").exists() and len(calls) == 4


def test_cli_errors_are_one_line(smollm2_run, capsys):
    assert main(["patch", str(smollm2_run.path), "--pairs", "random", "--blocks", "0,40"]) == 2
    assert "block 40 out of range" in capsys.readouterr().err
    assert main(["patch", str(smollm2_run.path), "--pairs", "random", "--blocks", "zero"]) == 2
    assert "--blocks: must be \"all\" or a non-empty list of block numbers" in capsys.readouterr().err


def test_an_architecture_without_a_row_is_one_error_naming_the_row_to_add(tiny_checkpoint, tmp_path, monkeypatch):
    """A model whose architecture has no row in the table: patching refuses it with the table's one error (which
    row to add, in which file) before any forward. The tiny llama stands in, with the llama row taken out."""
    from workbench.architectures import ARCHITECTURES
    from workbench.backends import load_model
    from workbench.collect import collect

    model = load_model(str(tiny_checkpoint), device="cpu")
    run = collect(out=tmp_path / "run", loaded=model, model=str(tiny_checkpoint), limit=3, max_answer_tokens=2,
                  progress=False)
    monkeypatch.delitem(ARCHITECTURES, "llama")
    for method in ("auto", "reference"):
        with pytest.raises(WorkbenchError, match=r"architecture 'llama' has no row .*workbench/architectures.py"):
            run_patching(run, PatchConfig(pairs="random", n_pairs=2, blocks="all", controls=(), method=method),
                         model=model, figures=False)
    assert not (run.path / "results").exists() or not any((run.path / "results").rglob("effects.parquet"))


def test_attribution_tolerance_reaches_the_stored_estimates(smollm2_run, capsys, monkeypatch):
    """``--attribution-tolerance``: with no floor and tolerance 0 every patch runs to the end, so the stored
    estimates are the exact effects beside them."""
    from workbench.analyses.patching import attribution

    monkeypatch.setattr(attribution, "ATOL", 0.0)
    code = main(["patch", str(smollm2_run.path), "--pairs", "random", "--n-pairs", "2", "--blocks", "0,20",
                 "--site", "resid_post", "--controls", "none", "--attribution-tolerance", "0", "--seed", "4"])
    assert code == 0, capsys.readouterr().out
    table = read_result(smollm2_run.path / "results" / "patching-random-resid_post")["attribution"]
    assert len(table) == 4 and np.abs(table["exact"]).max() > 1e-4
    assert np.allclose(table["estimate"], table["exact"], atol=1e-5)
