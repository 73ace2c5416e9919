"""``run_patching`` (what ``workbench patch`` runs) on a Gemma 3 model takes the exact fast path and attribution.

A tiny random Gemma 3 (sliding windows, softcap) behind TransformerLens, and a run store whose examples are
token sequences of its vocabulary (the residuals stored are random: the attn_out sources are recomputed by
a forward of the model, as for any site a run did not store).
"""

from __future__ import annotations

import numpy as np

from workbench.analyses.patching.runner import run_patching
from workbench.prompts import ROLES, get_vocabulary
from workbench.store import RunWriter, config_hash, open_run

TEMPLATE = {"name": "synthetic", "system": None, "user": "{question}", "assistant": "{answer}"}


def token_run(path, n_examples: int, n_layers: int, d_model: int):
    """A run store of ``n_examples`` sequences over token ids 4..85, half of them marked correct."""
    rng = np.random.default_rng(0)
    vocab = get_vocabulary("digits")
    content = {"model": "tiny-gemma3", "n": n_examples}
    header = {"config": content, "config_hash": config_hash(content), "model": {"name": "tiny-gemma3"},
              "roles": list(ROLES), "layers": [f"blocks.{i}.hook_resid_pre" for i in range(n_layers)]
              + [f"blocks.{n_layers - 1}.hook_resid_post"], "d_model": d_model, "dtype": "float32",
              "vocabulary": vocab.to_dict(), "template": TEMPLATE, "n_items": n_examples}
    writer, records = RunWriter(path, header), []
    for i in range(n_examples):
        ids = [1, 5, 6, *rng.integers(4, 86, size=4 + i % 3).tolist(), 7, 40 + i, 8, 9]
        pre = len(ids) - 5
        probs = rng.dirichlet(np.ones(len(vocab)))
        records.append({"item_id": f"item-{i}", "family": "synthetic", "question": f"q{i}", "gold": "g",
                        "answer": "g" if i % 2 else "x", "correct": bool(i % 2), "verbal_confidence": 50.0,
                        "softmax_expected": float(probs @ np.asarray(vocab.values)), "argmax": 0.0,
                        "confidence_probs": probs.tolist(), "input_ids": ids, "pos_pre_answer": pre,
                        "pos_answer_last": pre + 1, "pos_post_answer": pre + 2, "pos_confidence_slot": len(ids) - 1})
    residuals = rng.standard_normal((n_examples, n_layers + 1, len(ROLES), d_model)).astype(np.float32)
    writer.append(records, residuals)
    writer.finish()
    return open_run(path)


def test_patch_on_gemma3_uses_the_fast_path_and_attribution(make_backends, tmp_path):
    backend = make_backends("gemma3_text")["transformer_lens"]
    run = token_run(tmp_path / "run", 6, backend.n_layers, backend.d_model)
    result = run_patching(run, model=backend, figures=False, pairs="random", n_pairs=3, site="attn_out",
                          controls=(), n_boot=50, chunk_pairs=2)
    effects = result["effects"]
    assert (effects["method"] == "fast").all() and len(effects) == 3 * backend.n_layers
    assert np.abs(effects["shift"]).max() > 1e-4  # the patches did something
    attribution = result["attribution"]
    assert len(attribution) == len(effects) and attribution["estimate"].notna().all()
    notes = result.manifest["summary"]["notes"]
    assert "reference" not in notes and "skipped" not in notes
