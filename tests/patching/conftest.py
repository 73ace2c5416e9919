"""Patching test helpers: small synthetic run stores (no model). ``correct_copy`` lives in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.prompts import ROLES, get_vocabulary
from workbench.store import RunWriter, config_hash, open_run

TEMPLATE = {"name": "synthetic", "system": None, "user": "{question}", "assistant": "{answer}"}


def make_run(path: Path, correct: list[bool], *, n_layers: int = 4, d_model: int = 8, seed: int = 0,
             vocabulary: str = "digits", model: str = "synthetic", template: dict | None = None,
             prefix: tuple[int, ...] = (1, 2, 3, 4)):
    """A run store with fake records and residuals: one example per entry of ``correct``."""
    rng = np.random.default_rng(seed)
    vocab = get_vocabulary(vocabulary)
    content = {"model": model, "seed": seed, "n": len(correct)}
    header = {"config": content, "config_hash": config_hash(content), "model": {"name": model},
              "roles": list(ROLES), "layers": [f"blocks.{i}.hook_resid_pre" for i in range(n_layers)]
              + [f"blocks.{n_layers - 1}.hook_resid_post"], "d_model": d_model, "dtype": "float32",
              "vocabulary": vocab.to_dict(), "template": template or TEMPLATE, "n_items": len(correct)}
    writer = RunWriter(path, header)
    records = []
    for i, ok in enumerate(correct):
        question = [10 + i, 11 + i, 12 + (i % 3)]
        answer = [40 + i % 5] * (1 + i % 2)
        ids = [*prefix, *question, 7, *answer, 8, 9]
        pre = len(prefix) + len(question)  # the token before the answer
        probs = rng.dirichlet(np.ones(len(vocab)))
        records.append({
            "item_id": f"item-{i}", "family": "synthetic", "question": f"question {i}?", "gold": "g",
            "answer": "g" if ok else "x", "correct": bool(ok), "verbal_confidence": 50.0,
            "softmax_expected": float(probs @ np.asarray(vocab.values)), "argmax_confidence": 0.0,
            "confidence_probs": probs.tolist(), "input_ids": ids,
            "pos_pre_answer": pre, "pos_answer_last": pre + len(answer), "pos_post_answer": pre + len(answer) + 1,
            "pos_confidence_slot": len(ids) - 1,
        })
    writer.append(records, rng.standard_normal((len(correct), n_layers + 1, len(ROLES), d_model)).astype(np.float32))
    writer.finish()
    return open_run(path)


@pytest.fixture
def synthetic_run(tmp_path):
    """10 examples, 3 of them correct."""
    return make_run(tmp_path / "run", [True, False, False, True, False, False, False, True, False, False])


@pytest.fixture
def run_factory():
    """``make_run`` (synthetic run stores) for tests that need several."""
    return make_run
