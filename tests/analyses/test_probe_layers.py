"""Layer-wise probes on a synthetic run: the planted layer is found, splits respect questions, weights
round-trip, and bad input gives a clear error or a stated skip."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.probe_layers import grouped_splits, probe_layers, probe_weights_path
from workbench.analyses.probe_weights import load_probe
from workbench.analyses.synthetic import make_run
from workbench.errors import WorkbenchError


def test_planted_layer_is_the_peak(synthetic_probes):
    table = synthetic_probes["layers"].set_index(["role", "layer", "probe"])
    planted = table.loc[("confidence_slot", 2, "logistic")]
    assert planted["auroc"] > 0.85 and planted["low"] > 0.75
    assert planted["low"] <= planted["auroc"] <= planted["high"]
    others = table.drop(index=[("confidence_slot", 2, "logistic"), ("confidence_slot", 2, "diffmeans")])
    assert (others["auroc"] < planted["auroc"] - 0.1).all()
    noise = table.loc[("confidence_slot", 0, "logistic")]
    assert noise["low"] < 0.5 + 0.05 and noise["auroc"] < 0.75
    assert np.isfinite(table["auroc_seed_sd"]).all() and (table["seeds"] == 2).all()
    best = {(b["role"], b["probe"]): b["layer"] for b in synthetic_probes.manifest["best"]}
    assert best[("confidence_slot", "logistic")] == 2 and best[("confidence_slot", "diffmeans")] == 2


def test_out_of_fold_table_covers_every_example(synthetic_run, synthetic_probes):
    oof = synthetic_probes["oof"]
    assert len(oof) == synthetic_run.n_examples * 2 * 2 * 4 * 2  # examples x seeds x roles x layers x probes
    assert oof["score"].between(0, 1).all()
    fits = synthetic_probes["fits"]
    assert set(fits["fold"]) == set(range(5)) and fits.loc[fits["probe"] == "logistic", "C"].notna().all()


def test_splits_never_share_a_question():
    correct = np.tile([True, False, False, False], 30)
    groups = np.repeat(np.arange(40), 3)  # each question asked three times
    for train, test in grouped_splits(correct, groups, folds=5, seed=0):
        assert not set(groups[train]) & set(groups[test])
        assert correct[test].any()


def test_saved_weights_round_trip(synthetic_run, synthetic_probes):
    path = probe_weights_path(synthetic_run.path, "confidence_slot", 2)
    probe = load_probe(path)
    assert path.exists() and path.with_suffix(".json").exists()
    meta = probe.meta
    assert (meta["layer"], meta["role"], meta["hook"]) == (2, "confidence_slot", "blocks.2.hook_resid_pre")
    assert (meta["n_readouts"], meta["d_model"], meta["model_checksum"]) == (4, 16, "sha256:synthetic")
    X = synthetic_run.residuals(2, "confidence_slot")
    p = probe.probability(X)
    correct = synthetic_run.records["correct"].to_numpy()
    assert p[correct].mean() > p[~correct].mean() + 0.3  # the refit read-out separates the classes
    probe.check_compatible(checksum="sha256:synthetic", d_model=16, n_readouts=4)
    with pytest.raises(WorkbenchError, match="checksum"):
        probe.check_compatible(checksum="sha256:another")
    with pytest.raises(WorkbenchError, match="residuals"):
        probe.probability(X[:, :8])


def test_one_class_run_is_a_clear_error(one_class_run):
    with pytest.raises(WorkbenchError, match="all 40 answers in this run are incorrect"):
        probe_layers(one_class_run, "confidence_slot", [0])


def test_too_few_examples_for_the_folds(tmp_path):
    correct = np.zeros(30, dtype=bool)
    correct[:3] = True
    run = make_run(tmp_path / "few", n=30, correct=correct)
    with pytest.raises(WorkbenchError, match="too few examples for 5 folds.*use folds=3"):
        probe_layers(run, "confidence_slot", [0], folds=5)
    assert probe_layers(run, "confidence_slot", [0], folds=3, n_boot=50)["layers"]["status"].eq("ok").all()


def test_unknown_layer_or_role(synthetic_run):
    with pytest.raises(WorkbenchError, match="read-out 7 out of range.*0..3"):
        probe_layers(synthetic_run, "confidence_slot", [7])
    with pytest.raises(WorkbenchError, match="role 'slot' not stored"):
        probe_layers(synthetic_run, "slot", [0])
    with pytest.raises(WorkbenchError, match="unknown probe"):
        probe_layers(synthetic_run, "confidence_slot", [0], probes="svm")


def test_nan_activations_are_a_stated_skip(tmp_path):
    run = make_run(tmp_path / "nan", n=60, nan_layer=1)
    table = probe_layers(run, "confidence_slot", [0, 1], probes="diffmeans", n_boot=50)["layers"].set_index("layer")
    assert table.loc[1, "status"] == "skipped: 3 examples have NaN/inf activations" and np.isnan(table.loc[1, "auroc"])
    assert table.loc[0, "status"] == "ok" and np.isfinite(table.loc[0, "auroc"])
    with pytest.raises(WorkbenchError, match="every selected layer has NaN/inf"):
        probe_layers(run, "confidence_slot", [1], probes="diffmeans")


def test_any_sklearn_classifier_can_be_probed(tmp_path):
    from sklearn.linear_model import LogisticRegression

    run = make_run(tmp_path / "sk", n=80)
    result = probe_layers(run, "confidence_slot", [2], probes={"sk": LogisticRegression(C=0.1)}, n_boot=50)
    assert result["layers"].loc[0, "auroc"] > 0.85
    assert load_probe(probe_weights_path(run.path, "confidence_slot", 2, "sk")).meta["probe"] == "sk"
