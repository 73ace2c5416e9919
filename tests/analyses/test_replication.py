"""Replication across seeds: histogram distances and the per-layer table from a multi-seed probes result."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.replication import histogram_distance, replication
from workbench.errors import WorkbenchError


def test_histogram_distance():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.2, 0.4, 500)
    assert histogram_distance(a, a) == 0
    assert histogram_distance(a, a + 0.3) == pytest.approx(0.3, abs=0.02)  # a shift moves mass by the shift


def test_replication_from_probes(synthetic_run, synthetic_probes):
    table = replication(synthetic_run, synthetic_probes)["layers"].set_index(["role", "layer", "probe"])
    planted = table.loc[("confidence_slot", 2, "logistic")]
    assert planted["seeds"] == 2 and planted["auroc_min"] <= planted["auroc_mean"] <= planted["auroc_max"]
    assert planted["auroc_sd"] < 0.1 and (table["shape_w1_mean"] >= 0).all()


def test_one_seed_is_a_clear_error(synthetic_run, tmp_path):
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.synthetic import make_run

    run = make_run(tmp_path / "r", n=60)
    single = probe_layers(run, "confidence_slot", [2], probes="diffmeans", n_boot=20)
    with pytest.raises(WorkbenchError, match="1 seed"):
        replication(run, single)
    with pytest.raises(WorkbenchError, match="another run"):
        replication(synthetic_run, single)
