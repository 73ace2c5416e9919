"""Shared fixtures: the real SmolLM2 (loaded once per session from the cached conversion), a small
collected run on it, its tokenizer alone, and a tiny randomly initialised llama for fast unit tests.

A test is marked ``slow`` exactly when it loads the real model: when any fixture it uses, directly or through
other fixtures, is one of ``REAL_MODEL_FIXTURES``. So the fast tier (``pytest -m "not slow"``) is the tests that
load no real model, and nobody has to remember a marker.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

os.environ.setdefault("WORKBENCH_CACHE", str(Path.home() / ".cache" / "confidence-workbench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the hub; read when huggingface_hub is imported

REAL_MODEL_FIXTURES = frozenset({"smollm2", "smollm2_nnsight", "smollm2_run"})


def pytest_collection_modifyitems(config, items):
    """Mark slow every test whose fixture closure (all fixtures it needs, transitively) loads the real model."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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
def smollm2_tokenizer():
    """SmolLM2's tokenizer alone, from the converted checkpoint (converted once, shared with the model fixtures);
    loading it takes no model weights, so tests that need only the tokenizer stay in the fast tier."""
    from transformers import AutoTokenizer

    from workbench.backends.loading import MODELS, converted_checkpoint

    path, _ = converted_checkpoint(MODELS["smollm2-135m-instruct"])
    return AutoTokenizer.from_pretrained(path)


def tiny_llama(path: Path, tok, n_layers: int = 2) -> Path:
    """A randomly initialised llama (d_model 64, ``n_layers`` blocks) with SmolLM2's tokenizer, saved at ``path``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=n_layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A 2-layer randomly initialised llama with SmolLM2's tokenizer, saved as a local checkpoint."""
    return tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", smollm2_tokenizer)


@pytest.fixture(scope="session")
def tiny4_checkpoint(tmp_path_factory, smollm2_tokenizer) -> Path:
    """The same with 4 blocks: enough layers for patching's layer gradient (it needs 3)."""
    return tiny_llama(tmp_path_factory.mktemp("tiny4") / "tiny-llama-4", smollm2_tokenizer, n_layers=4)


@pytest.fixture(scope="session")
def tiny_probed_run(tiny_checkpoint, tmp_path_factory):
    """10 items collected on the tiny llama (5 marked correct: a random model is never right) with a stored probes
    result (logistic and diffmeans, 2 folds, 2 seeds, at confidence_slot and answer_last): what ``wb.explore`` reads."""
    from workbench.analyses.probe_layers import probe_layers
    from workbench.backends import load_model
    from workbench.collect import collect

    model = load_model(str(tiny_checkpoint), device="cpu")
    raw = collect(out=tmp_path_factory.mktemp("explore") / "raw", loaded=model, model=str(tiny_checkpoint), limit=10,
                  max_answer_tokens=3, batch_size=5, progress=False)
    run = with_correct(raw, raw.path.parent / "run", [1, 2, 3, 7, 8])
    probe_layers(run, ("confidence_slot", "answer_last"), folds=2, seeds=(0, 1), n_boot=10)  # logistic and diffmeans
    return run


def with_correct(run, path: Path, correct_ids: list[int]):
    """A copy of ``run`` whose examples ``correct_ids`` are marked correct and every other one incorrect.

    A small model is rarely right, so tests that need both classes choose them; every other number (residuals,
    confidences, answers) stays the model's own.
    """
    from workbench.store import open_run

    shutil.copytree(run.path, path)
    for shard in sorted((path / "records").glob("*.parquet")):
        frame = pd.read_parquet(shard)
        frame["correct"] = frame["example_id"].isin(correct_ids)
        frame.to_parquet(shard, index=False)
    return open_run(path)


@pytest.fixture(scope="session")
def correct_copy():
    """``with_correct``: a copy of a run with chosen correct examples."""
    return with_correct


def _module_loader(folder: str):
    root = Path(__file__).resolve().parents[1] / folder

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{folder}_{name}", root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while being defined
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def script():
    """``script("make_api_docs")``: a module of scripts/ loaded in this process, so a test calls its ``main(argv)``
    without starting another Python (each start imports torch and the package again: seconds)."""
    return _module_loader("scripts")


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script("patching_speed")``: a module of benchmarks/ loaded in this process, as ``script`` does."""
    return _module_loader("benchmarks")
