"""Integration on the real SmolLM2 run (24 items). The tiny model is often wrong on every item, so each test
checks what holds either way: with both classes, shapes, ranges and saved files; with one, the clear error."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.logit_lens import lens_scores
from workbench.analyses.probe_layers import probe_layers, probe_weights_path
from workbench.analyses.probe_weights import load_probe
from workbench.analyses.summary import demo_report
from workbench.errors import WorkbenchError



def two_classes(run) -> bool:
    correct = run.records["correct"]
    return 0 < correct.sum() < len(correct)


def test_logit_lens_last_layer_is_the_model_output(smollm2_run, smollm2):
    """The lens at the final read-out reproduces the run's exact softmax expected value (whatever the labels)."""
    last = len(smollm2_run.readouts) - 1
    scores = lens_scores(smollm2_run, smollm2, layers=[0, last])
    final = scores[scores["layer"] == last]
    np.testing.assert_allclose(final["expected"], smollm2_run.records["softmax_expected"], atol=1e-2)
    assert final["first_token_mass"].between(0.5, 1.0 + 1e-6).all()  # the output puts its mass on confidence digits
    assert scores.loc[scores["layer"] == 0, "expected"].between(0, 100).all()


def test_probes_on_the_real_run(smollm2_run):
    layers = [0, smollm2_run.n_blocks // 2, smollm2_run.n_blocks]
    if not two_classes(smollm2_run):
        with pytest.raises(WorkbenchError, match="needs both correct and incorrect answers"):
            probe_layers(smollm2_run, "confidence_slot", layers, folds=2)
        return
    n_minor = int(min(smollm2_run.records["correct"].sum(), (~smollm2_run.records["correct"]).sum()))
    try:
        result = probe_layers(smollm2_run, "confidence_slot", layers, folds=min(3, n_minor), n_boot=100)
    except WorkbenchError as error:  # too few of the smaller class for even 2 folds
        assert "too few examples" in str(error)
        return
    table = result["layers"]
    assert len(table) == 3 * 2 and table["auroc"].between(0, 1).all()
    probe = load_probe(probe_weights_path(smollm2_run.path, "confidence_slot", layers[1]))
    probe.check_compatible(checksum=smollm2_run.manifest["model"]["checksum"], d_model=smollm2_run.d_model)
    assert probe.weight.shape == (smollm2_run.d_model,)


def test_channels_and_bottleneck_on_the_real_run(smollm2_run, smollm2):
    table = channels(smollm2_run, n_boot=100)["channels"].set_index("channel")
    assert table.loc["softmax_expected", "ece"] == pytest.approx(
        table.loc["softmax_expected", "ece"])  # finite either way
    if two_classes(smollm2_run):
        assert table.loc["softmax_expected", "auroc"] >= 0
        summary = bottleneck(smollm2_run, n_boot=200, loaded=smollm2, lens_layers=[0, 15, 30])["summary"].iloc[0]
        assert summary["verdict"] in ("bottleneck", "reverse", "inconclusive", "too few examples")
        assert summary["lens_peak_layer"] in (0, 15, 30)
    else:
        assert "answers are" in table.loc["softmax_expected", "note"]
        with pytest.raises(WorkbenchError, match="needs both correct and incorrect"):
            bottleneck(smollm2_run, loaded=smollm2)


def test_demo_report_on_the_real_run(smollm2_run, smollm2):
    text = demo_report(smollm2_run, loaded=smollm2, logit_lens=False)
    assert "confidence channels:" in text and "softmax_expected" in text
    if two_classes(smollm2_run):
        assert "text bottleneck:" in text
    else:
        assert "probes: skipped:" in text and "text bottleneck: skipped:" in text
    assert (smollm2_run.path / "figures" / "calibrate.html").exists()
