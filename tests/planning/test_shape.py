"""A model's shape from its config.json alone: the six shipped configs (parameters as published, Gemma 3's fields
left to transformers' defaults), registry names read from the converted checkpoint's config, and one error naming
the field a config lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.planning.devices import DEVICES, device_spec
from workbench.planning.shape import ModelShape

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "model_configs"
PUBLISHED = {  # parameters as the model cards state them (billions); text-only models: no other parameters
    "llama-3.1-8b-instruct": 8.03, "llama-3.1-70b-instruct": 70.55, "qwen2.5-7b-instruct": 7.62,
    "qwen2.5-72b-instruct": 72.71, "gemma-3-12b-it": 12.19, "gemma-3-27b-it": 27.43,
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_each_shipped_config_reads_with_its_published_parameter_count(name):
    shape = ModelShape.read(str(CONFIGS / name))
    assert shape.parameters / 1e9 == pytest.approx(PUBLISHED[name], abs=0.006)
    vision = shape.parameters - shape.text_parameters  # Gemma 3 loads its SigLIP vision tower too (~0.42B)
    if shape.model_type == "gemma3":
        assert 0.35e9 < vision < 0.5e9
    else:
        assert abs(vision) < 1e-3 * shape.parameters  # norms and biases only: the matmul formula is the model


def test_gemma_3_fields_absent_from_its_config_come_from_transformers_defaults():
    raw = json.loads((CONFIGS / "gemma-3-12b-it" / "config.json").read_text())
    assert "head_dim" not in raw["text_config"] and "vocab_size" not in raw["text_config"]
    shape = ModelShape.read(str(CONFIGS / "gemma-3-12b-it"))
    assert (shape.head_dim, shape.d_vocab, shape.tied) == (256, 262208, True)  # not 3840 / 16 = 240
    assert shape.window.count(1024) == 40 and shape.window.count(None) == 8  # five sliding blocks, then a global one
    assert shape.attended(4000) == pytest.approx((40 * 1024 + 8 * 4000) / 48)


def test_a_config_json_file_and_a_registry_name_read_like_a_directory(tmp_path, monkeypatch):
    assert ModelShape.read(str(CONFIGS / "qwen2.5-7b-instruct" / "config.json")).d_model == 3584
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    with pytest.raises(WorkbenchError, match="not been converted yet.*models --install smollm2-135m-instruct"):
        ModelShape.read("smollm2-135m-instruct")
    converted = tmp_path / "smollm2-135m-instruct-0123456789abcdef"
    converted.mkdir()
    (converted / "workbench-conversion.json").write_text("{}")
    (converted / "config.json").write_text((CONFIGS / "llama-3.1-8b-instruct" / "config.json").read_text())
    assert ModelShape.read("smollm2-135m-instruct").source == str(converted / "config.json")


def _write(tmp_path: Path, raw: dict) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(raw))
    return folder


@pytest.mark.parametrize("remove, named", [
    ("num_hidden_layers", "'num_hidden_layers'"), ("model_type", "'model_type'"),
    ("text_config.intermediate_size", "'text_config.intermediate_size'"),
])
def test_a_config_without_a_field_it_needs_is_one_error_naming_the_field(tmp_path, capsys, remove, named):
    source = "gemma-3-27b-it" if remove.startswith("text_config") else "llama-3.1-8b-instruct"
    raw = json.loads((CONFIGS / source / "config.json").read_text())
    holder = raw["text_config"] if remove.startswith("text_config") else raw
    del holder[remove.rpartition(".")[2]]
    folder = _write(tmp_path, raw)
    with pytest.raises(WorkbenchError, match=named):
        ModelShape.read(str(folder))
    assert main(["plan", "--model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "Traceback" not in err


def test_bad_values_and_unknown_types_are_named_too(tmp_path):
    raw = json.loads((CONFIGS / "llama-3.1-8b-instruct" / "config.json").read_text())
    with pytest.raises(WorkbenchError, match="has 'wide' for 'hidden_size'"):
        ModelShape.read(str(_write(tmp_path, {**raw, "hidden_size": "wide"})))
    with pytest.raises(WorkbenchError, match="cannot read model_type 'not-a-model'"):
        ModelShape.read(str(_write(tmp_path, {**raw, "model_type": "not-a-model"})))
    with pytest.raises(WorkbenchError, match="holds no config.json"):
        ModelShape.read(str(tmp_path))
    with pytest.raises(WorkbenchError, match="unknown model 'nothing-here'"):
        ModelShape.read("nothing-here")


def test_an_unknown_device_lists_the_choices(capsys):
    with pytest.raises(WorkbenchError, match="Did you mean 'h100'.*h100, h200, a100, cpu"):
        device_spec("h10")
    assert main(["plan", "--model", str(CONFIGS / "qwen2.5-7b-instruct"), "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device: must be one of h100, h200, a100, cpu" in err
    assert all(row.source and row.bandwidth_gbs > 0 and row.bf16_tflops >= row.fp32_tflops for row in DEVICES.values())
