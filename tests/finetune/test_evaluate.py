"""The before/after table, the seed summary and the figures, on synthetic runs (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.synthetic import make_run
from workbench.errors import WorkbenchError
from workbench.figures.finetune import (ConfidenceHistogramDisplay, FinetuneComparisonDisplay,
                                        SeedHistogramDisplay)
from workbench.finetune.evaluate import check_disjoint, compare, format_comparison
from workbench.finetune.replication import replicate
from workbench.finetune.runner import variant_config
from workbench.finetune.train import FinetuneConfig


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    base = make_run(root / "base", n=60, accuracy=0.4, seed=0)
    correct = base.records["correct"].to_numpy()
    worse = correct.copy()
    worse[np.flatnonzero(correct)[:6]] = False  # six answers lost: accuracy drops by 0.1
    return {"base": base, "same": make_run(root / "same", n=60, correct=correct, seed=1),
            "worse": make_run(root / "worse", n=60, correct=worse, seed=2),
            "other": make_run(root / "other", n=50, accuracy=0.4, seed=3)}


def test_comparison_has_one_row_per_variant_and_split_and_flags_accuracy_drops(runs):
    tables = compare({("base", "heldout"): runs["base"], ("probe", "heldout"): runs["same"],
                      ("standard", "heldout"): runs["worse"]}, n_boot=50)
    table = tables["comparison"].set_index("variant")
    assert list(table.index) == ["base", "probe", "standard"]
    assert table.loc["base", "accuracy_change"] == 0 and table.loc["probe", "accuracy_ok"]
    assert table.loc["standard", "accuracy_change"] == pytest.approx(-0.1) and not table.loc["standard", "accuracy_ok"]
    for column in ("verbal_auroc", "verbal_ece", "verbal_brier", "softmax_auroc", "validity", "bottleneck",
                   "known_ece", "unknown_ece"):
        assert column in table.columns
    assert 0 <= table.loc["probe", "verbal_ece"] <= 1 and table.loc["base", "verbal_missing"] > 0
    # known/unknown comes from the base model's P(gold), so it is the same split for every variant
    assert table["known_n"].nunique() == 1
    assert set(tables["scores"]["variant"]) == {"base", "probe", "standard"}
    assert "!" in format_comparison(tables["comparison"])


def test_comparison_refuses_runs_of_other_items_and_a_split_without_base(runs):
    with pytest.raises(WorkbenchError, match="other items"):
        compare({("base", "heldout"): runs["base"], ("probe", "heldout"): runs["other"]}, n_boot=20)
    with pytest.raises(WorkbenchError, match="base"):
        compare({("probe", "ood"): runs["same"]}, n_boot=20)


def test_evaluation_items_must_not_overlap_training_items(runs):
    check_disjoint(["elsewhere/1"], runs["base"])
    with pytest.raises(WorkbenchError, match="shares 1 items"):
        check_disjoint(["synthetic/0003"], runs["base"])


def test_seed_replication_reports_mean_sd_and_shape_distances(runs):
    tables = replicate({0: runs["base"], 1: runs["same"], 2: runs["worse"]}, n_boot=20)
    summary = tables["seed_summary"].set_index("metric")
    accuracy = [runs[k].records["correct"].mean() for k in ("base", "same", "worse")]
    assert summary.loc["accuracy", "mean"] == pytest.approx(np.mean(accuracy))
    assert summary.loc["accuracy", "sd"] == pytest.approx(np.std(accuracy, ddof=1))
    assert len(tables["distances"]) == 3 and (tables["distances"]["w1"] >= 0).all()
    assert summary.loc["shape_w1", "mean"] > 0  # different seeds drew different confidences
    shares = tables["histograms"].groupby("seed")["share"].sum()
    assert np.allclose(shares, 1.0)
    with pytest.raises(WorkbenchError, match="at least 2"):
        replicate({0: runs["base"]})


def test_baseline_configs():
    main = FinetuneConfig(target="probe", probe="27/confidence_slot", seed=3)
    assert variant_config(main, "constant").target == "constant" and variant_config(main, "constant").probe is None
    standard = variant_config(main, "standard")
    assert standard.objective == "answer" and standard.name == "standard" and standard.seed == 3
    with pytest.raises(WorkbenchError, match="unknown baseline"):
        variant_config(main, "probe")


def test_figures_draw_from_the_tables(runs):
    tables = compare({("base", "heldout"): runs["base"], ("probe", "heldout"): runs["same"]}, n_boot=20)
    comparison = tables["comparison"].set_index("variant")
    fig = FinetuneComparisonDisplay(tables["comparison"]).figure()
    assert len(fig.data) == 8  # 4 panels x 2 variants
    bars = {(t.name, t.yaxis): t for t in fig.data}
    for axis, column in (("y", "accuracy"), ("y2", "verbal_auroc"), ("y3", "verbal_ece"), ("y4", "verbal_brier")):
        for variant in ("base", "probe"):  # each panel's bar is its variant's number
            assert list(bars[(variant, axis)].y) == pytest.approx([comparison.loc[variant, column]])
    assert [a.text for a in fig.layout.annotations] == ["accuracy", "verbal AUROC", "verbal ECE", "verbal Brier"]
    hist = ConfidenceHistogramDisplay(tables["scores"], split="heldout").figure()
    assert len(hist.data) == 4  # correct and incorrect per variant
    scores = tables["scores"]
    base_correct = scores[(scores["variant"] == "base") & scores["correct"]]["verbal"].dropna()
    assert (hist.data[0].name, sorted(hist.data[0].x)) == ("correct", sorted(base_correct))
    seeds = replicate({0: runs["base"], 1: runs["same"]}, n_boot=20)
    fig = SeedHistogramDisplay(seeds["histograms"], seeds["seed_summary"]).figure()
    assert len(fig.data) == 2 and "AUROC" in fig.layout.title.text


def test_probe_recovery_is_verbal_auroc_after_over_probe_auroc_before(runs, tmp_path):
    from workbench.analyses.probe_layers import probe_layers

    tables = compare({("base", "heldout"): runs["base"], ("probe", "heldout"): runs["same"]}, n_boot=20)
    table = tables["comparison"].set_index("variant")
    assert np.isnan(table.loc["probe", "probe_recovery"])  # no probes result stored yet: said, not guessed
    assert "run `workbench probe" in table.loc["probe", "probe_recovery_note"]
    probes = probe_layers(runs["base"], ["confidence_slot"], seeds=(0,), n_boot=20)
    best = probes["layers"].query("probe == 'logistic' and status == 'ok'")["auroc"].max()
    table = compare({("base", "heldout"): runs["base"], ("probe", "heldout"): runs["same"]},
                    n_boot=20)["comparison"].set_index("variant")
    assert table.loc["probe", "probe_auroc_base"] == pytest.approx(best)
    assert table.loc["probe", "probe_recovery"] == pytest.approx(table.loc["probe", "verbal_auroc"] / best)
    assert "probe recovery" in format_comparison(table.reset_index())
