"""On SmolLM2: ``model.confidence`` of a run's prompt ids is the run's ``softmax_expected``, and a patched
``model.confidence`` equals what the patching analysis stored for the same patch (1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.patching.runner import run_patching
from workbench.store.columns import undocumented

LAYERS = (3, 15, 28)


def test_confidence_of_prompt_ids_equals_the_collected_readout(smollm2, smollm2_run):
    ids = [smollm2_run.prompt_ids(i) for i in range(4)]
    width = max(map(len, ids))
    conf = smollm2.confidence([[0] * (width - len(r)) + r for r in ids],
                              attention_mask=[[0] * (width - len(r)) + [1] * len(r) for r in ids])
    records = smollm2_run.records.iloc[:4]
    assert np.abs(conf.expected - records["softmax_expected"].to_numpy()).max() < 1e-3  # on 0-100
    assert conf.argmax.tolist() == records["argmax_confidence"].tolist()
    assert np.abs(conf.probs - np.stack(records["confidence_probs"])).max() < 1e-5


@pytest.mark.parametrize("method", ["reference", "fast"])
def test_patched_confidence_equals_the_patching_result(smollm2, smollm2_run, tmp_path, method):
    import shutil

    run = wb.open_run(shutil.copytree(smollm2_run.path, tmp_path / "run"))
    result = run_patching(run, model=smollm2, pairs="random", n_pairs=2, blocks=LAYERS, controls=(),
                          attribution=False, method=method, figures=False)
    assert undocumented(result.analysis, result.tables) == []
    effects = result["effects"]
    assert (effects["method"] == method).all()
    for row in effects.itertuples():
        patch = wb.Patch.from_run(run, row.source_id, run, row.target_id, layer=row.layer)
        conf = smollm2.confidence(run.prompt_ids(row.target_id), vocabulary=run.vocabulary, patches=[patch])
        tolerance = 1e-6 if method == "reference" else 1e-5  # the fast path is exact to float32 noise
        assert np.abs(conf.probs[0] - row.patched_probs).max() <= tolerance
        assert abs(conf.expected[0] / 100 - row.patched_expected) <= tolerance * 100
    assert np.abs(effects["shift"]).max() > 1e-4  # the patches move the read-out: agreement is not vacuous
    summary = result.summary
    assert isinstance(summary, wb.PatchSummary) and summary.n_layers_patched == len(LAYERS) and summary.n_pairs == 2
    assert summary.rho == result["gradient_summary"].iloc[0]["rho"]
