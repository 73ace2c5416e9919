"""Claims 6 and 8 as controlled experiments: fine-tuning on what the model knows, on what it does not, on both.

Claim 6 (arXiv 2505.20903, "Towards Objective Fine-tuning"): training data the model already knows makes
fine-tuning overconfident; new knowledge improves calibration. Claim 8 ("Does Alignment Tuning Really Break
LLMs' Internal Confidence?"): instruction tuning worsens calibration. ``knowledge_tuning`` tests both on one
model and seed, in ``out``:

1. **Training sets** from the study's collected run (``train_run``), each of ``n_train`` items: *known* items
   (the base model's P(gold answer) > 0.5, as ``analyses.prior_knowledge`` decides), *unknown* items, and the
   natural *mix* (a seeded sample of the whole run, its own share of known items). Seeded by ``seed``.
2. **Standard fine-tuning** (``FinetuneConfig(objective="answer")``: cross-entropy on the gold answer in the
   chat template, LoRA rank 8 on q_proj/v_proj, batch 8, ``steps`` steps) on each set, and the
   **knowledge-aware** strategy (``finetune.knowledge_aware``, after CogCalib) on the mix: the same items and
   steps, so it compares with standard-on-mix directly.
3. Each tuned model collects the **held-out items** (``heldout``: the base model's run of items none of the sets
   holds; an overlap is refused with its count) with the base run's collect config.
4. The ``knowledge_tuning`` result: table ``items``, one row per held-out item and variant (``base``, ``known``,
   ``unknown``, ``mix``, ``knowledge-aware``; columns ``TUNING_COLUMNS``), and table ``sets``, one row per tuned
   variant: its items, how many are known, its training steps, and the seconds of its training and evaluation.

Alignment as a before/after on the same weights is ``base`` against ``mix`` of a base model (gemma-3-270m): LoRA
instruction tuning in the chat format on every family mixed. Every step resumes; merged weights are deleted
once their held-out run is collected.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.provenance import write_json_atomic
from workbench.store.results import Result, result_slot

ANALYSIS = "knowledge_tuning"
SETS = ("known", "unknown", "mix")
VARIANTS = ("base", *SETS, "knowledge-aware")
TUNING_COLUMNS = ("variant", "item_id", "correct", "verbal", "answer_prob", "softmax_expected", "gold_prob_base")
KNOWN = 0.5  # the base model's P(gold) above which an item is known


def training_sets(run: Run, n_train: int, seed: int) -> dict[str, list[int]]:
    """Example ids of the known-only, unknown-only and mix training sets, ``n_train`` each (seeded); one error
    naming how many known and unknown items there are when either is short."""
    records = run.records
    ids = records["example_id"].to_numpy()
    known = np.exp(records["gold_logprob"].to_numpy(dtype=float)) > KNOWN
    for name, count in (("known", int(known.sum())), ("unknown", int((~known).sum()))):
        if count < n_train:
            raise WorkbenchError(
                f"the training run {run.path} has {count} {name} items (base P(gold) > {KNOWN} decides known) of "
                f"{len(ids)}, fewer than the {n_train} each training set needs: collect more items (a larger "
                "--limit), use another dataset or mix where the model knows more (or less), or ask for fewer "
                "(--tuning-items)")
    rng = np.random.default_rng([seed, 6])
    pick = lambda pool: sorted(int(i) for i in rng.permutation(pool)[:n_train])  # noqa: E731
    return {"known": pick(ids[known]), "unknown": pick(ids[~known]), "mix": pick(ids)}


def knowledge_tuning(train_run: Run, heldout: Run, out: str | Path, *, n_train: int = 24, steps: int = 30,
                     seed: int = 0, progress: bool = True) -> Result:
    """Train and evaluate every variant (see the module docstring); the stored result when it exists."""
    from workbench.configs import FinetuneConfig
    from workbench.finetune.data import subset_run

    out = Path(out)
    config = {"train_run": train_run.manifest.get("config_hash"), "heldout": heldout.manifest.get("config_hash"),
              "n_train": n_train, "steps": steps, "seed": seed, "known": KNOWN}
    slot = result_slot(out, ANALYSIS, config, train_run.manifest)
    if slot.existing is not None:
        return slot.existing
    sets = training_sets(train_run, n_train, seed)
    runs, rows = {"base": heldout}, []
    for variant in VARIANTS[1:]:
        items = "mix" if variant == "knowledge-aware" else variant  # the knowledge-aware strategy trains on the mix
        chosen = sets[items]
        subset = subset_run(train_run, chosen, out / "sets" / items)
        tuning = FinetuneConfig(objective="answer", target="constant", probe=None, steps=steps, seed=seed,
                                strategy="knowledge-aware" if variant == "knowledge-aware" else "standard",
                                progress=progress)
        runs[variant], timing = tuned_run(subset, tuning, out / variant, heldout, progress=progress)
        known = np.exp(subset.records["gold_logprob"].to_numpy(dtype=float)) > KNOWN
        rows.append({"variant": variant, "n": len(chosen), "n_known": int(known.sum()), "steps": steps, **timing,
                     "example_ids": json.dumps(chosen)})
    return slot.write({"items": tuning_items(runs), "sets": pd.DataFrame(rows)})


def tuned_run(train_run: Run, config, out: Path, heldout: Run, *, progress: bool) -> tuple[Run, dict]:
    """``runner.run_variant`` on ``heldout`` (train or resume, merge, collect, delete the merged weights), timed: the
    tuned run and the seconds of training and of evaluation (measured once, kept in ``out/timing.json``)."""
    from workbench.finetune.evaluate import check_disjoint
    from workbench.finetune.runner import collected, run_variant
    from workbench.finetune.train import train

    check_disjoint(train_run.records["item_id"], heldout)  # refused before any training
    timing_path = out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    started = time.perf_counter()
    train(train_run, config, out, progress=progress)  # run_variant then finds the finished adapter
    timing.setdefault("train_seconds", round(time.perf_counter() - started, 1))
    timed = not collected(out / "runs" / "heldout")
    started = time.perf_counter()
    run = run_variant(train_run, config, out, {"heldout": heldout}, progress=progress, keep_merged=False)["heldout"]
    # a held-out run collected by an earlier call was not timed here: NaN, not the ~0 s of finding it
    timing.setdefault("eval_seconds", round(time.perf_counter() - started, 1) if timed else float("nan"))
    write_json_atomic(timing_path, timing)
    return run, timing


def tuning_items(runs: dict[str, Run]) -> pd.DataFrame:
    """One row per held-out item and variant (``TUNING_COLUMNS``); the base run's P(gold) beside each."""
    base = runs["base"].records
    gold = pd.Series(np.exp(base["gold_logprob"].to_numpy(dtype=float)), index=base["item_id"].astype(str))
    frames = []
    for variant, run in runs.items():
        r = run.records
        if r["item_id"].tolist() != base["item_id"].tolist():
            raise WorkbenchError(f"run {run.path} ({variant}) holds other items than the base run {runs['base'].path}")
        frames.append(pd.DataFrame({
            "variant": variant, "item_id": r["item_id"].astype(str), "correct": r["correct"].to_numpy(dtype=bool),
            "verbal": r["verbal_confidence"].to_numpy(dtype=float) / 100, "answer_prob": r["answer_prob"].to_numpy(
                dtype=float), "softmax_expected": r["softmax_expected"].to_numpy(dtype=float) / 100,
            "gold_prob_base": gold.reindex(r["item_id"].astype(str)).to_numpy()}))
    return pd.concat(frames, ignore_index=True)[list(TUNING_COLUMNS)]
