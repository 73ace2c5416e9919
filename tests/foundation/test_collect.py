"""Collecting on the real SmolLM2: read-outs are exact, batches equal single rows, a killed collect resumes."""

from __future__ import annotations

import json
import math
import re
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.collect import collect
from workbench.datasets import load_dataset
from workbench.elicit import Elicitor, ElicitSettings
from workbench.errors import WorkbenchError
from workbench.prompts import PromptTemplate, get_template, get_vocabulary
from workbench.prompts.render import encode



def test_run_layout_and_roles(smollm2_run, smollm2):
    frame = smollm2_run.records
    assert smollm2_run.n_examples == 24 and smollm2_run.manifest["complete"]
    assert smollm2_run.n_blocks == smollm2.n_layers and len(smollm2_run.readouts) == smollm2.n_layers + 1
    assert smollm2_run.roles[-1] == "confidence_slot"
    assert set(frame["family"]) == {"arithmetic", "capitals", "elements"}
    for row in frame.itertuples():
        assert 0 <= row.pos_pre_answer <= row.pos_answer_last < row.pos_post_answer <= row.pos_confidence_slot
        assert row.pos_confidence_slot == len(row.input_ids) - 1
        assert 0.0 < row.vocab_mass <= 1.0 + 1e-6 and math.isclose(sum(row.confidence_probs), row.vocab_mass, rel_tol=1e-6)
        assert 0.0 <= row.softmax_expected <= 100.0 and row.gold_logprob < 0
    manifest = smollm2_run.manifest
    assert manifest["model"]["checksum"].startswith("sha256:") and len(manifest["config_hash"]) == 64
    assert manifest["versions"]["torch"] and manifest["versions"]["transformers"]


def test_stored_residuals_equal_a_fresh_forward(smollm2_run, smollm2):
    row = smollm2_run.records.iloc[3]
    ids = torch.tensor([list(row.input_ids)])
    positions = torch.tensor([[row.pos_pre_answer, row.pos_answer_last, row.pos_post_answer, row.pos_confidence_slot]])
    hooks = smollm2_run.readouts
    out = smollm2.run(ids, cache=hooks, cache_positions=positions)
    for layer in (0, 7, len(hooks) - 1):
        for r, role in enumerate(smollm2_run.roles):
            fresh = out.activations[hooks[layer]][0, r]
            stored = torch.from_numpy(smollm2_run.residuals(layer, role)[3])
            assert float((fresh - stored).abs().max() / fresh.abs().max()) < 1e-4, (layer, role)


def test_multi_token_confidences_are_exact_products(smollm2_run, smollm2):
    """P("87") = P("8") P("7" | "8"); P("8") also carries P(no digit follows), each from plain full forwards."""
    row = smollm2_run.records.iloc[0]
    ids = torch.tensor([list(row.input_ids)])
    tok = smollm2.tokenizer
    digits = [encode(tok, str(d))[0] for d in range(10)]

    def logprobs_after(text: str) -> torch.Tensor:
        extra = torch.tensor([encode(tok, text)], dtype=torch.long) if text else torch.zeros(1, 0, dtype=torch.long)
        return smollm2.run(torch.cat([ids, extra], 1)).logits[0].float().log_softmax(-1)

    slot = logprobs_after("")[-1]
    after8 = logprobs_after("8")[-1]
    p87 = math.exp(slot[digits[8]] + after8[digits[7]])
    p8 = math.exp(slot[digits[8]]) * (1 - float(after8[digits].exp().sum()))
    assert abs(row.confidence_probs[87] - p87) < 1e-5
    assert abs(row.confidence_probs[8] - p8) < 1e-5


@pytest.mark.parametrize("template", ["answer_then_confidence", "confidence_only"])
def test_batch_equals_one_at_a_time(smollm2, template):
    items = load_dataset("all", limit=3, seed=3)
    elicitor = Elicitor(smollm2, ElicitSettings(template=get_template(template), vocabulary=get_vocabulary("percent")))
    records, resid = elicitor.batch(items)
    for i in (0, 2):
        single, single_resid = elicitor.batch(items[i:i + 1])
        assert single[0]["answer"] == records[i]["answer"] and single[0]["input_ids"] == records[i]["input_ids"]
        assert np.abs(np.array(single[0]["confidence_probs"]) - records[i]["confidence_probs"]).max() < 1e-4
        scale = np.abs(resid[i]).max(axis=-1, keepdims=True)
        assert (np.abs(single_resid[0] - resid[i]) / scale).max() < 1e-4


def test_nnsight_backend_collects_the_same_numbers(smollm2, smollm2_nnsight, tmp_path):
    a = collect(out=tmp_path / "tl", loaded=smollm2, limit=2, batch_size=2, progress=False)
    b = collect(out=tmp_path / "nn", loaded=smollm2_nnsight, limit=2, batch_size=2, progress=False, backend="nnsight")
    assert list(a.records["answer"]) == list(b.records["answer"])
    assert np.abs(a.confidence_probs() - b.confidence_probs()).max() < 1e-4
    x, y = a.residuals(20, "confidence_slot"), b.residuals(20, "confidence_slot")
    assert np.abs(x - y).max() / np.abs(y).max() < 1e-4


def test_killed_collect_resumes_without_loss_or_duplicates(smollm2, tmp_path):
    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "workbench.cli", "collect", "--limit", "4", "--batch-size", "2", "--seed", "5",
            "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    manifest = out / "manifest.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if manifest.exists() and json.loads(manifest.read_text())["n_examples"] >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(manifest.read_text())["n_examples"]
    assert 2 <= done < 4, "the kill should land mid-run"
    assert main(["collect", "--limit", "4", "--batch-size", "2", "--seed", "5", "--out", str(out)]) == 0
    resumed = collect(out=out, loaded=smollm2, limit=4, batch_size=2, seed=5, progress=False)
    fresh = collect(out=tmp_path / "fresh", loaded=smollm2, limit=4, batch_size=2, seed=5, progress=False)
    assert list(resumed.records["example_id"]) == list(range(4))
    assert list(resumed.records["item_id"]) == list(fresh.records["item_id"])
    assert list(resumed.records["answer"]) == list(fresh.records["answer"])
    np.testing.assert_allclose(resumed.residuals(10, "answer_last"), fresh.residuals(10, "answer_last"), rtol=1e-4, atol=1e-4)


def test_bad_inputs_fail_cleanly(smollm2, smollm2_run, tmp_path, capsys):
    with pytest.raises(WorkbenchError, match="no confidence slot"):
        PromptTemplate(name="bad", user="{question}", assistant="Answer: {answer}")
    with pytest.raises(WorkbenchError, match="different config"):
        collect(out=smollm2_run.path, loaded=smollm2, limit=5, progress=False)
    assert smollm2_run.n_examples == 24 and len(smollm2_run.records) == 24  # the stored run is intact
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q1?", "answer": "A"}\n{"question": "Q2?"}\n')
    assert main(["collect", "--dataset", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "2" in err and "Traceback" not in err
    assert main(["collect", "--model", "gpt-17", "--out", str(tmp_path / "o2")]) == 2
    assert "smollm2-135m-instruct" in capsys.readouterr().err


def test_a_tokenizer_without_chat_template_gets_plain_text_prompts(smollm2_tokenizer):
    """Base models (gemma-3-270m's GGUF tokenizer) have no chat template: BOS, user text, then assistant text."""
    import copy

    from workbench.prompts.render import answer_prompt, confidence_segments
    from workbench.prompts.templates import get_template

    tokenizer = copy.copy(smollm2_tokenizer)
    tokenizer.chat_template = None
    template = get_template("answer_then_confidence")
    prompt = answer_prompt(tokenizer, template, "What is the capital of Peru?")
    assert prompt.startswith(tokenizer.bos_token) and prompt.endswith("Question: What is the capital of Peru?\nAnswer:")
    before, answer, after = confidence_segments(tokenizer, template, "What is the capital of Peru?", "Lima")
    assert before == prompt and answer == " Lima" and after == "\nConfidence: "


@pytest.mark.parametrize(("fields", "message"), [
    ({"limit": "abc"}, "collect.limit: must be an integer >= 1 or 'all', got 'abc'"),
    ({"limit": 2.5}, "collect.limit: must be an integer"),
    ({"batch_size": "8"}, "collect.batch_size: must be an integer >= 1, got '8'"),
    ({"seed": True}, "collect.seed: must be an integer >= 0, got True"),
])
def test_config_fields_of_the_wrong_type_are_one_clear_error(fields, message):
    from workbench.collect import CollectConfig

    with pytest.raises(WorkbenchError, match=re.escape(message)):
        CollectConfig(**fields)
