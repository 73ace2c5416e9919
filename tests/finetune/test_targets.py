"""Fast unit tests of the fine-tuning targets, batching, configs and bad-input checks (no model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.analyses.probe_weights import save_probe
from workbench.analyses.synthetic import make_run
from workbench.errors import WorkbenchError
from workbench.finetune.data import batch_indices, check_classes, subset_run
from workbench.finetune.loss import tree_batch
from workbench.finetune.targets import parse_probe_spec, resolve_probe, target_distribution, target_probabilities
from workbench.finetune.train import FinetuneConfig, train
from workbench.prompts import get_vocabulary
from workbench.token_tree import common_prefix

PERCENT = get_vocabulary("percent")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("ft") / "run", n=40, accuracy=0.4)


def _probe(path, run, **overrides):
    meta = {"model_checksum": run.manifest["model"]["checksum"], "model_name": "synthetic",
            "hook": run.readouts[2], "layer": 2, "role": "confidence_slot", "n_readouts": len(run.readouts),
            "d_model": run.d_model, **overrides}
    weight = np.zeros(meta["d_model"])
    weight[0] = 2.0  # the planted direction
    return save_probe(path, weight, 0.0, meta)


@pytest.mark.parametrize(("p", "pull"), [(0.0, 4.0), (0.137, 4.0), (0.5, 0.01), (0.73, 0.01), (1.0, 4.0)])
def test_gaussian_target_is_a_distribution_peaked_at_the_nearest_value(p, pull):
    """Inside (0.2, 0.8) the mean is 100 p; nearer the ends the truncation pulls it inwards by at most 0.8 x width."""
    target = target_distribution([p], PERCENT, width=5.0)[0]
    assert target.shape == (101,) and np.isclose(target.sum(), 1.0) and (target >= 0).all()
    assert int(target.argmax()) == int(round(100 * p))
    assert abs(target @ np.asarray(PERCENT.values) - 100 * p) <= pull + 1e-6


def test_width_zero_is_one_hot_and_width_orders_entropy():
    one_hot = target_distribution([0.42, 0.005], PERCENT, width=0)
    assert one_hot.sum(1).tolist() == [1.0, 1.0] and one_hot[0, 42] == 1.0 and one_hot[1, 0] == 1.0
    entropy = [float(-(t * np.log(np.clip(t, 1e-30, None))).sum())
               for t in (target_distribution([0.5], PERCENT, width=w)[0] for w in (1.0, 5.0, 15.0))]
    assert entropy[0] < entropy[1] < entropy[2]


def test_digits_vocabulary_target_uses_its_values():
    digits = get_vocabulary("digits")  # values 0, 11.1, ..., 100
    assert int(target_distribution([0.35], digits, width=0)[0].argmax()) == 3


@pytest.mark.parametrize("p, width", [([1.2], 5.0), ([np.nan], 5.0), ([0.5], -1.0)])
def test_bad_target_inputs_are_refused(p, width):
    with pytest.raises(WorkbenchError):
        target_distribution(p, PERCENT, width=width)


def test_probe_spec_parsing():
    assert parse_probe_spec("18/confidence_slot") == (18, "confidence_slot")
    for bad in ("18", "x/confidence_slot", "/confidence_slot"):
        with pytest.raises(WorkbenchError, match="LAYER/ROLE"):
            parse_probe_spec(bad)


def test_probe_targets_follow_the_planted_signal(run, tmp_path):
    probe = resolve_probe(run, _probe(tmp_path / "p", run))
    p = target_probabilities(run, "probe", probe=probe)
    correct = run.records["correct"].to_numpy()
    assert p.shape == (40,) and p[correct].mean() > p[~correct].mean() + 0.2
    assert target_probabilities(run, "correctness").tolist() == correct.astype(float).tolist()
    assert np.allclose(target_probabilities(run, "constant"), correct.mean())


@pytest.mark.parametrize("overrides, message", [
    ({"model_checksum": "sha256:another"}, "fitted on model"),
    ({"n_readouts": 31}, "residual read-outs"),
    ({"d_model": 576}, "d_model"),
])
def test_probe_from_another_model_or_layer_count_is_refused(run, tmp_path, overrides, message):
    with pytest.raises(WorkbenchError, match=message):
        resolve_probe(run, _probe(tmp_path / "p", run, **overrides))


def test_probe_by_layer_role_needs_a_stored_probe_and_role(run):
    with pytest.raises(WorkbenchError, match="no saved probe"):
        resolve_probe(run, "2/confidence_slot")
    with pytest.raises(WorkbenchError, match="not stored"):
        resolve_probe(run, "2/confidence_slott")


def test_too_few_of_one_class_is_refused(run, tmp_path):
    check_classes([True, False, True, False], 2)
    with pytest.raises(WorkbenchError, match="too few correct"):
        check_classes([True] + [False] * 9, 2)
    correct_ids = run.records.loc[run.records["correct"], "example_id"].tolist()
    wrong_ids = run.records.loc[~run.records["correct"], "example_id"].tolist()
    few = subset_run(run, correct_ids[:2] + wrong_ids[:6], tmp_path / "few")
    assert few.n_examples == 8 and int(few.records["correct"].sum()) == 2
    with pytest.raises(WorkbenchError, match="too few correct answers"):  # refused before any model is loaded
        train(few, FinetuneConfig(target="correctness", min_per_class=5), tmp_path / "out")


def test_batches_are_a_pure_function_of_seed_and_step_and_cover_each_epoch():
    n, size = 10, 4
    first_epoch = np.concatenate([batch_indices(n, size, 3, s) for s in range(5)])[:n]
    assert sorted(first_epoch.tolist()) == list(range(n))
    assert batch_indices(n, size, 3, 7).tolist() == batch_indices(n, size, 3, 7).tolist()
    assert batch_indices(n, size, 3, 0).tolist() != batch_indices(n, size, 4, 0).tolist()


def test_config_validation_and_round_trip():
    config = FinetuneConfig(probe="18/confidence_slot", rank=4, target_modules=("q_proj", "k_proj"))
    assert FinetuneConfig.from_dict(config.to_dict()) == config
    assert "device" not in config.content() and config.name == "probe"
    assert FinetuneConfig(objective="answer", target="constant").name == "standard"
    with pytest.raises(WorkbenchError, match="--probe"):
        FinetuneConfig(target="probe")
    with pytest.raises(WorkbenchError, match="Did you mean 'correctness'"):
        FinetuneConfig(target="corectness")
    with pytest.raises(WorkbenchError, match="rank"):
        FinetuneConfig(target="constant", rank=0)


def test_tree_batch_shares_the_prefix_and_masks_the_tree():
    class Trie:  # nodes "1" and "1","0" (as for "10"/"100"), parents -1 and 0
        nodes, parents = ((5,), (5, 6)), (-1, 0)

    rows = [[9, 9, 9, 1, 2], [9, 9, 9, 3]]
    assert common_prefix(rows, 10) == 3 and common_prefix(rows, 2) == 2
    batch = tree_batch(rows, Trie(), pad_id=0)
    assert batch.offset == 3 and batch.ids.tolist() == [[1, 2, 5, 6], [3, 5, 6, 0]]
    assert batch.position_ids.tolist() == [[3, 4, 5, 6], [3, 4, 5, 0]]
    keep = batch.mask[:, 0] == 0  # [batch, query, prefix + width]
    assert keep[0, 2].tolist() == [True, True, True, True, True, True, False]  # node "1": prompt + itself
    assert keep[0, 3].tolist() == [True] * 7  # node "10": prompt, its parent, itself
    assert keep[1, 1].tolist() == [True, True, True, True, True, False, False]  # row 2's node "1" skips nothing
    assert keep[1, 3].tolist() == [True, True, True, False, False, False, True]  # padding: prefix and itself
    assert torch.isfinite(batch.mask).all()


def test_a_probe_layer_the_run_does_not_have_is_named(run, tmp_path, capsys):
    with pytest.raises(WorkbenchError, match=r"read-out 999 out of range: there are 4 read-outs in run .* \(0..3"):
        resolve_probe(run, "999/confidence_slot")
    from workbench.cli import main

    assert main(["finetune", str(run.path), "--probe", "999/confidence_slot", "--out", str(tmp_path / "ft")]) == 2
    err = capsys.readouterr().err
    assert "read-out 999 out of range" in err and "run probe" not in err


def test_an_out_inside_a_file_is_refused_before_training(run, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkbenchError, match="is inside the file"):
        train(run, FinetuneConfig(target="correctness", min_per_class=1), tmp_path / "file" / "out")
