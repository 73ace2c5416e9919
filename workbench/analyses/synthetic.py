"""A synthetic run store with a planted signal, written through the real ``RunWriter``: for tests, and
for trying the analyses without a model (its numbers mean nothing beyond the planted signal).

Layer ``signal_layer`` at role ``confidence_slot`` carries correctness along one direction (strength
``signal``); the confidence read-outs are drawn so the softmax expected value tracks correctness and the
argmax does not (a planted text bottleneck). Everything else is noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.layer_selection import residual_hooks
from workbench.prompts import ROLES, get_vocabulary
from workbench.store import Run, RunWriter, config_hash, open_run

def make_run(path: str | Path, *, n: int = 120, accuracy: float = 0.3, signal: float = 3.0, signal_layer: int = 2,
             seed: int = 0, nan_layer: int | None = None, correct: np.ndarray | None = None, n_blocks: int = 3,
             d_model: int = 16) -> Run:
    """Write a run of ``n`` examples (residuals [n, n_blocks + 1 read-outs, 4 roles, d_model]) and open it.
    ``correct`` fixes the labels (else a share ``accuracy`` is drawn); ``nan_layer`` puts NaN into three
    examples' activations at that layer (every role), for bad-input tests."""
    rng = np.random.default_rng(seed)
    if correct is None:
        correct = np.zeros(n, dtype=bool)
        correct[rng.choice(n, size=int(round(accuracy * n)), replace=False)] = True
    vocab = get_vocabulary("percent")
    values = np.asarray(vocab.values)
    layers = residual_hooks(n_blocks)  # the layout of a real run
    resid = rng.normal(size=(n, len(layers), len(ROLES), d_model)).astype(np.float32)
    resid[:, signal_layer, ROLES.index("confidence_slot"), 0] += signal * (correct - 0.5)
    if nan_layer is not None:
        resid[:3, nan_layer, :, :] = np.nan
    records = []
    for i in range(n):
        centre = 55 + 25 * (correct[i] - 0.5) + rng.normal(0, 8)
        logits = -0.5 * ((values - centre) / 15) ** 2
        logits[100] += 6.0  # the argmax is nearly always "100": degenerate, uninformative
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        gold_p = float(np.clip(0.8 * correct[i] + rng.uniform(0, 0.3), 1e-6, 1))
        records.append({
            "item_id": f"synthetic/{i:04d}", "family": "synthetic", "question": f"Question {i}?", "gold": "x",
            "aliases": ["x"], "answer": "x" if correct[i] else "y", "correct": bool(correct[i]),
            "answer_logprob": float(np.log(gold_p)), "answer_prob": gold_p, "answer_tokens": 1,
            "gold_logprob": float(np.log(gold_p)), "verbal_text": str(int(values[probs.argmax()])),
            "verbal_confidence": float(values[probs.argmax()]) if i % 7 else float("nan"),
            "softmax_expected": float(probs @ values), "argmax_confidence": float(values[probs.argmax()]),
            "entropy": float(-(probs * np.log(probs)).sum()), "vocab_mass": 0.99,
            "confidence_probs": probs.tolist(), "input_ids": [1, 2, 3],
            "pos_pre_answer": 0, "pos_answer_last": 1, "pos_post_answer": 2, "pos_confidence_slot": 2})
    config = {"model": "synthetic", "seed": seed, "n": n}
    header = {"config": config, "config_hash": config_hash(config),
              "model": {"name": "synthetic", "checksum": "sha256:synthetic"}, "roles": list(ROLES), "layers": layers,
              "d_model": d_model, "dtype": "float32", "vocabulary": vocab.to_dict(), "template": {}, "n_items": n}
    writer = RunWriter(path, header)
    for start in range(0, n, 50):
        writer.append(records[start:start + 50], resid[start:start + 50])
    writer.finish(accuracy=float(correct.mean()))
    return open_run(path)
