"""Integration on the real SmolLM2 run (24 items). SmolLM2 gets few answers right, so the labels are chosen:
``labelled`` marks every second example correct (12 of each class) and ``all_wrong`` none; everything else
(residuals, confidences, answers) is the model's own. Each metric is checked against an independent computation
(scikit-learn, torchmetrics, a plain loop) on the numbers the result stores; each verdict against its rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, roc_auc_score
from torchmetrics.functional.classification import binary_calibration_error

from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.logit_lens import lens_scores
from workbench.analyses.probe_layers import probe_layers, probe_weights_path
from workbench.analyses.probe_weights import load_probe
from workbench.demo import analyse
from workbench.errors import WorkbenchError
from workbench.figures.findings import run_findings
from workbench.store.results import read_result, result_dir

LENS_LAYERS = [0, 15, 30]


@pytest.fixture(scope="module")
def labelled(smollm2_run, correct_copy, tmp_path_factory):
    """The session run with examples 0, 2, ..., 22 marked correct: both classes, 12 each."""
    return correct_copy(smollm2_run, tmp_path_factory.mktemp("labelled") / "run", list(range(0, 24, 2)))


@pytest.fixture
def all_wrong(smollm2_run, correct_copy, tmp_path):
    """A copy of the session run with every answer marked incorrect (one per test: analyses store results in it)."""
    return correct_copy(smollm2_run, tmp_path / "all_wrong", [])


def verdict_rule(summary) -> str:
    """The bottleneck verdict as workbench/analyses/bottleneck.py documents it, from the reported numbers."""
    if min(summary["n_correct"], summary["n"] - summary["n_correct"]) < 5:
        return "too few examples"
    if summary["difference_low"] > 0:
        return "bottleneck"
    return "reverse" if summary["difference_high"] < 0 else "inconclusive"


def test_logit_lens_last_layer_is_the_model_output(smollm2_run, smollm2):
    """The lens at the final read-out reproduces the run's exact softmax expected value (whatever the labels)."""
    last = len(smollm2_run.readouts) - 1
    scores = lens_scores(smollm2_run, smollm2, layers=[0, last])
    final = scores[scores["layer"] == last]
    np.testing.assert_allclose(final["expected"], smollm2_run.records["softmax_expected"], atol=1e-2)
    assert final["first_token_mass"].between(0.5, 1.0 + 1e-6).all()  # the output puts its mass on confidence digits
    assert scores.loc[scores["layer"] == 0, "expected"].between(0, 100).all()


def test_probe_aurocs_equal_sklearn_on_the_stored_out_of_fold_scores(labelled):
    layers = [0, labelled.n_blocks // 2, labelled.n_blocks]
    result = probe_layers(labelled, "confidence_slot", layers, folds=3, n_boot=100)
    table, oof = result["layers"], result["oof"]
    assert len(table) == 3 * 2 and (table["status"] == "ok").all()
    correct = labelled.records.set_index("example_id")["correct"]
    for row in table.itertuples():
        scores = oof[(oof["layer"] == row.layer) & (oof["probe"] == row.probe)].set_index("example_id")["score"]
        assert sorted(scores.index) == list(range(24))  # every example scored once, out of fold
        assert row.auroc == pytest.approx(roc_auc_score(correct.loc[scores.index], scores), abs=1e-12)
        assert row.low <= row.auroc <= row.high
    probe = load_probe(probe_weights_path(labelled.path, "confidence_slot", layers[1]))
    probe.check_compatible(checksum=labelled.manifest["model"]["checksum"], d_model=labelled.d_model)
    assert probe.weight.shape == (labelled.d_model,) and probe.meta["layer"] == layers[1]


def test_channel_metrics_equal_independent_computations(labelled):
    result = channels(labelled, n_boot=100)
    row = result["channels"].set_index("channel").loc["softmax_expected"]
    records = labelled.records
    p, y = records["softmax_expected"].to_numpy() / 100, records["correct"].to_numpy()
    assert row["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert row["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    expected_ece = binary_calibration_error(torch.tensor(p), torch.tensor(y.astype(int)), n_bins=10, norm="l1").item()
    assert row["ece"] == pytest.approx(expected_ece, abs=1e-9)
    assert row["overconfidence"] == pytest.approx(p.mean() - y.mean(), abs=1e-12)
    assert row["auroc_low"] <= row["auroc"] <= row["auroc_high"]


def test_bottleneck_verdict_follows_its_rule_on_the_reported_numbers(labelled, smollm2):
    result = bottleneck(labelled, n_boot=200, loaded=smollm2, lens_layers=LENS_LAYERS)
    summary = result["summary"].iloc[0]
    scores = result["scores"]
    assert summary["auroc_softmax"] == pytest.approx(roc_auc_score(scores["correct"], scores["softmax_expected"]))
    assert summary["auroc_argmax"] == pytest.approx(roc_auc_score(scores["correct"], scores["argmax_confidence"]))
    assert summary["difference"] == pytest.approx(summary["auroc_softmax"] - summary["auroc_argmax"])
    assert summary["difference_low"] <= summary["difference"] <= summary["difference_high"]
    assert (summary["n"], summary["n_correct"]) == (24, 12)
    assert summary["verdict"] == verdict_rule(summary)
    lens = result["lens"].set_index("layer")
    assert sorted(lens.index) == LENS_LAYERS
    assert summary["lens_peak_layer"] == lens["auroc"].idxmax()
    assert summary["lens_lost"] == pytest.approx(lens["auroc"].max() - lens.loc[30, "auroc"])


def test_one_class_is_stated_by_channels_and_refused_by_the_bottleneck(all_wrong, smollm2):
    table = channels(all_wrong, n_boot=100)["channels"].set_index("channel")
    assert np.isnan(table.loc["softmax_expected", "auroc"])
    assert "all 24 answers are incorrect" in table.loc["softmax_expected", "note"]
    p = all_wrong.records["softmax_expected"].to_numpy() / 100
    assert table.loc["softmax_expected", "brier"] == pytest.approx(np.mean(p ** 2), abs=1e-12)  # calibration still holds
    with pytest.raises(WorkbenchError, match="needs both correct and incorrect"):
        bottleneck(all_wrong, loaded=smollm2)


def test_the_demo_stores_what_its_findings_say(smollm2_run, correct_copy, all_wrong, smollm2, tmp_path):
    run = correct_copy(smollm2_run, tmp_path / "run", list(range(0, 24, 2)))  # its own copy: the demo stores results
    assert analyse(run, smollm2, n_pairs=2, logit_lens=False) == []
    said = {f.analysis.split("-")[0]: f.text for f in run_findings(run)}
    summary = read_result(result_dir(run.path, "bottleneck"))["summary"].iloc[0]
    assert f"Text bottleneck ({summary['verdict']}): AUROC softmax {summary['auroc_softmax']:.3f}" in said["bottleneck"]
    assert summary["verdict"] == verdict_rule(summary)
    assert "the probe's AUROC peaks at confidence_slot layer" in said["probes"] and "verbal confidence's AUROC" \
        in said["probes"]
    assert "2 pairs x 30 layers): rho(layer, shift) = " in said["patching"]
    assert (run.path / "results" / "channels" / "latest.json").exists()  # results are keyed; latest.json points
    skipped = analyse(all_wrong, smollm2, n_pairs=2, logit_lens=False)
    assert [line.split(":")[0] for line in skipped] == ["probes", "text bottleneck", "patching"]
    assert "random pairs stand in" in skipped[2]
    assert "softmax_expected undefined" in {f.analysis: f.text for f in run_findings(all_wrong)}["channels"]