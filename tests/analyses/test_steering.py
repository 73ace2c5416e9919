"""Steering on a tiny random llama: the read-out is collect's, steered read-outs are exact, the result is
complete, resumable and refuses bad input with one clear error each."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.analyses.steering import SteerConfig, steer
from workbench.analyses.steering.mechanics import SlotSteerer
from workbench.backends import Patch, load_model
from workbench.cli import main
from workbench.collect import collect
from workbench.errors import WorkbenchError
from workbench.figures.steering import SteeringDoseDisplay
from workbench.store import open_run
from workbench.store.columns import undocumented
from workbench.store.results import open_result

FAST = dict(alphas=(-2.0, 0.0, 2.0), n_random=2, n_boot=50, batch_size=4)


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), backend="transformer_lens", device="cpu")


@pytest.fixture(scope="module")
def tiny_run(tiny, tiny_checkpoint, tmp_path_factory, correct_copy):
    run = collect(out=tmp_path_factory.mktemp("steer") / "raw", loaded=tiny, model=str(tiny_checkpoint), limit=10,
                  max_answer_tokens=3, batch_size=5, progress=False)
    return correct_copy(run, run.path.parent / "run", [0, 2, 3, 7, 8])  # a random model is never right


@pytest.fixture
def fresh(tiny_run, tmp_path):
    """A private copy of the run, so each test writes its own results."""
    shutil.copytree(tiny_run.path, tmp_path / "run")
    return open_run(tmp_path / "run")


def test_unsteered_readout_is_collects(tiny, tiny_run):
    records = tiny_run.records
    out = SlotSteerer(tiny, tiny_run.vocabulary, records["input_ids"].tolist()).read()
    assert np.allclose(out.probs, tiny_run.confidence_probs(), rtol=1e-4, atol=1e-9)
    assert out.texts == records["verbal_text"].tolist()


def test_steered_readout_equals_a_full_patched_forward(tiny, tiny_checkpoint, tmp_path):
    """Digits are single tokens, so their probabilities are the softmax of the patched slot logits."""
    run = collect(out=tmp_path / "digits", loaded=tiny, model=str(tiny_checkpoint), limit=3, vocabulary="digits",
                  max_answer_tokens=3, progress=False)
    vector = 5.0 * torch.randn(tiny.d_model)
    ids = [list(row) for row in run.records["input_ids"]]
    steered = SlotSteerer(tiny, run.vocabulary, ids).read("blocks.1.hook_resid_pre", vector.expand(len(ids), -1))
    digit_ids = [tiny.tokenizer(s, add_special_tokens=False)["input_ids"][0] for s in run.vocabulary.strings]
    for i, row in enumerate(ids):
        patch = Patch("blocks.1.hook_resid_pre", torch.tensor([len(row) - 1]), vector[None], mode="add")
        logits = tiny.run(torch.tensor([row]), patches=[patch]).logits[0, -1]
        assert np.allclose(steered.probs[i], logits.softmax(-1)[digit_ids].numpy(), rtol=1e-4, atol=1e-9)


def test_conditions_read_together_equal_one_at_a_time(tiny, tiny_run):
    ids = tiny_run.records["input_ids"].tolist()[:3]
    torch.manual_seed(2)
    conditions = [(None, None)] + [(f"blocks.{layer}.hook_resid_pre", 4.0 * torch.randn(3, tiny.d_model))
                                   for layer in (0, 1, 1, 0)]
    steerer = SlotSteerer(tiny, tiny_run.vocabulary, ids, rows_per_forward=6)  # two conditions per forward
    together = steerer.read_many(conditions)
    for (hook, vectors), out in zip(conditions, together):
        alone = steerer.read(hook, vectors)
        assert np.allclose(out.probs, alone.probs, rtol=1e-4, atol=1e-9) and out.texts == alone.texts
    assert not np.allclose(together[1].probs, together[0].probs, rtol=1e-3, atol=0)  # the push did something


def test_steer_result_tables_and_control(tiny, fresh):
    result = steer(fresh, model=tiny, direction="mean_diff", readouts=(1, 2), **FAST)
    effects = result["effects"]
    n = fresh.n_examples
    assert len(effects) == n * 2 * (1 + 2) * 3  # examples x layers x directions x alphas
    assert (effects.loc[effects["alpha"] == 0, "shift"] == 0).all()
    assert effects.loc[effects["alpha"] == 0, "text_unchanged"].all()
    steered = effects[effects["alpha"] != 0]
    assert steered["shift"].abs().max() > 1e-4  # a push of twice the residual norm moves the read-out
    directions = result["directions"]
    assert directions["cos_random_max"].max() < 0.6 and (directions["scale"] > 0).all()
    norms = steered.groupby(["layer", "direction"])["norm"].unique()
    for (layer, _), values in norms.items():  # probe and random directions have the same norm per layer
        assert np.allclose(values, 2.0 * directions.set_index("layer").loc[layer, "scale"])
    dose = result["dose"]
    assert set(dose["direction"]) == {"mean_diff", "random"} and (dose["n"] == n).all()
    assert ((dose["shift_low"] <= dose["shift"] + 1e-12) & (dose["shift"] <= dose["shift_high"] + 1e-12)).all()
    layers = result["layers"]
    assert list(layers["layer"]) == [1, 2] and layers["slope_minus_random"].notna().all()
    assert "seed study found no effect" in result.manifest["summary"]["headline"]
    summary = result.summary  # the slopes the CLI prints, typed
    assert isinstance(summary, wb.SteerSummary) and summary == open_result(fresh.path, "steering").summary
    assert (summary.direction, summary.n, summary.layers) == ("mean_diff", n, (1, 2))
    for row in layers.itertuples():
        assert (summary.slope[row.layer], summary.slope_low[row.layer], summary.random_slope[row.layer],
                summary.slope_minus_random_high[row.layer]) == (row.slope, row.slope_low, row.random_slope,
                                                                row.slope_minus_random_high)
    assert summary.beyond_random == tuple(layers.loc[layers["beyond_random"], "layer"])
    assert str(summary).startswith(f"mean_diff slope, confidence points per alpha: layer 1 {100 * summary.slope[1]:+.2f}")
    fig = SteeringDoseDisplay.from_result(result).figure()
    assert len(fig.data) == 2 * 2 * 2 and [a.text for a in fig.layout.annotations][:2] == ["layer 1", "layer 2"]
    assert undocumented("steering", result.tables) == []  # docs/api.md's tables cover every column
    assert wb.figure_names(result) == ["dose_response"]  # wb.figure() knows the steering figure
    assert len(wb.figure(result).data) == len(fig.data) and wb.figure(result, paper=True).layout.font.size == 12


def test_probe_direction_from_saved_weights(tiny, fresh):
    from workbench.analyses.probe_layers import probe_layers

    probe_layers(fresh, ["confidence_slot"], folds=2, seeds=(0,), probes=["logistic"], n_boot=20)
    result = steer(fresh, model=tiny, readouts=(1,), **FAST)
    assert result.path.parent.name == "steering-probe"  # keyed: RUN/results/steering-probe/<key>
    assert result["directions"]["source"].iloc[0].endswith("logistic-layer01.safetensors")
    assert set(result["effects"]["direction"]) == {"probe", "random"}


def test_killed_steer_resumes_and_equals_an_uninterrupted_one(tiny, fresh, tiny_run, tmp_path):
    calls = []

    def die_on_second(message):
        calls.append(message)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        steer(fresh, model=tiny, direction="mean_diff", readouts=(1,), progress=die_on_second, **FAST)
    assert list((fresh.path / "results" / "steering-mean_diff").glob("*/partial/batch-00000.parquet"))
    resumed = []
    result = steer(fresh, model=tiny, direction="mean_diff", readouts=(1,), progress=resumed.append, **FAST)
    assert [m.split(":")[0] for m in resumed] == ["batch-00001", "batch-00002"]  # the first batch was kept
    shutil.copytree(tiny_run.path, tmp_path / "other")
    whole = steer(tmp_path / "other", model=tiny, direction="mean_diff", readouts=(1,), **FAST)
    pd.testing.assert_frame_equal(result["effects"], whole["effects"], atol=1e-6)
    assert steer(fresh, model=tiny, direction="mean_diff", readouts=(1,), **FAST).path == result.path  # stored: reused
    beside = steer(fresh, model=tiny, direction="mean_diff", readouts=(2,), **FAST)  # another config: its own key
    assert beside.path != result.path and (result.path / "manifest.json").exists()
    assert list(beside["layers"]["layer"]) == [2] and open_result(fresh.path, "steering-mean_diff").path == beside.path
    stamp = (beside.path / "manifest.json").stat().st_mtime_ns
    again = steer(fresh, model=tiny, direction="mean_diff", readouts=(2,), overwrite=True, **FAST)
    assert again.path == beside.path and (again.path / "manifest.json").stat().st_mtime_ns != stamp  # recomputed


def test_bad_input_is_one_clear_error_each(tiny, fresh, tmp_path):
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.synthetic import make_run

    with pytest.raises(WorkbenchError, match="alpha grid is empty"):
        SteerConfig(alphas=())
    with pytest.raises(WorkbenchError, match="at least one of them non-zero"):
        SteerConfig(alphas=(0.0,))
    with pytest.raises(WorkbenchError, match=r"read-out 7 out of range: there are 3 read-outs in this run \(0..2"):
        steer(fresh, model=tiny, direction="mean_diff", readouts=(1, 7))
    with pytest.raises(WorkbenchError, match="run `workbench probe"):
        steer(fresh, model=tiny, readouts=(1,))
    other = make_run(tmp_path / "other", n=40, accuracy=0.5, n_blocks=2)  # d_model differs: another model's run
    probe_layers(other, ["confidence_slot"], [1], folds=2, seeds=(0,), probes=["logistic"], n_boot=20)
    for direction in ("probe", "mean_diff"):
        with pytest.raises(WorkbenchError, match="another model's run"):
            steer(fresh, model=tiny, direction=direction, readouts=(1,), probe_run=str(other.path))


def test_cli_steers_and_writes_the_figure(tiny, fresh, tiny_run, tmp_path, capsys):
    assert main(["steer", str(fresh.path), "--direction", "mean_diff", "--readouts", "1,2", "--alphas=-1,0,1",
                 "--n-random", "1", "--boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "layer 1 (blocks.1.hook_resid_pre): mean_diff slope" in out and "Seed: the seed study" in out
    page = open_result(fresh.path, "steering-mean_diff").path / "figures" / "dose_response.html"
    assert page.stat().st_size > 1000
    shutil.copytree(tiny_run.path, tmp_path / "api")
    by_api = wb.steer(tmp_path / "api", model=tiny, direction="mean_diff", readouts=(1, -1), alphas=(-1, 0, 1),
                      n_random=1, n_boot=20, progress=False)  # read-out -1 is the last one, 2
    by_cli = open_result(fresh.path / "results" / "steering-mean_diff")
    assert by_api.config == by_cli.config and by_api.manifest["config_hash"] == by_cli.manifest["config_hash"]
    assert (by_api.path / "figures" / "dose_response.html").exists()


def test_cli_reports_bad_input_without_traceback(fresh, capsys):
    assert main(["steer", str(fresh.path), "--alphas", ""]) == 2
    assert "alpha grid is empty" in capsys.readouterr().err
    assert main(["steer", str(fresh.path), "--direction", "mean_diff", "--readouts", "9"]) == 2
    assert "out of range" in capsys.readouterr().err


@pytest.mark.slow
def test_steer_smollm2_along_its_class_means_with_the_random_control(smollm2, smollm2_run, tmp_path):
    """The small run has too few correct answers to cross-validate a probe; its class means give the direction."""
    shutil.copytree(smollm2_run.path, tmp_path / "run")
    run = open_run(tmp_path / "run")
    result = steer(run, model=smollm2, direction="mean_diff", readouts=(10, 20), alphas=(-0.5, 0.0, 0.5), n_random=2, limit=8,
                   n_boot=200, batch_size=8)
    effects = result["effects"]
    base = effects[effects["alpha"] == 0].groupby("example_id")["expected"].first()
    stored = run.records.set_index("example_id")["softmax_expected"].loc[base.index] / 100
    assert np.allclose(base.to_numpy(), stored.to_numpy(), atol=1e-3)  # the unsteered read-out is collect's
    assert effects.loc[effects["alpha"] != 0, "shift"].abs().max() > 1e-3
    assert set(effects["direction"]) == {"mean_diff", "random"} and effects["verbal_text"].map(len).gt(0).any()
    layers = result["layers"]
    assert list(layers["layer"]) == [10, 20]
    assert np.isfinite(layers[["slope_low", "slope_high", "random_slope_low", "random_slope_high"]].to_numpy()).all()
    assert "seed study found no effect" in result.manifest["summary"]["headline"]
    summary = result.summary  # the slopes the CLI prints, typed: the layers table's
    assert summary.layers == (10, 20) and summary.slope[10] == layers.loc[layers["layer"] == 10, "slope"].iloc[0]
