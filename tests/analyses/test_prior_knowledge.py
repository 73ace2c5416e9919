"""Known vs unknown items: the split, per-split calibration, the overconfidence contrast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.prior_knowledge import DEFAULT_THRESHOLD, knowledge_split, prior_knowledge, prior_knowledge_tables
from workbench.errors import WorkbenchError


def test_split_threshold():
    assert knowledge_split([0.2, 0.5, 0.51]).tolist() == ["unknown", "unknown", "known"]
    assert DEFAULT_THRESHOLD == 0.5
    with pytest.raises(WorkbenchError, match="threshold"):
        knowledge_split([0.2], threshold=50)


def test_known_items_overconfident_contrast():
    rng = np.random.default_rng(0)
    n = 400
    gold = rng.uniform(size=n)
    known = gold > 0.5
    correct = np.where(known, rng.uniform(size=n) < 0.6, rng.uniform(size=n) < 0.2)
    conf = np.where(known, 0.95, 0.2)  # known: says 95% at 60% accuracy (+0.35); unknown: calibrated
    tables = prior_knowledge_tables(pd.DataFrame({"c": conf, "correct": correct, "gold_prob": gold}), "c", n_boot=300)
    contrast = tables["contrast"].iloc[0]
    assert contrast["difference"] == pytest.approx(0.95 - correct[known].mean() - (0.2 - correct[~known].mean()))
    assert contrast["low"] > 0.2
    splits = tables["splits"].set_index("split")
    assert splits.loc["known", "overconfidence"] > splits.loc["unknown", "overconfidence"]


def test_empty_split_is_stated():
    frame = pd.DataFrame({"c": [0.2, 0.8, 0.5], "correct": [0, 1, 0], "gold_prob": [0.01, 0.2, 0.3]})
    tables = prior_knowledge_tables(frame, "c", n_boot=20)
    known = tables["splits"].set_index("split").loc["known"]
    assert known["n"] == 0 and "no known items" in known["note"]
    assert "skipped" in tables["contrast"].iloc[0]["note"]


def test_run_level_result(synthetic_run, synthetic_probes):
    result = prior_knowledge(synthetic_run, probes=synthetic_probes, n_boot=100)
    assert set(result["splits"]["split"]) == {"known", "unknown"}
    assert set(result["contrast"]["channel"]) >= {"softmax_expected", "probe"}
    assert result.config["threshold"] == 0.5
