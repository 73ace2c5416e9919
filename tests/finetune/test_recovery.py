"""Claim 7's fine-tuning step (``workbench.finetune.recovery``) end to end on a tiny random llama: held-out items,
the targeted probe, two training steps, the tuned model's run, the stored table; resumed; refused early."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses import claims as c
from workbench.analyses.probe_layers import probe_layers
from workbench.backends import load_model
from workbench.collect import collect
from workbench.errors import WorkbenchError
from workbench.finetune.recovery import RECOVERY_COLUMNS, probe_recovery
from workbench.finetune.seed_crossmodel import POSITIONS, control_block, crossmodel_stage


@pytest.fixture(scope="module")
def study_run(tiny_checkpoint, tmp_path_factory, correct_copy):
    """24 capitals items collected on the tiny model, ten of them marked correct (it gets none right itself)."""
    root = tmp_path_factory.mktemp("recovery")
    model = load_model(str(tiny_checkpoint), device="cpu", progress=False)
    raw = collect(out=root / "raw", loaded=model, model=str(tiny_checkpoint), dataset="capitals", limit=24,
                  max_answer_tokens=2, batch_size=12, progress=False)
    run = correct_copy(raw, root / "run", list(range(0, 24, 2))[:10])
    probes = probe_layers(run, "confidence_slot", folds=3, probes=("logistic",), n_boot=20, save_weights=False)
    return run, probes


@pytest.fixture(scope="module")
def recovered(study_run, tmp_path_factory):
    run, probes = study_run
    out = tmp_path_factory.mktemp("recovered") / "finetune"
    result = probe_recovery(run, probes, out, dataset="capitals", n_items=20, steps=2, seed=0,
                            progress=False)
    return out, result


def test_held_out_items_are_scored_before_and_after_and_stored(study_run, recovered):
    run, probes = study_run
    out, result = recovered
    items = result["items"]
    assert list(items.columns) == list(RECOVERY_COLUMNS) and len(items) == 20
    assert not set(items["item_id"]) & set(run.records["item_id"])  # held out: never trained on
    assert items["probe_before"].between(0, 1).all()
    layers = probes["layers"]
    assert result.manifest["layer"] == int(layers.loc[layers["auroc"].idxmax(), "layer"])  # chosen on training items
    assert result.manifest["seconds"] > 0 and result.manifest["config"]["steps"] == 2
    assert result.manifest["model"]["checksum"] == run.manifest["model"]["checksum"]
    assert (out / "weights" / "confidence_slot" / f"logistic-layer{result.manifest['layer']:02d}.safetensors").exists()
    adapter = out / "tuning"
    assert (adapter / "finetune.json").exists() and (adapter / "merged").exists()  # kept for cross-model patching
    # the random model says no parseable confidence: the claim says so instead of giving a number
    assert items["verbal_after"].isna().all() and not items["correct_before"].any()
    measure = c.probe_recovery(c.Evidence("tiny", finetune=items))
    assert measure.blocked == "0 of 20 held-out verbal confidences parsed after fine-tuning: too few"


def test_a_second_call_reads_the_stored_result_back(study_run, recovered):
    run, probes = study_run
    out, first = recovered
    again = probe_recovery(run, probes, out, dataset="capitals", n_items=20, steps=2, seed=0,
                           progress=False)
    assert again.path == first.path and again.manifest["seconds"] == first.manifest["seconds"]
    assert np.array_equal(again["items"]["probe_before"], first["items"]["probe_before"])


def test_too_few_correct_training_answers_is_refused_before_any_collect(study_run, correct_copy, tmp_path):
    run, probes = study_run
    few = correct_copy(run, tmp_path / "few", [0, 2])
    with pytest.raises(WorkbenchError, match="too few correct answers in the training run"):
        probe_recovery(few, probes, tmp_path / "ft", dataset="capitals", n_items=20, steps=2, progress=False)
    assert not (tmp_path / "ft" / "heldout-base").exists()


def test_the_seeds_cross_model_patching_runs_on_the_tuned_model_and_deletes_its_merged_weights(recovered):
    out, _ = recovered
    result = crossmodel_stage(out, progress=False)
    effects, controls = result["crossmodel_effects"], result["crossmodel_controls"]
    assert not (out / "tuning" / "merged").exists()  # deleted once stored
    n_blocks = int(effects["layer"].max()) + 1
    assert len(effects) == 20 * n_blocks * len(POSITIONS) and set(effects["position"]) == set(POSITIONS)
    assert len(controls) == 20 * 2 * len(POSITIONS) and set(controls["layer"]) == {control_block(n_blocks)}
    for position, rows in effects.groupby("position"):
        last = rows[rows["layer"] == n_blocks - 1]  # the last block's output replaced: the tuned read-out itself
        assert np.allclose(last["patched"], last["tuned"], atol=1e-5), position
        assert not np.allclose(rows["base"], rows["tuned"])  # two steps of training moved the read-out
    pre = effects[effects["position"] == "pre_answer"]["next_token_unchanged"]
    assert pre.isin([0.0, 1.0]).all()  # the seed's answer check applies at the last prompt token only
    assert effects[effects["position"] == "confidence_slot"]["next_token_unchanged"].isna().all()
    again = crossmodel_stage(out, progress=False)  # read back, not recomputed (the merged weights stay deleted)
    assert again.path == result.path and not (out / "tuning" / "merged").exists()
