"""The collect speed-ups are exact: the shared template prefix run once and logits only where read give the
records and residuals of the plain path (answers equal, probabilities to 1e-5), on tiny models of each
architecture on the ladder and on the real SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.backends import load_model
from workbench.collect import collect
from workbench.elicit.decoding import shared_prefix_length


def test_shared_prefix_stops_before_read_positions_and_last_tokens():
    rows = [list(range(20)) + [50, 51], list(range(20)) + [60], list(range(20)) + [70, 71, 72]]
    assert shared_prefix_length(rows) == 20
    assert shared_prefix_length(rows, [[21], [15], [22]]) == 15  # a read position inside the prefix
    assert shared_prefix_length([list(range(12))] * 2) == 11  # identical rows keep their last token to run
    assert shared_prefix_length(rows, [[3], [3], [3]]) == 0  # too short to be worth a separate call
    assert shared_prefix_length(rows[:1]) == 0  # one row: nothing to share


def _tiny(kind: str, tokenizer, path):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = {"llama": lambda: LlamaForCausalLM(LlamaConfig(**common)),
             "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**common)),  # biased q/k/v projections
             "gemma3_text": lambda: Gemma3ForCausalLM(Gemma3TextConfig(**common, head_dim=16, sliding_window=512,
                                                                         layer_types=["sliding_attention",
                                                                                      "full_attention"])),
             }[kind]()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _assert_same_runs(fast, plain):
    a, b = fast.records, plain.records
    assert list(a["answer"]) == list(b["answer"]) and list(a["verbal_text"]) == list(b["verbal_text"])
    assert list(map(list, a["input_ids"])) == list(map(list, b["input_ids"]))
    assert np.abs(fast.confidence_probs() - plain.confidence_probs()).max() < 1e-5
    np.testing.assert_allclose(a["gold_logprob"], b["gold_logprob"], atol=1e-4)
    for layer in (0, len(fast.readouts) - 1):
        for role in fast.roles:
            x, y = fast.residuals(layer, role), plain.residuals(layer, role)
            assert np.abs(x - y).max() / np.abs(y).max() < 1e-5, (layer, role)


@pytest.mark.parametrize(("kind", "template"), [("llama", "answer_then_confidence"), ("llama", "confidence_only"),
                                                 ("qwen2", "answer_then_confidence"),
                                                 ("gemma3_text", "answer_then_confidence")])
def test_fast_collect_equals_plain_collect_on_tiny_models(smollm2, tmp_path, kind, template):
    model = load_model(_tiny(kind, smollm2.tokenizer, tmp_path / f"tiny-{kind}"), device="cpu")
    options = dict(loaded=model, model=str(tmp_path / f"tiny-{kind}"), dataset="all", limit=5, seed=2, batch_size=5,
                   template=template, max_answer_tokens=6, progress=False)
    fast = collect(out=tmp_path / "fast", fast=True, **options)
    plain = collect(out=tmp_path / "plain", fast=False, **options)
    _assert_same_runs(fast, plain)


@pytest.mark.slow
def test_fast_collect_equals_plain_collect_on_smollm2(smollm2, tmp_path):
    options = dict(loaded=smollm2, limit=6, seed=4, batch_size=6, progress=False)
    fast = collect(out=tmp_path / "fast", fast=True, **options)
    plain = collect(out=tmp_path / "plain", fast=False, **options)
    assert fast.manifest["config_hash"] == plain.manifest["config_hash"]  # an execution choice, not content
    _assert_same_runs(fast, plain)
