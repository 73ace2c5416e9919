"""A tiny randomly initialised llama behind the TransformerLens backend, and a small run collected with it:
fast fixtures for the public API (no pretrained weights are loaded, only SmolLM2's tokenizer)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_path(tiny_checkpoint):
    """A 2-block llama (d_model 64) with SmolLM2's tokenizer, saved as a local checkpoint (``tiny_checkpoint``)."""
    return tiny_checkpoint


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
