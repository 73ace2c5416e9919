"""The logit lens reads the run's checkpoint's head alone (no model load) and gives the loaded model's numbers."""

from __future__ import annotations

import numpy as np

from workbench.analyses.logit_lens import lens_scores


def test_lens_from_the_head_alone_equals_the_loaded_model(smollm2_run, smollm2):
    n = len(smollm2_run.readouts)
    layers = [0, n // 2, n - 1]
    alone = lens_scores(smollm2_run, layers=layers)
    loaded = lens_scores(smollm2_run, smollm2, layers=layers)
    assert alone[["example_id", "layer"]].equals(loaded[["example_id", "layer"]])
    assert np.abs(alone["expected"] - loaded["expected"]).max() <= 1e-4
    assert np.abs(alone["first_token_mass"] - loaded["first_token_mass"]).max() <= 1e-6
    assert alone["expected"].notna().all()
