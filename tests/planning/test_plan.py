"""``wb.plan`` and ``workbench plan``: a frozen summary, a table ending in one JSON line, and the README's plans of
the six shipped configs, which must be what plan prints today."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

import workbench as wb
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
README_PLANS = {  # the README's "Planning a big run": the 70B-class models on an H200, the rest on an H100
    "llama-3.1-8b-instruct": "h100", "qwen2.5-7b-instruct": "h100", "gemma-3-12b-it": "h100",
    "gemma-3-27b-it": "h100", "llama-3.1-70b-instruct": "h200", "qwen2.5-72b-instruct": "h200",
}


def readme_block(name: str, device: str) -> str:
    """What the README shows of one plan: the command, then the table without the notes every plan prints."""
    text = wb.plan(model=f"data/model_configs/{name}", device=device).text()
    kept = [line for line in text.splitlines() if not line.startswith(("note: times", "note: peak"))]
    return "\n".join([f"$ workbench plan --model data/model_configs/{name} --device {device}", *kept]).rstrip()


def test_plan_returns_a_frozen_summary_and_the_cli_ends_with_its_json(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    plan = wb.plan(model="data/model_configs/qwen2.5-7b-instruct", items=500, batch_size=32, device="h200")
    assert isinstance(plan, wb.Plan) and plan.fits and plan.collect.peak < plan.patch.peak < 141 * 2**30
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.store_bytes = 0
    assert plan.store_bytes == plan.residual_bytes + plan.records_bytes + (plan.store_bytes - plan.residual_bytes
                                                                          - plan.records_bytes)
    assert plan.residual_bytes > 500 * 29 * 4 * 3584 * 4  # 500 items x 29 read-outs x 4 roles x d_model x float32
    assert main(["plan", "--model", "data/model_configs/qwen2.5-7b-instruct", "--items", "500", "--batch-size", "32",
                 "--device", "h200"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == json.loads(json.dumps(plan.to_dict()))
    assert "\n".join(lines[:-1]) == plan.text()
    assert re.search(r"^collect .* on h200$", plan.text(), re.M) and "probe" in lines[-1]


def test_more_work_costs_more_and_bigger_models_need_more(monkeypatch):
    monkeypatch.chdir(ROOT)
    model = "data/model_configs/llama-3.1-8b-instruct"
    small = wb.plan(model=model)
    assert wb.plan(model=model, items=400).collect.flops > 1.9 * small.collect.flops
    assert wb.plan(model=model, batch_size=64).collect.peak > small.collect.peak
    fewer = wb.plan(model=model, blocks=(0, 8, 16), controls=(), attribution=False)
    assert fewer.patch.flops < small.patch.flops / 10 and fewer.store_bytes == small.store_bytes
    big = wb.plan(model="data/model_configs/llama-3.1-70b-instruct")
    assert big.fits is False and any("the weights alone" in note for note in big.notes)
    assert wb.plan(model="data/model_configs/llama-3.1-70b-instruct", device="h200").fits is True
    assert wb.plan(model=model, device="cpu").fits is None


def test_the_readme_gives_plans_output_for_each_shipped_config(monkeypatch):
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    assert set(README_PLANS) == {p.name for p in (ROOT / "data" / "model_configs").iterdir() if p.is_dir()}
    for name, device in README_PLANS.items():
        block = readme_block(name, device)
        assert block in readme, f"README is out of date for {name}; plan prints now:\n{block}"
