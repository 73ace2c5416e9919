"""Steering and sampling as sweep stages, on a tiny random llama: a sweep config asks for ``sample`` and ``steer``
with their config fields; calibrate reads the sweep's sampling and steer the sweep's probe; a re-run finds every
unit done; bad sections are one clear error each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.backends import load_model
from workbench.errors import WorkbenchError
from workbench.store import open_run
from workbench.sweeps import SweepConfig, plan_units, run_sweep, sweep_failed
from workbench.sweeps.ledger import unit_dir

ANALYSES = ["collect", "probe", "sample", "calibrate", "steer"]


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), backend="transformer_lens", device="cpu")


def mark_correct(run_dir, correct_ids: list[int]) -> None:
    """Mark the chosen examples of a stored run correct, the others incorrect (in place): a random model is never
    right, and probes need both classes (``correct_copy`` does this on a copy; a sweep's unit reads it in place)."""
    for shard in sorted((run_dir / "records").glob("*.parquet")):
        frame = pd.read_parquet(shard)
        frame["correct"] = frame["example_id"].isin(correct_ids)
        frame.to_parquet(shard, index=False)


def sweep_config(model: str, dataset: str, **sections) -> dict:
    return {"sweep": {"models": [model], "datasets": [dataset], "seeds": [0], "analyses": ANALYSES},
            "collect": {"limit": 8, "max_answer_tokens": 3, "batch_size": 8},
            "probe": {"folds": 2, "n_boot": 20, "roles": ["confidence_slot"]},
            "sample": {"k": 2, "max_answer_tokens": 2, "batch_size": 3, "p_true": True},
            "calibrate": {"n_boot": 20, "prior_knowledge": False},
            "steer": {"readouts": [1], "alphas": [-0.5, 0.5], "n_random": 1, "n_boot": 20, "batch_size": 3,
                      "figures": False},
            **sections}


def test_sample_and_steer_run_as_sweep_stages_and_resume(tiny, tiny_checkpoint, tmp_path):
    loaded = {str(tiny_checkpoint): tiny}
    config = SweepConfig.from_dict(sweep_config(str(tiny_checkpoint), "capitals"))
    units = {u.analysis: u for u in plan_units(config)}
    first = config.replace(analyses=("collect",))  # the collect unit alone first (same address), then both classes
    assert not sweep_failed(run_sweep(first, tmp_path / "sweep", progress=False, loaded=loaded))
    mark_correct(unit_dir(tmp_path / "sweep", units["collect"].hash) / "run", [0, 2, 3, 6])
    summary = run_sweep(config, tmp_path / "sweep", progress=False, loaded=loaded)
    assert not sweep_failed(summary), summary[["analysis", "status", "error"]]
    assert list(summary["analysis"]) == ANALYSES
    assert list(summary["status"]) == ["cached", "ran", "ran", "ran", "ran"]
    assert units["calibrate"].deps == {"collect": units["collect"].hash, "probe": units["probe"].hash,
                                       "sample": units["sample"].hash}
    assert units["steer"].deps == {"collect": units["collect"].hash, "probe": units["probe"].hash}
    run = open_run(unit_dir(tmp_path / "sweep", units["collect"].hash) / "run")
    assert int(run.records["correct"].sum()) == 4

    sampled = open_run(unit_dir(tmp_path / "sweep", units["sample"].hash) / "run")
    from workbench.store.sampled import sampling_result

    samples = sampling_result(sampled)
    assert samples.config["k"] == 2 and samples["samples"]["samples"].map(len).eq(2).all()
    metrics = summary.set_index("analysis")["metrics"]
    assert metrics["sample"]["k"] == 2 and np.isclose(metrics["sample"]["mean_self_consistency"],
                                                     samples["samples"]["self_consistency"].mean())
    calibrated = open_run(unit_dir(tmp_path / "sweep", units["calibrate"].hash) / "run")
    from workbench.store.results import find_result

    channels = find_result(calibrated.path, "channels")
    assert channels.config["sampling"]["k"] == 2  # calibrate read the sweep's sampling unit, and says so
    rows = channels["channels"].set_index("channel")
    assert rows.loc["self_consistency", "n"] == len(run.records) and "sampled k=2" in rows.loc["p_true", "note"]

    steered = find_result(unit_dir(tmp_path / "sweep", units["steer"].hash) / "run", "steering-probe")
    directions = steered["directions"]
    assert list(directions["layer"]) == [1]
    assert str(unit_dir(tmp_path / "sweep", units["probe"].hash).resolve()) in directions["source"].iloc[0]
    assert metrics["steer"]["layers"] == [1] and "layers beyond random" in \
        summary.set_index("analysis").loc["steer", "headline"]

    again = run_sweep(config, tmp_path / "sweep", progress=False, loaded=loaded)
    assert set(again["status"]) == {"cached"}
    more = SweepConfig.from_dict(sweep_config(str(tiny_checkpoint), "capitals", sample={"k": 3, "batch_size": 3,
                                                                                         "max_answer_tokens": 2}))
    changed = run_sweep(more, tmp_path / "sweep", progress=False, loaded=loaded)
    status = changed.set_index("analysis")["status"]
    assert status["sample"] == "ran" and status["calibrate"] == "ran"  # another k: its own units
    assert status["collect"] == status["probe"] == status["steer"] == "cached"


@pytest.mark.parametrize(("sections", "message"), [
    ({"sample": {"k": 1}}, "sample.k: must be an integer >= 2"),
    ({"sample": {"temperature": 0}}, "sample.temperature: must be a number > 0"),
    ({"sample": {"seed": 3}}, "sample.seed"),
    ({"steer": {"alphas": []}}, "steer.alphas"),
    ({"steer": {"probe_run": "elsewhere"}}, "steer.probe_run"),
    ({"probe": {"save_weights": False}}, "steer.direction"),
])
def test_bad_sections_are_one_clear_error(sections, message, tmp_path):
    data = sweep_config("smollm2-135m-instruct", "capitals", **sections)
    with pytest.raises(WorkbenchError, match=message):
        SweepConfig.from_dict(data)


def test_steering_along_the_probe_needs_the_probe_stage():
    data = sweep_config("smollm2-135m-instruct", "capitals")
    data["sweep"]["analyses"] = ["collect", "steer"]
    with pytest.raises(WorkbenchError, match="add \"probe\" to sweep.analyses, or set direction = \"mean_diff\""):
        SweepConfig.from_dict(data)
    data["steer"]["direction"] = "mean_diff"
    units = plan_units(SweepConfig.from_dict(data))
    assert [u.analysis for u in units] == ["collect", "steer"] and set(units[1].deps) == {"collect"}
