"""The runner and the ledger on stand-in stages (no model): re-runs skip what is done, a changed config re-does
only what changed, failures are recorded and contained, bad output folders are refused untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.sweeps import STAGES, Stage, SweepConfig, format_summary, plan_units, run_sweep, sweep_failed
from workbench.sweeps.ledger import MARKER, read_error, unit_dir

CALLS: list[str] = []


def fake_collect(unit, inputs, out: Path) -> dict:
    CALLS.append(f"collect {unit.dataset} {unit.seed}")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("records", "activations"):
        (out / name).mkdir(exist_ok=True)
    (out / "records" / "values.json").write_text(json.dumps([unit.seed, unit.params.limit]))
    (out / "manifest.json").write_text(json.dumps({"config_hash": unit.hash}))
    return {"n": unit.params.limit, "accuracy": 0.5}


def fake_calibrate(unit, inputs, out: Path) -> dict:
    CALLS.append(f"calibrate {unit.dataset} {unit.seed}")
    if unit.dataset == "arithmetic" and os.environ.get("FAKE_FAIL"):
        raise RuntimeError("planted failure")
    values = json.loads((out / "records" / "values.json").read_text())  # reads its run through the view
    result = out / "results" / "fake"
    result.mkdir(parents=True)
    (result / "manifest.json").write_text(json.dumps({"values": values, "bins": unit.params.n_bins}))
    return {"auroc_verbal": 0.5 + unit.seed / 10}


@pytest.fixture
def fake_stages(monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(STAGES, "collect", Stage("collect", fake_collect, lambda m: f"n={m['n']}", resumable=True))
    monkeypatch.setitem(STAGES, "calibrate", Stage("calibrate", fake_calibrate, lambda m: str(m)))
    return CALLS


def make_config(**calibrate) -> SweepConfig:
    return SweepConfig.from_dict({"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals", "arithmetic"],
                                            "seeds": [0, 1], "analyses": ["collect", "calibrate"]},
                                  "collect": {"limit": 3}, "calibrate": calibrate})


def test_rerun_skips_done_units_and_a_changed_config_redoes_only_what_changed(fake_stages, tmp_path):
    out = tmp_path / "sweep"
    first = run_sweep(make_config(), out, progress=False)
    assert list(first["status"]) == ["ran"] * 8 and len(fake_stages) == 8
    assert not sweep_failed(first)
    fake_stages.clear()
    again = run_sweep(make_config(), out, progress=False)
    assert list(again["status"]) == ["cached"] * 8 and fake_stages == []
    changed = run_sweep(make_config(n_bins=5), out, progress=False)
    assert sorted(fake_stages) == sorted(f"calibrate {d} {s}" for d in ("capitals", "arithmetic") for s in (0, 1))
    assert dict(zip(changed["analysis"], changed["status"])) == {"collect": "cached", "calibrate": "ran"}
    # an analysis reads its run through a view that links to the collect unit's files
    unit = next(u for u in plan_units(make_config(n_bins=5)) if u.analysis == "calibrate" and u.seed == 1)
    stored = json.loads((unit_dir(out, unit.hash) / "run" / "results" / "fake" / "manifest.json").read_text())
    assert stored == {"values": [1, 3], "bins": 5}
    assert (unit_dir(out, unit.hash) / "run" / "records").is_symlink()
    assert "8 units: 4 ran, 4 cached" in format_summary(changed)
    assert (out / "summary.csv").read_text().count("\n") == 9


def test_a_failed_unit_is_recorded_its_dependents_skipped_the_others_kept(fake_stages, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL", "1")
    out = tmp_path / "sweep"
    summary = run_sweep(make_config(), out, progress=False)
    status = {(a, d, s): st for a, d, s, st in summary[["analysis", "dataset", "seed", "status"]].itertuples(index=False)}
    assert status[("calibrate", "arithmetic", 0)] == "failed" and status[("calibrate", "capitals", 0)] == "ran"
    assert sum(v == "ran" for v in status.values()) == 6 and sweep_failed(summary)
    failed = next(u for u in plan_units(make_config()) if u.analysis == "calibrate" and u.dataset == "arithmetic")
    assert "RuntimeError: planted failure" in read_error(out, failed.hash)
    assert not (unit_dir(out, failed.hash) / MARKER).exists() and not (unit_dir(out, failed.hash) / ".partial").exists()

    # the CLI says so with exit code 1; fixed, a re-run does the failed units only and removes their error
    config_path = tmp_path / "sweep.json"
    config_path.write_text(json.dumps(make_config().to_dict()))
    assert main(["sweep", str(config_path), "--out", str(out), "--no-progress"]) == 1
    assert "failed: calibrate smollm2-135m-instruct/arithmetic/seed0" in capsys.readouterr().out
    monkeypatch.delenv("FAKE_FAIL")
    fake_stages.clear()
    assert main(["sweep", str(config_path), "--out", str(out), "--no-progress"]) == 0
    assert sorted(fake_stages) == ["calibrate arithmetic 0", "calibrate arithmetic 1"]
    assert read_error(out, failed.hash) is None


def test_a_collect_failure_skips_its_analyses(fake_stages, tmp_path, monkeypatch):
    def broken(unit, inputs, out):
        raise WorkbenchError("no weights")
    monkeypatch.setitem(STAGES, "collect", Stage("collect", broken, str, resumable=True))
    summary = run_sweep(make_config(), tmp_path / "sweep", progress=False)
    assert set(summary.loc[summary["analysis"] == "collect", "status"]) == {"failed"}
    assert set(summary.loc[summary["analysis"] == "calibrate", "status"]) == {"skipped"}
    assert summary["error"].str.contains("no weights").sum() == 4


def test_a_kill_after_the_rename_but_before_the_marker_is_redone_cleanly(fake_stages, tmp_path):
    out = tmp_path / "sweep"
    run_sweep(make_config(), out, progress=False)
    unit = next(u for u in plan_units(make_config()) if u.analysis == "calibrate")
    (unit_dir(out, unit.hash) / MARKER).unlink()  # as if killed between os.replace and the marker
    (unit_dir(out, unit.hash) / ".partial").mkdir()  # and an earlier attempt's leftovers
    fake_stages.clear()
    summary = run_sweep(make_config(), out, progress=False)
    assert fake_stages == [f"calibrate {unit.dataset} {unit.seed}"]
    assert (summary["status"] == "ran").sum() == 1
    assert sorted(p.name for p in unit_dir(out, unit.hash).iterdir()) == ["done.json", "run", "unit.json"]


def test_folders_of_another_version_or_kind_are_refused_untouched(fake_stages, tmp_path):
    other = tmp_path / "old"
    other.mkdir()
    (other / "sweep.json").write_text(json.dumps({"format": 0, "workbench": "0.0.1"}))
    (other / "units").mkdir()
    before = sorted(p.name for p in other.rglob("*"))
    with pytest.raises(WorkbenchError, match="another format .* this version reads format 1.*nothing was changed"):
        run_sweep(make_config(), other, progress=False)
    assert sorted(p.name for p in other.rglob("*")) == before and fake_stages == []
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="is not a sweep folder"):
        run_sweep(make_config(), plain, progress=False)
    assert [p.name for p in plain.iterdir()] == ["notes.txt"]


def test_one_sweep_at_a_time_per_folder(fake_stages, tmp_path):
    import fcntl

    out = tmp_path / "sweep"
    out.mkdir()
    with open(out / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(WorkbenchError, match="another sweep .* is writing into"):
            run_sweep(make_config(), out, progress=False)
    assert fake_stages == []


def test_cli_dry_run_lists_units_and_bad_configs_exit_2(fake_stages, tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nmodels = ["smollm2-135m-instruct"]\ndatasets = ["capitals"]\n'
                    'analyses = ["collect", "calibrate"]\n[calibrate]\nbins = 3\n')
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert "unknown key 'calibrate.bins'. Did you mean 'n_bins'?" in capsys.readouterr().err
    path.write_text(path.read_text().replace("bins = 3", "n_bins = 3"))
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "x")]) == 0
    text = capsys.readouterr().out
    assert "2 units; config valid" in text and "to run  calibrate smollm2-135m-instruct/capitals/seed0" in text
    assert not (tmp_path / "x").exists() and fake_stages == []


def test_models_load_once_per_process_with_device_map_passed_to_transformers(monkeypatch):
    from workbench.sweeps import stages
    from workbench.sweeps.config import SweepModel

    calls = []
    monkeypatch.setattr("workbench.backends.load_model", lambda name, **kwargs: calls.append((name, kwargs)) or object())
    monkeypatch.setattr(stages, "_MODELS", {})
    big = SweepModel(name="smollm2-135m-instruct", dtype="bfloat16", device_map="auto")
    assert stages.load_cached(big) is stages.load_cached(big)
    assert calls == [("smollm2-135m-instruct", {"backend": "transformer_lens", "dtype": "bfloat16", "device": None,
                                                "device_map": "auto"})]
    stages.load_cached(SweepModel(name="smollm2-135m-instruct"))  # another model replaces it: one in memory
    assert len(calls) == 2 and len(stages._MODELS) == 1


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_cli_dry_run_validates_workers_like_a_real_run(tmp_path, capsys, workers):
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nmodels = ["smollm2-135m-instruct"]\ndatasets = ["capitals"]\nanalyses = ["collect"]\n')
    assert main(["sweep", str(path), "--dry-run", "--workers", workers, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"--workers: must be an integer >= 1, got {workers}" in err  # the config's one check
    assert not (tmp_path / "x").exists()
