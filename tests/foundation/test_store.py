"""The run store: lazy reads, atomic shards, resume, and refusal to mix configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.store import RunWriter, open_run

ROLES = ["pre_answer", "confidence_slot"]


def header(config_hash: str = "abc", dtype: str = "float32", config: dict | None = None) -> dict:
    return {"config": config or {"k": 1}, "config_hash": config_hash, "model": {"name": "m"}, "roles": ROLES,
            "layers": ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"],
            "d_model": 4, "dtype": dtype, "vocabulary": {"name": "v", "strings": ["0", "1"], "values": [0.0, 100.0]}}


def shard(start: int, n: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(start)
    records = [{"item_id": f"i{start + i}", "correct": bool(i % 2), "confidence_probs": [0.25, 0.75]} for i in range(n)]
    return records, rng.normal(size=(n, 3, 2, 4)).astype(np.float32)


def test_round_trip_reads_one_layer_and_role(tmp_path):
    writer = RunWriter(tmp_path / "run", header())
    (r1, a1), (r2, a2) = shard(0, 3), shard(3, 2)
    writer.append(r1, a1)
    writer.append(r2, a2)
    writer.finish()
    run = open_run(tmp_path / "run")
    assert run.n_examples == 5 and list(run.records["example_id"]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(run.residuals(2, "confidence_slot"), np.concatenate([a1, a2])[:, 2, 1])
    assert run.confidence_probs().shape == (5, 2)
    with pytest.raises(WorkbenchError, match="readout 3 out of range"):
        run.residuals(3, "pre_answer")
    with pytest.raises(WorkbenchError, match="role 'answer_last' not stored"):
        run.residuals(0, "answer_last")


def test_float16_storage(tmp_path):
    writer = RunWriter(tmp_path / "run", header(dtype="float16"))
    records, acts = shard(0, 2)
    writer.append(records, acts)
    got = open_run(tmp_path / "run").residuals(1, "pre_answer")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, acts[:, 1, 0], rtol=1e-3, atol=1e-3)


def test_bfloat16_storage_keeps_float32_range(tmp_path):
    writer = RunWriter(tmp_path / "run", header(dtype="bfloat16"))
    records, acts = shard(0, 2)
    acts[0, 1, 0, 0] = 1e6  # beyond float16, within bfloat16
    writer.append(records, acts)
    got = open_run(tmp_path / "run").residuals(1, "pre_answer")
    assert got.dtype == np.float32 and got[0, 0] == pytest.approx(1e6, rel=1e-2)
    np.testing.assert_allclose(got, acts[:, 1, 0], rtol=1e-2, atol=1e-2)


def test_a_value_float16_cannot_hold_is_refused_with_why(tmp_path):
    writer = RunWriter(tmp_path / "run", header(dtype="float16"))
    records, acts = shard(0, 2)
    acts[1, 2, 0, 3] = -7e4
    with pytest.raises(WorkbenchError, match=r"store dtype float16 cannot hold these residuals: 1 value\(s\) overflow "
                                             r"it \(largest \|value\| 7e\+04, float16's largest 6\.55e\+04; first at "
                                             r"example 1, read-out 2\); collect with --store-dtype bfloat16"):
        writer.append(records, acts)
    assert writer.n_done == 0


def test_a_subset_of_readouts_is_read_by_its_index_and_others_are_refused(tmp_path):
    writer = RunWriter(tmp_path / "run", {**header(), "stored_readouts": [0, 2]})
    records, acts = shard(0, 3)
    writer.append(records, acts[:, [0, 2]])
    run = open_run(tmp_path / "run")
    assert run.stored_readouts == [0, 2] and len(run.readouts) == 3
    np.testing.assert_array_equal(run.residuals(-1, "confidence_slot"), acts[:, 2, 1])
    np.testing.assert_array_equal(run.residuals("blocks.0.hook_resid_pre", "pre_answer"), acts[:, 0, 0])
    with pytest.raises(WorkbenchError, match=r"read-out 1 \(blocks.1.hook_resid_pre\) is not stored in this run: it "
                                             r"stores read-outs 0, 2 of 0..2 \(collect --store-readouts\)"):
        run.residuals("blocks.0.hook_resid_post", "pre_answer")


def test_reopening_resumes_and_other_config_is_refused(tmp_path):
    writer = RunWriter(tmp_path / "run", header())
    writer.append(*shard(0, 3))
    resumed = RunWriter(tmp_path / "run", header())
    assert resumed.n_done == 3
    resumed.append(*shard(3, 1))
    assert open_run(tmp_path / "run").n_examples == 4
    with pytest.raises(WorkbenchError, match=r"different config \(hash abc there, other here\)"):
        RunWriter(tmp_path / "run", header(config_hash="other"))  # no field differs: the hashes say it
    assert open_run(tmp_path / "run").n_examples == 4  # nothing damaged


def test_a_refused_collect_names_each_differing_field_with_both_values(tmp_path):
    RunWriter(tmp_path / "run", header(config={"dataset": "capitals", "limit": 24, "seed": 0, "grading": "exact"}))
    asked = {"dataset": "all", "limit": 24, "seed": 0, "template": "plain"}
    with pytest.raises(WorkbenchError) as error:
        RunWriter(tmp_path / "run", header(config_hash="other", config=asked))
    assert str(error.value) == (f"{tmp_path / 'run'} already holds a run of a different config (dataset: 'capitals' "
                                "there, 'all' here; grading: 'exact' there, not set here; template: not set there, "
                                "'plain' here); collect into another output directory (or delete that one), or give "
                                "the stored values to resume it")


def test_non_run_directories_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not a run directory"):
        RunWriter(tmp_path, header())
    with pytest.raises(WorkbenchError, match="collect"):
        open_run(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_output_folders_are_checked_before_any_work(tmp_path):
    from workbench.store.paths import check_output_dir

    assert check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"  # creatable: nothing is created
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == []
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="notes.txt is a file; choose a directory path"):
        check_output_dir(tmp_path / "notes.txt")
    with pytest.raises(WorkbenchError, match="notes.txt/a/run is inside the file .*notes.txt"):
        check_output_dir(tmp_path / "notes.txt" / "a" / "run")
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux's /sys, where nobody (root included) may write")
def test_an_unwritable_output_folder_is_refused():
    from workbench.store.paths import check_output_dir

    with pytest.raises(WorkbenchError, match="cannot write in /sys .*choose a writable directory"):
        check_output_dir("/sys/workbench-run", what="--out")


def test_sweep_and_figures_refuse_an_out_inside_a_file(tmp_path, capsys):
    from workbench.cli import main

    (tmp_path / "file").write_text("x")
    assert main(["figures", str(tmp_path), "--out", str(tmp_path / "file" / "figs")]) == 2
    assert "is inside the file" in capsys.readouterr().err
    config = tmp_path / "sweep.toml"
    config.write_text('[sweep]\nmodels = ["smollm2-135m-instruct"]\ndatasets = ["capitals"]\nanalyses = ["collect"]\n')
    assert main(["sweep", str(config), "--out", str(tmp_path / "file" / "sweep"), "--no-progress"]) == 2
    assert "is inside the file" in capsys.readouterr().err


def test_collect_into_a_run_of_another_config_names_the_field_that_differs(tiny_model, tiny_path, tiny_run):
    from workbench.collect import collect

    with pytest.raises(WorkbenchError, match=r"different config \(limit: 6 there, 5 here\); collect into another"):
        collect(out=tiny_run.path, loaded=tiny_model, model=str(tiny_path), dataset="capitals", limit=5,
                max_answer_tokens=4, progress=False)
    assert open_run(tiny_run.path).n_examples == 6  # the stored run is intact


def test_collect_stores_the_chosen_readouts_and_roles_in_the_chosen_dtype(tiny_model, tiny_path, tiny_run, tmp_path,
                                                                         correct_copy):
    """The values are the full run's (bfloat16-rounded); the others are refused naming what is stored; probes
    over 'all' read-outs probe the stored ones; the default config's hash leaves the new fields out."""
    import workbench as wb
    from workbench.analyses.logit_lens import lens_scores
    from workbench.analyses.probe_layers import probe_layers
    from workbench.collect import collect
    from workbench.configs import CollectConfig

    run = collect(out=tmp_path / "sub", loaded=tiny_model, model=str(tiny_path), dataset="capitals", limit=6,
                  batch_size=3, max_answer_tokens=4, progress=False, store_dtype="bfloat16", store_readouts=(1, -1),
                  store_roles=("confidence_slot", "answer_last"))
    assert run.stored_readouts == [1, 2] and run.roles == ["answer_last", "confidence_slot"] and run.n_blocks == 2
    assert run.manifest["dtype"] == "bfloat16" and run.config["store_readouts"] == [1, -1]
    full = tiny_run.residuals(2, "answer_last")
    np.testing.assert_allclose(run.residuals(-1, "answer_last"), full, rtol=1e-2, atol=1e-2 * np.abs(full).max())
    with pytest.raises(WorkbenchError, match=r"role 'pre_answer' not stored in this run\. Stored roles: answer_last, "
                                             "confidence_slot"):
        run.residuals(1, "pre_answer")
    with pytest.raises(WorkbenchError, match="read-out 0 .* stores read-outs 1, 2 of 0..2"):
        run.residuals(0)
    assert run.example(0).positions.keys() == tiny_run.example(0).positions.keys()  # every role's position is kept
    labelled = correct_copy(run, tmp_path / "labelled", [0, 2, 4])
    probes = probe_layers(labelled, "confidence_slot", "all", folds=3, probes=("diffmeans",), n_boot=10,
                          save_weights=False)
    assert sorted(probes.tables["layers"]["layer"].unique()) == [1, 2]
    assert sorted(lens_scores(run, tiny_model)["layer"].unique()) == [1, 2]  # the logit lens too
    assert "store_readouts" not in CollectConfig().content() and "store_roles" not in CollectConfig().content()
    plan = wb.plan(model=str(tiny_path), items=6, batch_size=3, store_dtype="bfloat16", store_readouts=(1, -1),
                   store_roles=("confidence_slot", "answer_last"), device="cpu")
    assert plan.residual_bytes == sum(p.stat().st_size for p in (run.path / "activations").iterdir())
