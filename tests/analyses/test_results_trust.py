"""Nothing silent: incomplete runs refused, results keyed by their config (never replaced unasked), run ids."""

from __future__ import annotations

import json
import shutil

import pytest

import workbench as wb
from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.inputs import resume_command
from workbench.analyses.patching.runner import run_patching
from workbench.analyses.prior_knowledge import prior_knowledge
from workbench.analyses.probe_layers import probe_layers, probe_weights_path
from workbench.analyses.replication import replication
from workbench.analyses.steering import steer
from workbench.analyses.synthetic import make_run
from workbench.cli import main
from workbench.errors import WorkbenchError, WorkbenchWarning
from workbench.figures.paper import regenerate_figures
from workbench.finetune.runner import finetune_experiment
from workbench.finetune.train import FinetuneConfig
from workbench.replicate import _results as stored_by_analysis
from workbench.store import open_run, write_json_atomic
from workbench.store.results import LATEST, latest_dir, read_result, stored_results
from workbench.store.summaries import Incomplete

EXECUTION = {"model": "smollm2-135m", "dataset": "capitals", "limit": 24, "seed": 3, "template": "answer_then_confidence",
             "vocabulary": "percent", "backend": "transformer_lens", "dtype": "float32", "store_dtype": "float32",
             "max_answer_tokens": 24, "batch_size": 8, "device": None}


@pytest.fixture
def incomplete_run(tmp_path):
    """A run as a killed collect leaves it: 60 of 100 items stored, ``"complete": false``."""
    run = make_run(tmp_path / "killed", n=60)
    write_json_atomic(run.path / "manifest.json", {**run.manifest, "complete": False, "n_items": 100,
                                                   "execution": EXECUTION})
    return open_run(run.path)


def test_the_resume_command_repeats_the_stored_config_and_the_folder(incomplete_run):
    command = resume_command(incomplete_run)
    assert command.startswith("workbench collect ")
    for flag in ("--model smollm2-135m", "--dataset capitals", "--limit 24", "--seed 3", "--vocabulary percent"):
        assert f" {flag} " in command
    assert command.endswith(f"--out {incomplete_run.path}") and " --max-answer-tokens 24 " in command
    assert "--batch-size" not in command and "--device" not in command  # execution settings: a resume may change them


ANALYSES = {
    "probe": lambda run, **kw: probe_layers(run, layers=[1], seeds=(0,), n_boot=50, **kw),
    "calibrate": lambda run, **kw: channels(run, n_boot=50, **kw),
    "prior_knowledge": lambda run, **kw: prior_knowledge(run, n_boot=50, **kw),
    "bottleneck": lambda run, **kw: bottleneck(run, n_boot=50, logit_lens=False, **kw),
}


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_an_incomplete_run_is_refused_with_the_command_that_resumes_it(incomplete_run, name):
    with pytest.raises(WorkbenchError, match=r"incomplete run: its collect stopped after 60 of 100 items") as error:
        ANALYSES[name](incomplete_run)
    assert "`workbench collect " in str(error.value) and "--model smollm2-135m" in str(error.value)
    assert "--allow-incomplete" in str(error.value)
    assert not (incomplete_run.path / "results").exists()  # refused before anything was written


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_allow_incomplete_runs_and_the_result_says_so_with_n_of_n_items(incomplete_run, name):
    with pytest.warns(WorkbenchWarning, match=r"is an incomplete run: analysing the 60 of 100 items stored "
                                              r"\(--allow-incomplete\); the result says so"):
        result = ANALYSES[name](incomplete_run, allow_incomplete=True)
    assert result.manifest["run"]["complete"] is False
    assert (result.manifest["run"]["n_examples"], result.manifest["run"]["n_items"]) == (60, 100)
    summary = read_result(result.path).summary
    assert summary.incomplete == Incomplete(n=60, of=100)
    assert str(summary).endswith("; computed on 60 of 100 items: the run's collect did not finish "
                                 "(--allow-incomplete)")
    complete = ANALYSES[name](make_run(incomplete_run.path.parent / "complete", n=60))
    assert complete.summary.incomplete is None and "--allow-incomplete" not in str(complete.summary)


def test_the_cli_says_once_that_a_result_comes_from_an_incomplete_run(incomplete_run, capsys):
    assert main(["probe", str(incomplete_run.path), "--allow-incomplete", "--layers", "1", "--seeds", "2",
                 "--boot", "50"]) == 0  # probes, replication and the report page each read the run
    err = capsys.readouterr().err
    assert err.splitlines() == [f"workbench probe: warning: {incomplete_run.path} is an incomplete run: analysing "
                                "the 60 of 100 items stored (--allow-incomplete); the result says so"]


def test_patch_replication_and_finetune_refuse_an_incomplete_run_before_loading_any_model(incomplete_run, tmp_path):
    with pytest.raises(WorkbenchError, match="incomplete run"):
        run_patching(incomplete_run, figures=False)  # no backend given: the check comes before loading one
    complete = make_run(tmp_path / "complete", n=60)
    probes = probe_layers(complete, layers=[1], seeds=(0, 1), n_boot=50)
    with pytest.raises(WorkbenchError, match="incomplete run"):
        replication(incomplete_run, probes)
    with pytest.raises(WorkbenchError, match="incomplete run"):
        finetune_experiment(incomplete_run, FinetuneConfig(target="correctness"), tmp_path / "ft", eval_runs={"heldout": complete})
    with pytest.raises(WorkbenchError, match="incomplete run"):
        finetune_experiment(complete, FinetuneConfig(target="correctness"), tmp_path / "ft", eval_runs={"heldout": incomplete_run})
    assert not (tmp_path / "ft").exists()
    with pytest.raises(WorkbenchError, match="incomplete run"):
        steer(incomplete_run, direction="mean_diff", layers=(1,))  # no backend given either
    assert not (incomplete_run.path / "results").exists()


@pytest.mark.parametrize("command", ["probe", "calibrate", "bottleneck", "patch", "finetune"])
def test_the_cli_refuses_an_incomplete_run_in_one_line(incomplete_run, tmp_path, capsys, command):
    extra = ["--out", str(tmp_path / "ft"), "--probe", "1/confidence_slot"] if command == "finetune" else []
    assert main([command, str(incomplete_run.path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "incomplete run" in err and "workbench collect" in err
    assert "Traceback" not in err


def test_figures_refuse_results_of_an_incomplete_run_unless_allowed(incomplete_run, tmp_path, capsys):
    probe_layers(incomplete_run, layers=[1], seeds=(0,), n_boot=50, allow_incomplete=True)
    assert main(["figures", str(incomplete_run.path), "--format", "html", "--out", str(tmp_path / "f")]) == 2
    assert "incomplete run" in capsys.readouterr().err
    assert main(["figures", str(incomplete_run.path), "--format", "html", "--out", str(tmp_path / "f"),
                 "--allow-incomplete"]) == 0
    assert list((tmp_path / "f").rglob("probes-*.html"))


def test_probe_with_other_layers_keeps_the_earlier_result_and_its_weights(tmp_path):
    run = make_run(tmp_path / "run", n=60)
    first = probe_layers(run, layers=[1], seeds=(0,), n_boot=50, probes=["logistic"])
    second = probe_layers(run, layers=[2], seeds=(0,), n_boot=50, probes=["logistic"])
    analysis_dir = run.path / "results" / "probes"
    assert first.path != second.path and first.path.parent == second.path.parent == analysis_dir
    assert read_result(first.path)["layers"]["layer"].tolist() == [1]  # still there, unchanged
    assert read_result(analysis_dir).path == second.path  # the analysis folder reads the latest
    assert json.loads((analysis_dir / LATEST).read_text())["key"] == second.path.name
    assert stored_results(analysis_dir) == [second.path, first.path]
    # a fine-tune asking for layer 1 still finds its weights, in the earlier result
    assert probe_weights_path(run.path, "confidence_slot", 1) == first.path / "weights/confidence_slot/logistic-layer01.safetensors"
    assert probe_weights_path(run.path, "confidence_slot", 1).exists()
    assert probe_weights_path(run.path, "confidence_slot", 2).parent.parent.parent == second.path
    assert not probe_weights_path(run.path, "confidence_slot", 3).exists()


def test_the_same_config_returns_the_stored_result_and_overwrite_recomputes_it(tmp_path):
    run = make_run(tmp_path / "run", n=60)
    first = probe_layers(run, layers=[1], seeds=(0,), n_boot=50)
    manifest = first.path / "manifest.json"
    written = manifest.stat().st_mtime_ns
    other = probe_layers(run, layers=[2], seeds=(0,), n_boot=50)
    again = probe_layers(run, layers=[1], seeds=(0,), n_boot=50)
    assert again.path == first.path and manifest.stat().st_mtime_ns == written  # not recomputed, not replaced
    assert latest_dir(run.path / "results" / "probes") == first.path  # the latest call's result
    redone = probe_layers(run, layers=[1], seeds=(0,), n_boot=50, overwrite=True)
    assert redone.path == first.path and manifest.stat().st_mtime_ns > written
    assert (other.path / "manifest.json").exists()  # another config's result is never touched


def test_the_public_readers_follow_latest_json_to_keyed_results(tmp_path):
    run = make_run(tmp_path / "run", n=60)
    probe_layers(run, layers=[1], seeds=(0,), n_boot=50)
    probes = probe_layers(run, layers=[2], seeds=(0,), n_boot=50)
    scores = channels(run, n_boot=50)
    assert wb.open_result(run.path, "probes").path == probes.path  # the latest, not the first key
    assert {name: r.path for name, r in probes.related().items()} == {"channels": scores.path}
    assert sorted(r.path for r in wb.find_results(run.path)) == sorted([probes.path, scores.path])
    assert {name: r.path for name, r in stored_by_analysis(run.path).items()} == {"probes": probes.path,
                                                                                 "channels": scores.path}
    assert wb.figure_names(probes) == ["auroc_per_layer"]


def test_cheap_analyses_are_keyed_too(tmp_path):
    run = make_run(tmp_path / "run", n=60)
    uniform, quantile = channels(run, n_boot=50), channels(run, n_boot=50, strategy="quantile")
    assert uniform.path != quantile.path and (uniform.path / "manifest.json").exists()
    assert read_result(run.path / "results" / "channels").config["strategy"] == "quantile"


def test_a_resumed_run_gets_a_new_result_key(tmp_path):
    run = make_run(tmp_path / "run", n=60)
    before = channels(run, n_boot=50)
    write_json_atomic(run.path / "manifest.json", {**run.manifest, "n_examples": 50,
                                                   "shards": run.manifest["shards"][:1]})
    after = channels(open_run(run.path), n_boot=50)
    assert after.path != before.path and after["scores"].shape[0] == 50


def test_runs_get_an_id_at_creation_and_old_runs_a_stable_one_from_their_path(tmp_path):
    one, two = make_run(tmp_path / "one", n=40), make_run(tmp_path / "two", n=40)
    assert one.manifest["config_hash"] == two.manifest["config_hash"]
    assert len(one.run_id) == 32 and one.run_id != two.run_id
    legacy = {k: v for k, v in one.manifest.items() if k != "run_id"}
    write_json_atomic(one.path / "manifest.json", legacy)
    derived = open_run(one.path).run_id
    assert derived == open_run(one.path).run_id != one.run_id


def test_figures_of_two_runs_of_one_config_never_merge(tmp_path):
    root = tmp_path / "runs"
    for name in ("cpu", "cuda"):  # one config hash (device is not hashed), two runs
        run = make_run(root / name, n=60)
        probe_layers(run, layers=[1], seeds=(0,), n_boot=50, probes=["logistic"])
    shutil.copytree(root / "cpu", root / "copy")  # a copy keeps the run id, and still gets its own folder
    done = regenerate_figures(root, tmp_path / "figures", "html")
    folders = sorted(p.parent.name for p in done.paths)
    assert len(set(folders)) == 3 and len(done.paths) == 3 and not done.skipped
