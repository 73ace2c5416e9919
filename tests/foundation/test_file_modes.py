"""Stored files honour the umask (atomic writes go through 0600 temporary files and 0700 directories)."""

from __future__ import annotations

import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from workbench.analyses.probe_layers import probe_layers
from workbench.analyses.synthetic import make_run
from workbench.finetune.adapter import _publish
from workbench.store.provenance import current_umask, honour_umask, write_bytes_atomic


@pytest.fixture
def umask():
    """Run the test under a given umask, restored afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_umask_is_read_without_being_changed(umask):
    umask(0o027)
    assert current_umask() == 0o027 and current_umask() == 0o027


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_give_files_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    write_bytes_atomic(tmp_path / "a.bin", b"x")
    assert mode(tmp_path / "a.bin") == expected


def test_runs_and_results_are_readable_by_others_under_umask_022(tmp_path, umask):
    umask(0o022)
    run = make_run(tmp_path / "run", n=40)
    probe_layers(run, layers=[1], seeds=(0,), n_boot=20, probes=["logistic"])
    files = [p for p in run.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files) and any(p.suffix == ".parquet" for p in files)
    assert {p.name: mode(p) for p in files if mode(p) != 0o644} == {}
    assert {mode(p) for p in run.path.rglob("*") if p.is_dir()} == {0o755}


def test_published_directories_made_with_mkdtemp_follow_the_umask(tmp_path, umask):
    umask(0o022)
    import tempfile

    tmp = tempfile.mkdtemp(dir=tmp_path)  # 0700, as the adapter and merged-model writers make them
    save_file({"w": torch.zeros(2)}, os.path.join(tmp, "adapter.safetensors"))
    _publish(tmp_path / os.path.basename(tmp), tmp_path / "adapter")
    assert mode(tmp_path / "adapter") == 0o755 and mode(tmp_path / "adapter" / "adapter.safetensors") == 0o644


def test_honour_umask_walks_a_tree(tmp_path, umask):
    umask(0o022)
    (tmp_path / "d" / "e").mkdir(parents=True, mode=0o700)
    (tmp_path / "d" / "e" / "f").write_bytes(b"")
    os.chmod(tmp_path / "d" / "e" / "f", 0o600)
    os.chmod(tmp_path / "d", 0o700)
    honour_umask(tmp_path / "d")
    assert [mode(tmp_path / p) for p in ("d", "d/e", "d/e/f")] == [0o755, 0o755, 0o644]


@pytest.mark.slow
def test_the_model_cache_conversion_is_readable_under_umask_022(tmp_path, umask, monkeypatch):
    from workbench.backends.loading import MODELS, converted_checkpoint

    umask(0o022)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    path, _ = converted_checkpoint(MODELS["smollm2-135m-instruct"])  # a fresh conversion into an empty cache
    assert (path / "model.safetensors").exists()
    assert {p.name: oct(mode(p)) for p in path.iterdir() if mode(p) != 0o644} == {}
    assert mode(path) == 0o755
