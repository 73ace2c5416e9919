"""Channels side by side on a synthetic run, and the calibration entry point for any table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.channels import CHANNELS, channel_scores, channels
from workbench.analyses.tables import calibration_table
from workbench.errors import WorkbenchError
from workbench.store.sampled import SAMPLING_CHANNELS

BASE = [c for c in CHANNELS if c not in SAMPLING_CHANNELS]  # the channels of a run without `workbench sample`


def test_channel_scores_are_probabilities(synthetic_run, synthetic_probes):
    scores = channel_scores(synthetic_run, probes=synthetic_probes)
    assert list(scores.columns[-len(BASE):]) == BASE
    values = scores[BASE]
    assert ((values >= 0) & (values <= 1) | values.isna()).all().all()
    assert scores["verbal"].isna().sum() == 18  # every 7th verbal text is unparsed in the synthetic run
    records = synthetic_run.records
    np.testing.assert_allclose(scores["softmax_expected"], records["softmax_expected"] / 100)


def test_channels_table_side_by_side(synthetic_run, synthetic_probes):
    result = channels(synthetic_run, probes=synthetic_probes, n_boot=200)
    table = result["channels"].set_index("channel")
    assert list(table.index)[:len(BASE)] == BASE  # raw channels first, recalibrated after
    assert table.loc["verbal", "n_missing"] == 18 and table.loc["verbal", "n"] == 102
    assert table.loc["softmax_expected", "auroc"] > table.loc["argmax", "auroc"]  # the planted bottleneck
    assert "layer 2" in table.loc["probe", "note"]
    assert set(result["validity"]["channel"]) == set(BASE)
    assert (result.path / "manifest.json").exists() and result.manifest["probe_channel"]["layer"] == 2


def test_channels_without_probes_state_the_skip(synthetic_run):
    table = channels(synthetic_run, n_boot=50)["channels"].set_index("channel")
    assert "skipped: no probes result" in table.loc["probe", "note"]


def test_one_class_run_reports_calibration_and_states_auroc(one_class_run):
    table = channels(one_class_run, n_boot=50)["channels"].set_index("channel")
    assert np.isnan(table.loc["softmax_expected", "auroc"])
    assert "all 40 answers are incorrect" in table.loc["softmax_expected", "note"]
    assert np.isfinite(table.loc["softmax_expected", "ece"])


def test_calibration_table_for_any_table():
    frame = pd.DataFrame({"pct": [90, 80, 30, 10, np.nan, 60], "ok": [1, 1, 0, 0, 1, 0], "src": list("aaabbb")})
    table = calibration_table(frame, "pct", "ok", scale=100, n_boot=50)
    assert table.loc[0, "n"] == 5 and table.loc[0, "n_missing"] == 1
    assert table.loc[0, "brier"] == pytest.approx(np.mean([0.01, 0.04, 0.09, 0.01, 0.36]))
    assert "only 2 of one class: intervals are rough" in table.loc[0, "note"]
    by = calibration_table(frame, "pct", "ok", by="src", scale=100, n_boot=50)
    assert list(by["src"]) == ["a", "b"]
    with pytest.raises(WorkbenchError, match="divide a 0-100"):
        calibration_table(frame, "pct", "ok")
