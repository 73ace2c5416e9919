"""Calibration metrics: agreement with scikit-learn and torchmetrics, and invariants (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from scipy.stats import rankdata
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from torchmetrics.functional.classification import binary_calibration_error

from workbench.analyses import calibration as cal
from workbench.errors import WorkbenchError


def sample(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0, 1, n) * 0.999  # in [0, 1), away from torchmetrics' own bin for 1.0
    if ties:
        conf = np.round(conf, 1)  # many exact ties (and values on bin edges)
    correct = rng.uniform(size=n) < conf ** 1.5
    return conf, correct


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_auprc_brier_match_sklearn(ties):
    conf, correct = sample(ties=ties)
    assert cal.auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf), abs=1e-12)
    assert cal.auprc(conf, correct) == pytest.approx(average_precision_score(correct, conf), abs=1e-12)
    assert cal.brier(conf, correct) == pytest.approx(brier_score_loss(correct, conf), abs=1e-12)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_reliability_matches_calibration_curve(strategy, n_bins):
    """Bins agree away from the edges: 401 = n - 1 is prime, so no quantile edge falls on a data point."""
    conf, correct = sample(n=402, seed=n_bins)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=n_bins, strategy=strategy)
    bins = cal.reliability(conf, correct, n_bins=n_bins, strategy=strategy)
    bins = bins[bins["count"] > 0]
    np.testing.assert_allclose(bins["accuracy"], prob_true, atol=1e-12)
    np.testing.assert_allclose(bins["mean_confidence"], prob_pred, atol=1e-12)


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_and_mce_match_torchmetrics(n_bins):
    conf, correct = sample(seed=3)
    preds, target = torch.tensor(conf, dtype=torch.float64), torch.tensor(correct.astype(int))
    l1 = binary_calibration_error(preds, target, n_bins=n_bins, norm="l1").item()
    worst = binary_calibration_error(preds, target, n_bins=n_bins, norm="max").item()
    assert cal.ece(conf, correct, n_bins=n_bins) == pytest.approx(l1, abs=1e-12)
    assert cal.mce(conf, correct, n_bins=n_bins) == pytest.approx(worst, abs=1e-12)


def test_bin_edges_are_half_open_and_decimal():
    ids = cal.bin_ids(np.array([0.0, 0.1, 0.3, 0.57, 0.7, 0.99999, 1.0]), n_bins=10)
    assert ids.tolist() == [0, 1, 3, 5, 7, 9, 9]
    assert cal.bin_ids(np.array([0.57]), n_bins=100).tolist() == [57]


def test_bad_input_is_a_clear_error():
    with pytest.raises(WorkbenchError, match="divide a 0-100"):
        cal.ece([50.0, 90.0], [True, False])
    with pytest.raises(WorkbenchError, match="NaN"):
        cal.brier([0.5, np.nan], [True, False])
    with pytest.raises(WorkbenchError, match="both correct and incorrect"):
        cal.auroc([0.2, 0.9], [False, False])
    with pytest.raises(WorkbenchError, match="strategy"):
        cal.ece([0.2, 0.9], [False, True], strategy="equal")


def test_summary_states_one_class_instead_of_a_number():
    table = cal.summarize([0.2, 0.4, 0.9], [False, False, False], n_boot=50).set_index("metric")
    assert np.isnan(table.loc["auroc", "value"]) and "all 3 answers are incorrect" in table.loc["auroc", "note"]
    assert table.loc["brier", "value"] == pytest.approx(np.mean(np.square([0.2, 0.4, 0.9])))


def test_summary_intervals_bracket_the_estimates():
    conf, correct = sample(n=300, seed=7)
    table = cal.summarize(conf, correct, n_boot=300)
    assert (table["low"] <= table["value"] + 1e-12).all() and (table["value"] <= table["high"] + 1e-12).all()
    assert table.set_index("metric").loc["auroc", "low"] > 0.6  # a real signal: interval well above chance


def test_bootstrap_keeps_class_counts():
    correct = np.array([True] * 3 + [False] * 17)
    idx = cal.bootstrap_indices(correct, n_boot=100, seed=1)
    assert idx.shape == (100, 20)
    assert (correct[idx].sum(axis=1) == 3).all()


pairs = st.integers(min_value=2, max_value=60).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n)))
# the same with both classes present (for AUROC/AUPRC), by construction: no test skips what it drew
two_class_pairs = pairs.map(lambda d: (d[0], [True, False, *d[1][2:]]))


@settings(max_examples=60, deadline=None)
@given(pairs, st.sampled_from(["uniform", "quantile"]), st.integers(1, 20))
def test_calibration_bounds(data, strategy, n_bins):
    conf, correct = np.array(data[0]), np.array(data[1])
    e = cal.ece(conf, correct, n_bins=n_bins, strategy=strategy)
    m = cal.mce(conf, correct, n_bins=n_bins, strategy=strategy)
    assert 0 <= e <= m + 1e-12 <= 1 + 1e-12
    assert 0 <= cal.brier(conf, correct) <= 1


@settings(max_examples=60, deadline=None)
@given(pairs, st.randoms(use_true_random=False))
def test_metrics_are_permutation_invariant(data, random):
    conf, correct = np.array(data[0]), np.array(data[1])
    order = np.array(random.sample(range(len(conf)), len(conf)))
    for metric in (lambda c, y: cal.ece(c, y), lambda c, y: cal.ece(c, y, strategy="quantile"), cal.mce, cal.brier):
        assert metric(conf[order], correct[order]) == pytest.approx(metric(conf, correct), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(two_class_pairs, st.randoms(use_true_random=False))
def test_discrimination_is_permutation_invariant(data, random):
    conf, correct = np.array(data[0]), np.array(data[1])
    order = np.array(random.sample(range(len(conf)), len(conf)))
    assert cal.auroc(conf[order], correct[order]) == pytest.approx(cal.auroc(conf, correct), abs=1e-12)
    assert cal.auprc(conf[order], correct[order]) == pytest.approx(cal.auprc(conf, correct), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.integers(0, 12)), min_size=1, max_size=8), st.integers(1, 20),
       st.sampled_from(["uniform", "quantile"]))
def test_perfect_calibration_scores_zero(groups, n_bins, strategy):
    """Groups of m examples at confidence j/m with exactly j correct: every bin's accuracy is its confidence."""
    conf, correct = [], []
    for m, j in groups:
        j = min(j, m)
        conf += [j / m] * m
        correct += [True] * j + [False] * (m - j)
    assert cal.ece(conf, correct, n_bins=n_bins, strategy=strategy) == pytest.approx(0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(two_class_pairs)
def test_auroc_is_rank_based(data):
    conf, correct = np.array(data[0]), np.array(data[1])
    for transformed in (conf * 4.0, rankdata(conf)):  # exact, strictly increasing transforms
        assert cal.auroc(transformed, correct) == pytest.approx(cal.auroc(conf, correct), abs=1e-12)
    assert cal.auroc(-conf, correct) == pytest.approx(1 - cal.auroc(conf, correct), abs=1e-12)


def test_equal_mass_bins_never_split_a_tie():
    """Verbal confidences pile up at 0.95-1.0: a cut through the pile moves to its nearer end."""
    conf = np.r_[np.linspace(0.1, 0.5, 8), np.full(10, 0.95), np.full(2, 1.0)]
    ids = cal.equal_mass_ids(conf, n_bins=4)  # cuts wanted after 5, 10, 15 of 20
    for value in np.unique(conf):
        assert len(set(ids[conf == value])) == 1
    assert np.bincount(ids).tolist() == [5, 3, 10, 2]  # the cuts at 10 and 15 fall in the 0.95 block (8..17)
    shuffled = np.random.default_rng(0).permutation(len(conf))
    assert cal.ece_mass(conf[shuffled], (conf > 0.3)[shuffled]) == pytest.approx(cal.ece_mass(conf, conf > 0.3))


def test_equal_mass_ece_without_ties_is_the_mean_over_sorted_chunks():
    conf, correct = sample(n=400, seed=11)
    order = np.argsort(conf)
    chunks_conf, chunks_corr = conf[order].reshape(10, 40), correct[order].reshape(10, 40)
    expected = np.mean(np.abs(chunks_corr.mean(1) - chunks_conf.mean(1)))
    assert cal.ece_mass(conf, correct, n_bins=10) == pytest.approx(expected, abs=1e-12)
    assert np.bincount(cal.equal_mass_ids(conf[:397], 10)).tolist() == [40, 39, 40, 40, 40, 39, 40, 40, 39, 40]
