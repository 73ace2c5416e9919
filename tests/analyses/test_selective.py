"""AURC and PRR against a direct port of LM-Polygraph's formulas, with ties averaged by enumeration."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from workbench.analyses import calibration as cal
from workbench.analyses.selective import aurc, prr, risk_coverage


def polygraph_pra(uncertainty, target):
    """LM-Polygraph's PredictionRejectionArea(max_rejection=1) on a 0/1 target (written out independently)."""
    uncertainty, target = np.asarray(uncertainty, dtype=float), np.asarray(target, dtype=float)
    n = len(target)
    ranked = target[np.argsort(uncertainty, kind="stable")]
    return float(np.sum((np.cumsum(ranked) / np.arange(1, n + 1))[::-1]) / n)


def polygraph_rcc(uncertainty, target):
    """LM-Polygraph's RiskCoverageCurveAUC(normalize=True) on a 0/1 target."""
    pairs = sorted(zip(uncertainty, 1 - np.asarray(target, dtype=float)), key=lambda p: p[0])
    risk = np.cumsum([r for _, r in pairs])
    return float(np.mean(risk / np.arange(1, len(pairs) + 1)))


def polygraph_prr(confidence, correct, shuffles=0, seed=42):
    target = np.asarray(correct, dtype=float)
    value, oracle = polygraph_pra(-np.asarray(confidence), target), polygraph_pra(-target, target)
    if shuffles:
        rng = np.random.default_rng(seed)
        random = np.mean([polygraph_pra(rng.permutation(len(target)), target) for _ in range(shuffles)])
    else:
        random = target.mean()
    return (value - random) / (oracle - random)


def distinct(n=60, seed=0):
    rng = np.random.default_rng(seed)
    conf = rng.permutation(n) / n + rng.uniform(0, 1e-3, n)
    correct = rng.uniform(size=n) < conf
    return conf, correct


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distinct_confidences_match_lm_polygraph(seed):
    conf, correct = distinct(seed=seed)
    assert aurc(conf, correct) == pytest.approx(polygraph_rcc(-conf, correct), abs=1e-12)
    assert aurc(conf, correct) == pytest.approx(1 - polygraph_pra(-conf, correct), abs=1e-12)
    assert prr(conf, correct) == pytest.approx(polygraph_prr(conf, correct), abs=1e-12)


def test_random_baseline_is_the_accuracy():
    """LM-Polygraph estimates the random area by shuffling; its expectation is the accuracy we use."""
    conf, correct = distinct(n=40, seed=3)
    assert polygraph_prr(conf, correct, shuffles=3000) == pytest.approx(prr(conf, correct), abs=0.02)


def test_ties_are_averaged_over_their_orders():
    conf = np.array([0.9, 0.9, 0.9, 0.5, 0.5, 0.2])
    correct = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    orders = list(permutations(range(len(conf))))
    areas, prrs = [], []
    for order in orders:  # every tie-breaking order, each equally likely
        order = np.array(order)
        rank = np.lexsort((order, -conf))  # sort by confidence, ties by this order
        areas.append(polygraph_rcc(np.arange(len(conf)), correct[rank]))
        prrs.append(polygraph_prr(-np.arange(len(conf), dtype=float), correct[rank]))
    assert aurc(conf, correct) == pytest.approx(np.mean(areas), abs=1e-12)
    assert prr(conf, correct) == pytest.approx(np.mean(prrs), abs=1e-12)


def test_oracle_random_and_reversed():
    correct = np.array([1, 1, 1, 0, 0, 0, 0, 1], dtype=bool)
    assert prr(correct.astype(float), correct) == pytest.approx(1.0)
    assert prr(np.full(8, 0.7), correct) == pytest.approx(0.0)
    assert prr(1 - correct.astype(float), correct) < 0
    curve = risk_coverage(correct.astype(float), correct)
    assert curve["risk"].iloc[:4].eq(0).all() and curve["risk"].iloc[-1] == pytest.approx(0.5)


def test_undefined_cases_say_why():
    one_class = cal.summarize([0.2, 0.4, 0.9], [True, True, True], n_boot=20).set_index("metric")
    assert np.isnan(one_class.loc["prr", "value"]) and "all 3 answers are correct" in one_class.loc["prr", "note"]
    assert one_class.loc["aurc", "value"] == 0.0
    constant = cal.summarize([0.95] * 6, [True, False, True, True, False, True], n_boot=20).set_index("metric")
    for metric in ("auroc", "auprc", "prr"):
        assert np.isnan(constant.loc[metric, "value"]) and "constant" in constant.loc[metric, "note"]
    assert constant.loc["ece_mass", "value"] == pytest.approx(abs(0.95 - 4 / 6))
    assert constant.loc["aurc", "value"] == pytest.approx(2 / 6)
