"""Cross-model patching as the seed study ran it: the fine-tuned model's state written into the base model.

Follows ``phase1/scripts/activation_patching.py`` and ``phase1/scripts/patching_controls.py`` of
github.com/synthiumjp/metacog-engineering. For each held-out item, the base model and the fine-tuned ("tuned")
model read the same tokens: the base run's sequence up to the read position. At block L the base model's output
of that block (``blocks.L.hook_resid_post``, the seed's ``h = layer(h)`` then the swap) at the read position is
replaced by the tuned model's, and the confidence is read at that same position. The seed reads at the last
prompt token (the role ``pre_answer``, where the next token is the answer); the workbench also reads at its
``confidence_slot`` (after the answer), as an extension. Both models see the base model's answer there.

Stored per item (``crossmodel_effects``: every block, so the seed's 8 layers and all blocks are both at hand):
base, tuned and patched expected confidence on the 0-1 scale, and whether the greedy next token at the read
position is unchanged by the patch. The seed's three controls at block ``n_blocks - 4`` (``crossmodel_controls``):

- ``reverse``: the base model's state into the tuned model (``patched`` = the reversed run's confidence);
- ``position``: the tuned state at the middle token (``len(tokens) // 2``, the seed's ``ctrl_pos``) written into
  the base model, the confidence still read at the read position.

The seed's formulas on these (``seed_shift``, the layers, the pass rules) are applied by the claims
(``workbench.analyses.claims``), from these tables alone. Expected confidence: the seed takes a softmax over the
logits of the numbers 0-100 that are single tokens and divides the expectation by the largest; the workbench
scores every number 0-100 exactly (multi-token numbers too) and renormalises over them, which is the same
where every number is one token (the seed's Llama 3 tokenizer) and is the exact read-out where digits split
(SmolLM2, Qwen, Gemma).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.analyses.patching.job import PatchJob
from workbench.analyses.patching.metrics import expected
from workbench.analyses.patching.sources import activations_at
from workbench.analyses.patching.sweep import choose_method, run_job
from workbench.elicit.scoring import VocabularyTrie
from workbench.store import Run

ANALYSIS = "crossmodel_seed"
POSITIONS: tuple[str, ...] = ("pre_answer", "confidence_slot")
CONTROL_OFFSET = 4  # the seed's PATCH_LAYER = n_layers - 4
EFFECT_COLUMNS = ("item_id", "example_id", "position", "layer", "base", "tuned", "patched", "next_token_unchanged")
CONTROL_COLUMNS = ("item_id", "example_id", "position", "control", "layer", "base", "tuned", "patched")


def control_block(n_blocks: int) -> int:
    return n_blocks - CONTROL_OFFSET if n_blocks > CONTROL_OFFSET else n_blocks - 1


def seed_crossmodel(base_run: Run, base, tuned, *, positions: Sequence[str] = POSITIONS,
                    method: str = "auto") -> dict[str, pd.DataFrame]:
    """Tables ``crossmodel_effects`` (item x position x block) and ``crossmodel_controls`` (item x position x
    control), from the base run's items, the base backend and the tuned backend (same architecture)."""
    records = base_run.records
    vocabulary = base_run.vocabulary
    trie = VocabularyTrie.build(base.tokenizer, vocabulary)
    run_method, _ = choose_method(base, method)
    n_blocks = base.n_layers
    blocks, ctrl = tuple(range(n_blocks)), control_block(n_blocks)
    effects, controls = [], []
    for position in positions:
        ends = records[f"pos_{position}"].to_numpy(dtype=int) + 1
        seqs = [tuple(int(t) for t in ids[:end]) for ids, end in zip(records["input_ids"], ends)]
        read = [len(s) - 1 for s in seqs]
        middle = [len(s) // 2 for s in seqs]  # the seed's ctrl_pos = input_ids.shape[1] // 2
        spans = [(min(int(a), end), min(int(b), end)) for a, b, end in
                 zip(records["pos_pre_answer"], records["pos_answer_last"], ends)]

        def job(at: list[int], layers: tuple[int, ...], values) -> PatchJob:
            return PatchJob(site="resid_post", layers=layers, targets=tuple(seqs), positions=tuple(at),
                            answer_spans=tuple(spans), target_of_pair=tuple(range(len(seqs))), values=values,
                            trie=trie)

        sweep = run_job(base, job(read, blocks, activations_at(tuned, seqs, read, "resid_post", blocks)), run_method)
        reverse = run_job(tuned, job(read, (ctrl,), activations_at(base, seqs, read, "resid_post", (ctrl,))),
                          run_method)
        moved = run_job(base, job(middle, (ctrl,), activations_at(tuned, seqs, middle, "resid_post", (ctrl,))),
                        run_method)
        base_conf, tuned_conf = expected(sweep.clean, vocabulary), expected(reverse.clean, vocabulary)  # [n]
        item_ids, example_ids = records["item_id"].astype(str).to_numpy(), records["example_id"].to_numpy()
        effects.append(pd.DataFrame({
            "item_id": np.repeat(item_ids, n_blocks), "example_id": np.repeat(example_ids, n_blocks),
            "position": position, "layer": np.tile(np.asarray(blocks), len(seqs)), "base": np.repeat(base_conf, n_blocks),
            "tuned": np.repeat(tuned_conf, n_blocks), "patched": expected(sweep.patched, vocabulary).reshape(-1),
            "next_token_unchanged": next_token_unchanged(sweep, read, spans).reshape(-1)}))
        for name, outcome in (("reverse", reverse), ("position", moved)):
            controls.append(pd.DataFrame({"item_id": item_ids, "example_id": example_ids, "position": position,
                                          "control": name, "layer": ctrl, "base": base_conf,
                                          "tuned": tuned_conf,
                                          "patched": expected(outcome.patched[:, 0], vocabulary)}))
    return {"crossmodel_effects": pd.concat(effects, ignore_index=True)[list(EFFECT_COLUMNS)],
            "crossmodel_controls": pd.concat(controls, ignore_index=True)[list(CONTROL_COLUMNS)]}


def next_token_unchanged(outcome, read: list[int], spans: list[tuple[int, int]]) -> np.ndarray:
    """[n, n_layers] whether the patch left the greedy token after the read position as it was (the seed's
    answer check, ``argmax(logits[-1])``). The engine checks the answer span inside the cut sequence, which at
    ``pre_answer`` is exactly that one token; at a later read position the answer lies before the patch and
    cannot change (NaN: the check does not apply)."""
    applies = np.array([start == r and stop == r + 1 for r, (start, stop) in zip(read, spans)])
    out = outcome.answer_unchanged.astype(float)
    out[~applies] = np.nan
    return out


def crossmodel_stage(folder: str | Path, *, loaded=None, progress: bool = False, method: str = "auto"):
    """Run (or read back) the seed's cross-model patching of a ``probe_recovery`` folder: its base model's
    held-out run (``heldout-base``) against the merged tuned model (``tuning/merged``, merged again from the
    kept adapter when it was deleted). The merged weights are deleted once the result is stored. ``loaded``:
    the base model, already loaded. Returns the ``crossmodel_seed`` result (its manifest holds ``seconds``)."""
    from workbench.analyses.patching.sweep import check_same_architecture
    from workbench.backends import load_model
    from workbench.finetune.adapter import FINAL, merge, read_manifest
    from workbench.store import open_run
    from workbench.store.results import result_slot

    started, folder = time.perf_counter(), Path(folder)
    base_run = open_run(folder / "heldout-base")
    adapter, merged_dir = folder / "tuning" / FINAL, folder / "tuning" / "merged"
    config = {"base_run": base_run.manifest.get("config_hash"), "adapter": read_manifest(adapter)["config_hash"],
              "positions": list(POSITIONS), "control_offset": CONTROL_OFFSET, "site": "resid_post"}
    slot = result_slot(folder, ANALYSIS, config, base_run.manifest)
    result = slot.existing
    if result is None:
        backend = base_run.config.get("backend", "transformer_lens")
        base = loaded or load_model(base_run.config["model"], backend=backend, progress=False)
        tuned = load_model(str(merge(adapter, merged_dir)), backend=backend, progress=False)
        check_same_architecture(tuned, base)
        if progress:
            print(f"replicate: cross-model patching on {base_run.n_examples} held-out items, {base.n_layers} blocks, "
                  f"positions {', '.join(POSITIONS)}", flush=True)
        tables = seed_crossmodel(base_run, base, tuned, method=method)
        result = slot.write(tables, seconds=round(time.perf_counter() - started, 1))
    shutil.rmtree(merged_dir, ignore_errors=True)
    return result
