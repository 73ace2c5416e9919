"""Sweeps on the real SmolLM2: killed with SIGKILL at random points and re-run, the results equal an
uninterrupted run's; the same units as Ray tasks on a local two-worker cluster (with device_map passed through)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from workbench.sweeps import SweepConfig, plan_units, run_sweep, sweep_failed
from workbench.sweeps.ledger import MARKER, unit_dir


TINY = {"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals", "arithmetic"], "seeds": [0],
                  "analyses": ["collect", "calibrate"]},
        "collect": {"limit": 2, "batch_size": 1, "max_answer_tokens": 8},  # two batches: a kill can land between
        "calibrate": {"n_boot": 20}}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here and in the subprocesses: on a shared 2-core machine, torch's default (a thread per
    core) competing with other work is several times slower, and every run of this module uses the same count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**os.environ, "OMP_NUM_THREADS": "1"}
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture(scope="module")
def reference(tiny, smollm2, tmp_path_factory) -> Path:
    """The uninterrupted run (in this process, with the session's model)."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    summary = run_sweep(tiny, out, progress=False, loaded={"smollm2-135m-instruct": smollm2})
    assert not sweep_failed(summary), summary
    return out


def tables_of(out: Path, unit_hash: str) -> dict[str, object]:
    """Every table and tensor a unit stored, by path relative to its run (links to other units not followed)."""
    run = unit_dir(out, unit_hash) / "run"
    found = {}
    for root, dirs, files in os.walk(run):
        for name in files:
            path = Path(root) / name
            rel = str(path.relative_to(run))
            if name.endswith(".parquet"):
                found[rel] = pd.read_parquet(path)
            elif name.endswith(".safetensors"):
                found[rel] = load_file(path)["resid"]
    return found


def assert_same_results(out: Path, reference: Path) -> None:
    units = [u.hash for u in plan_units(SweepConfig.from_dict(TINY))]
    assert sorted(p.name for p in (out / "units").iterdir()) == sorted(units)  # no unit twice, none extra
    for h in units:
        assert (unit_dir(out, h) / MARKER).exists()
        assert not (unit_dir(out, h) / ".partial").exists() and not (unit_dir(out, h) / "error.txt").exists()
        mine, theirs = tables_of(out, h), tables_of(reference, h)
        assert sorted(mine) == sorted(theirs) and mine, h
        for name, table in theirs.items():
            if isinstance(table, np.ndarray):
                np.testing.assert_allclose(mine[name], table, rtol=1e-5, atol=1e-5, err_msg=name)
            else:
                pd.testing.assert_frame_equal(mine[name], table, check_exact=False, rtol=1e-5, atol=1e-5, obj=name)
        manifest = json.loads((unit_dir(out, h) / "run" / "manifest.json").read_text())
        if "shards" in manifest:  # a collect run: every example once, in order
            assert [s["start"] for s in manifest["shards"]] == list(range(TINY["collect"]["limit"]))
            assert manifest["complete"] and manifest["n_examples"] == TINY["collect"]["limit"]


def progress_state(out: Path) -> list[tuple[str, int]]:
    """What the sweep has written under units/ (files and links), bar each attempt's own unit.json.

    The sweep is running while this walks: an atomic write's temporary file can be renamed away between
    the listing and its stat, so a file that vanishes is left out (the rename shows up on the next look).
    """
    state = []
    for root, dirs, files in os.walk(out / "units"):
        for name in [*files, *dirs]:
            path = Path(root) / name
            if name == "unit.json":
                continue
            try:
                size = path.lstat().st_size if not path.is_dir() else 0
            except FileNotFoundError:
                continue
            state.append((str(path.relative_to(out)), size))
    return sorted(state)


def test_sigkill_at_random_points_then_rerun_equals_an_uninterrupted_run(tiny, reference, one_thread, tmp_path):
    rng = random.Random(20240611)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "workbench.cli", "sweep", str(tiny), "--out", str(out), "--no-progress"]
    log = open(tmp_path / "attempts.log", "w")
    kills = 0
    for attempt in range(4):
        before = progress_state(out) if out.exists() else []
        process = subprocess.Popen(command, stdout=log, stderr=log, env=one_thread)
        if rng.random() < 0.2:  # a kill during start-up, before anything of this attempt is written
            time.sleep(rng.uniform(0.5, 4.0))
        else:  # a kill at a random moment after this attempt's next write
            deadline = time.monotonic() + 240
            while process.poll() is None and time.monotonic() < deadline:
                if out.exists() and progress_state(out) != before:
                    break
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
        if process.poll() is not None:
            break  # it finished first
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    finish = subprocess.run(command, capture_output=True, text=True, timeout=600, env=one_thread)
    assert finish.returncode == 0, finish.stdout + finish.stderr
    assert kills >= 3, (tmp_path / "attempts.log").read_text()
    assert_same_results(out, reference)


def test_ray_executor_on_a_local_two_worker_cluster_gives_the_same_results(tiny, reference, tmp_path):
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    config = json.loads(tiny.read_text())
    config["sweep"]["models"] = [{"name": "smollm2-135m-instruct", "device_map": "cpu"}]  # passed to accelerate
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": 100 * 1024 ** 2,
                                                            "include_dashboard": False})
    try:
        summary = run_sweep(SweepConfig.from_dict(config), tmp_path / "ray", executor="ray", workers=2,
                            address=cluster.address, progress=False)
    finally:
        cluster.shutdown()
    assert not sweep_failed(summary), summary
    assert set(summary["status"]) == {"ran"}
    assert summary["worker"].nunique() >= 2  # the units ran in more than one worker process
    assert_same_results(tmp_path / "ray", reference)
