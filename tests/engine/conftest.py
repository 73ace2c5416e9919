"""Tiny randomly initialised decoders, one per row of the architecture table, and a local word-level tokenizer.

Built locally in a second each (2-3 layers, d_model 64, the real config classes); nothing is downloaded and no
real model is loaded. Sliding windows (4 tokens) are shorter than the test sequences (9-12 tokens), so the
sliding layers' masks matter; Gemma 3 also has final-logit softcapping and its local/global rotary.
"""

from __future__ import annotations

import copy

import pytest
import torch

VOCAB = 96
COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
              initializer_range=0.2)  # larger than the default 0.02, so outputs are far from uniform


def _configs() -> dict:
    from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    return {
        "llama": (LlamaConfig(**COMMON, num_hidden_layers=2, architectures=["LlamaForCausalLM"]), "LlamaForCausalLM"),
        "mistral": (MistralConfig(**COMMON, num_hidden_layers=2, sliding_window=4,
                                  architectures=["MistralForCausalLM"]), "MistralForCausalLM"),
        "qwen2": (Qwen2Config(**COMMON, num_hidden_layers=3, use_sliding_window=True, sliding_window=4,
                              max_window_layers=1, architectures=["Qwen2ForCausalLM"]), "Qwen2ForCausalLM"),
        "qwen3": (Qwen3Config(**COMMON, num_hidden_layers=2, head_dim=16, architectures=["Qwen3ForCausalLM"]),
                  "Qwen3ForCausalLM"),
        "gemma3_text": (Gemma3TextConfig(**COMMON, num_hidden_layers=3, head_dim=16, sliding_window=4,
                                         layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                                         final_logit_softcapping=3.0, architectures=["Gemma3ForCausalLM"]),
                        "Gemma3ForCausalLM"),
    }


ROWS = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text")


def tiny_model(row: str, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised model of ``row`` (norm weights randomised too, so no layer is an identity)."""
    import transformers

    config, cls = _configs()[row]
    torch.manual_seed(seed)
    model = getattr(transformers, cls)(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.2 * torch.randn_like(param))
    return model.to(dtype).eval()


def backends(row: str, tokenizer, dtype: torch.dtype = torch.float32) -> dict:
    """The same weights behind plain transformers, TransformerLens and nnsight (each its own copy)."""
    from workbench.backends.nnsight import NNsightBackend
    from workbench.backends.transformer_lens import TransformerLensBackend

    model = tiny_model(row, dtype)
    info = {"name": f"tiny-{row}", "hf_name": f"tiny-{row}", "checksum": None}
    return {"plain": model, "transformer_lens": TransformerLensBackend(copy.deepcopy(model), tokenizer, info),
            "nnsight": NNsightBackend(copy.deepcopy(model), tokenizer, info)}


@pytest.fixture(scope="session")
def word_tokenizer(tmp_path_factory):
    """A word-level tokenizer over "t0".."t85" and the digits "0".."9" (ids 86..95), saved and reloaded
    (TransformerLens reads its name_or_path)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tokenizer")
    words = {f"t{i}": i for i in range(VOCAB - 10)} | {str(d): VOCAB - 10 + d for d in range(10)}  # digits last
    core = Tokenizer(models.WordLevel(words, unk_token="t3"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="t0", bos_token="t1", eos_token="t2",
                            unk_token="t3").save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="session")
def row_backends(word_tokenizer):
    """row -> {"plain", "transformer_lens", "nnsight"} in float32, built once per session."""
    cache: dict = {}

    def get(row: str) -> dict:
        if row not in cache:
            cache[row] = backends(row, word_tokenizer)
        return cache[row]

    return get


@pytest.fixture(scope="session")
def make_tiny():
    """``tiny_model(row, dtype)``: a fresh tiny model of an architecture row."""
    return tiny_model


@pytest.fixture(scope="session")
def make_backends(word_tokenizer):
    """``backends(row, dtype)``: fresh plain / TransformerLens / nnsight copies of one tiny model."""
    return lambda row, dtype=torch.float32: backends(row, word_tokenizer, dtype)
