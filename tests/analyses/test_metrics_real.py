"""The new calibration metrics, recalibrated channels and flex grading on the real SmolLM2 (slow)."""

from __future__ import annotations

import numpy as np

from workbench.datasets import is_correct


def test_calibrate_on_a_real_run_prints_every_metric_and_recalibrated_channel(smollm2_run, capsys):
    from workbench.analyses.channels import channels
    from workbench.analyses.summary import format_channels

    result = channels(smollm2_run, n_boot=200)
    table = result["channels"].set_index("channel")
    assert result.manifest["grading"] == "exact"
    for name in ("verbal", "softmax_expected", "softmax_expected+platt", "verbal+isotonic", "softmax+temperature"):
        assert name in table.index
    defined = table[table["n"] > 0]
    for metric in ("ece_mass", "smece", "aurc"):  # calibration metrics are defined whatever the classes
        assert defined[metric].between(0, 1).all()
    undefined = defined["prr"].isna()
    assert defined.loc[undefined, "note"].str.contains("undefined").all()  # NaN only with its reason
    text = format_channels(result["channels"])
    assert "smECE [95% CI]" in text and "PRR [95% CI]" in text and "softmax+temperature" in text
    assert "nan" not in text.lower()


def test_flex_collect_records_its_grading(smollm2, smollm2_run, tmp_path):
    from workbench.collect import collect

    run = collect(out=tmp_path / "flex", loaded=smollm2, limit=8, seed=0, batch_size=8, progress=False,
                  grading="flex")
    assert run.manifest["config"]["grading"] == "flex"
    from workbench.datasets import load_dataset

    items = load_dataset("all", limit=8, seed=0)  # the items collect used, in its order
    records = run.records
    assert records["item_id"].tolist() == [item.item_id for item in items]
    base = smollm2_run.records.set_index("item_id")
    for item, row in zip(items, records.to_dict("records")):
        assert row["correct"] == is_correct(row["answer"], item, "flex")
        if row["correct"] != is_correct(row["answer"], item, "exact"):
            assert row["correct"]  # flex only ever adds matches
        if item.item_id in base.index and base.loc[item.item_id, "answer"] == row["answer"]:
            assert row["correct"] >= bool(base.loc[item.item_id, "correct"])
