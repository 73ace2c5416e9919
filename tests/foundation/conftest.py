"""A tiny randomly initialised llama behind the TransformerLens backend, and a small run collected with it:
fast fixtures for the public API (no pretrained weights are loaded, only SmolLM2's tokenizer)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """A 2-block llama (d_model 64) with SmolLM2's tokenizer, saved as a local checkpoint."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from workbench.backends.loading import MODELS, converted_checkpoint

    source, _ = converted_checkpoint(MODELS["smollm2-135m-instruct"])
    tok = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    path = tmp_path_factory.mktemp("tiny-api") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_path):
    import workbench as wb

    return wb.load_model(str(tiny_path), device="cpu", progress=False)


@pytest.fixture(scope="session")
def tiny_run(tiny_model, tiny_path, tmp_path_factory):
    """6 capitals items collected on the tiny model (answers are nonsense; the numbers are real)."""
    import workbench as wb

    return wb.collect(out=tmp_path_factory.mktemp("tiny-runs") / "run", model=str(tiny_path), loaded=tiny_model,
                      dataset="capitals", limit=6, batch_size=3, max_answer_tokens=4, progress=False)
