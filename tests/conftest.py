"""Shared fixtures: the real SmolLM2 (loaded once per session from the cached conversion), a small
collected run on it, and a tiny randomly initialised llama for fast unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WORKBENCH_CACHE", str(Path.home() / ".cache" / "confidence-workbench"))


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct behind the TransformerLens backend."""
    from workbench.backends import load_model

    return load_model("smollm2-135m-instruct", backend="transformer_lens", device="cpu")


@pytest.fixture(scope="session")
def smollm2_nnsight():
    """SmolLM2-135M-Instruct behind the nnsight backend (its own copy of the weights)."""
    from workbench.backends import load_model

    return load_model("smollm2-135m-instruct", backend="nnsight", device="cpu")


@pytest.fixture(scope="session")
def smollm2_run(smollm2, tmp_path_factory):
    """A small real run: 24 items over every built-in family, all layers and roles."""
    from workbench.collect import collect

    return collect(out=tmp_path_factory.mktemp("runs") / "smollm2", loaded=smollm2, limit=24, seed=0,
                   batch_size=12, progress=False)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, smollm2) -> Path:
    """A 2-layer randomly initialised llama with SmolLM2's tokenizer, saved as a local checkpoint."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = smollm2.tokenizer
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    path = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path
