"""The validity screen: the study's definitions on hand-computed cases, presets, bad input, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.analyses.validity import PRESETS, TIERS, ValidityThresholds, decile_bins, screen, screen_table
from workbench.errors import WorkbenchError


def test_definitions_on_a_hand_computed_case():
    conf = np.array([100, 100, 96, 95, 50, 40, 30, 5, 0, 72])
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 1])
    out = screen(conf, correct)
    assert out["ceiling_rate"] == pytest.approx(0.4)  # 100, 100, 96, 95
    assert out["floor_rate"] == pytest.approx(0.2)  # 5, 0
    # bins: 10, 10, 9, 9, 5, 4, 3, 0, 0, 7 -> 7 distinct of 11; modal bins hold 2 of 10
    assert out["sparsity"] == pytest.approx(1 - 7 / 11)
    assert out["trin"] == pytest.approx(0.2)
    assert out["r"] == pytest.approx(np.corrcoef(conf, correct)[0, 1])
    assert out["tier"] == "Indeterminate" and "L=0.40" in out["reasons"]  # L >= 0.40 (inclusive)


def test_decile_bins():
    assert decile_bins(np.array([0, 9.99, 10, 30, 99.99, 100])).tolist() == [0, 0, 1, 3, 9, 10]


def test_tiers_and_presets():
    rng = np.random.default_rng(0)
    correct = rng.uniform(size=200) < 0.5
    spread = np.clip(np.where(correct, 70, 30) + rng.normal(0, 12, 200), 0, 94)
    assert screen(spread, correct)["tier"] == "Valid"
    ceiling = np.where(np.arange(200) < 160, 100.0, spread)  # L = 0.80
    assert screen(ceiling, correct)["tier"] == "Invalid"
    strict = screen(ceiling, correct, thresholds="strict")
    assert strict["tier"] == "Indeterminate"  # strict needs L > 0.90 for Invalid, and 0.80 > 0.40 still flags it


def test_boundaries_follow_inclusive_flag():
    conf = np.array([100.0] * 7 + [20.0, 50.0, 70.0])  # L = 0.70 exactly
    correct = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 1])
    assert screen(conf, correct)["tier"] == "Invalid"
    assert screen(conf, correct, thresholds=ValidityThresholds(inclusive=False))["tier"] == "Indeterminate"


def test_r_below_threshold_is_invalid():
    conf = np.array([20.0, 40, 60, 80] * 25)
    correct = np.array([1, 0, 0, 1] * 25)  # r = 0 exactly
    out = screen(conf, correct)
    assert out["tier"] == "Invalid" and "|r|" in out["reasons"]


def test_one_class_and_missing_are_stated():
    out = screen(np.array([10.0, 50, np.nan, 80]), np.array([0, 0, 0, 0]))
    assert out["n"] == 3 and out["n_missing"] == 1
    assert out["tier"] == "Undefined" and "one class" in out["reasons"]
    assert screen(np.array([np.nan, np.nan]), np.array([0, 1]))["tier"] == "Undefined"


def test_bad_input_is_a_clear_error():
    with pytest.raises(WorkbenchError, match="scale=1"):
        screen(np.array([0.2, 140.0]), np.array([0, 1]))
    with pytest.raises(WorkbenchError, match="preset"):
        screen(np.array([20.0]), np.array([1]), thresholds="lenient")
    with pytest.raises(WorkbenchError, match="in \\[0, 1\\]"):
        ValidityThresholds(invalid_ceiling=70)


def test_screen_any_table_by_group():
    frame = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "p": [0.9, 0.8, 0.2, 0.1, 1, 1, 1, 1],
                          "ok": [1, 1, 0, 0, 1, 0, 1, 0]})
    table = screen_table(frame, "p", "ok", by="model", scale=1.0).set_index("model")
    assert table.loc["a", "tier"] == "Valid"
    assert table.loc["b", "tier"] == "Invalid" and table.loc["b", "trin"] == 1.0
    with pytest.raises(WorkbenchError, match="no column"):
        screen_table(frame, "confidence", "ok")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.booleans()), min_size=1, max_size=80), st.sampled_from(sorted(PRESETS)),
       st.randoms(use_true_random=False))
def test_screen_invariants(pairs, preset, random):
    conf = np.array([p[0] for p in pairs])
    correct = np.array([p[1] for p in pairs])
    out = screen(conf, correct, thresholds=preset)
    assert out["tier"] in TIERS
    for key in ("ceiling_rate", "floor_rate", "sparsity", "trin"):
        assert 0 <= out[key] <= 1
    assert out["trin"] >= 1 / 11 - 1e-12
    order = np.array(random.sample(range(len(conf)), len(conf)))
    shuffled = screen(conf[order], correct[order], thresholds=preset)
    assert shuffled["tier"] == out["tier"] and shuffled["trin"] == out["trin"]
