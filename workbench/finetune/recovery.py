"""Probe recovery on held-out items: the fine-tuning step of the ladder study (claim 7), small and resumable.

Given a model's collected run (the training items) and its ``probes`` result, ``probe_recovery`` does, in
``out``:

1. picks the targeted probe: the logistic probe at the confidence slot at the layer with the best held-out
   AUROC in the probes result (chosen on the training items only), refit on every training item and saved
   (``out/weights/...``);
2. collects ``n_items`` held-out items with the base model: the dataset's items whose id and question are not
   among the training run's (``out/heldout.jsonl``), a seeded, family-stratified sample, the training run's
   collect settings otherwise (``out/heldout-base``);
3. LoRA-tunes the model's verbal confidence toward that probe on the training items (``run_variant`` of
   ``workbench finetune``'s experiment, without its baselines, comparison table and patching: ``steps``
   optimiser steps, the other settings ``FinetuneConfig``'s defaults), and collects the held-out items with
   the tuned model (``out/tuning``; its merged checkpoint is kept for the seed's cross-model patching,
   ``workbench.finetune.seed_crossmodel``, which deletes it; the adapter is kept);
4. stores the ``probe_recovery`` result (``out/results/probe_recovery``): table ``items``, one row per
   held-out item (``RECOVERY_COLUMNS``), with the wall time of the call that finished it as ``seconds``.

Every step resumes (collect, training checkpoints, keyed results); a re-run of a finished one reads it back.
Cost: two collects of ``n_items`` items, ``steps`` steps of 8 examples (the model, its adapter and the base
model's answer log-probs of the training items in memory), and one merge of the weights.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from workbench.analyses.inputs import labels, question_groups
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.results import Result, result_slot

ANALYSIS = "probe_recovery"
ROLE, PROBE = "confidence_slot", "logistic"
MIN_HELDOUT = 20
RECOVERY_COLUMNS = ("item_id", "correct_before", "probe_before", "correct_after", "verbal_after")


def target_layer(probes: Result) -> dict:
    """The probes result's row (layer, auroc, C_median, ...) of the best logistic probe at the confidence slot."""
    table = probes["layers"]
    ok = table[(table["status"] == "ok") & (table["probe"] == PROBE) & (table["role"] == ROLE)]
    if ok.empty:
        raise WorkbenchError(f"the probes result at {probes.path} has no {PROBE} probe at {ROLE}")
    return ok.loc[ok["auroc"].idxmax()].to_dict()


def heldout_pool(train_run: Run, dataset: str) -> list:
    """The dataset's items that share neither id nor question with the training run's items."""
    from workbench.datasets import load_dataset

    records = train_run.records
    ids = set(records["item_id"].astype(str))
    questions = {str(q).strip().lower() for q in records["question"]}
    return [it for it in load_dataset(dataset)
            if it.item_id not in ids and it.question.strip().lower() not in questions]


def collect_heldout(train_run: Run, out: Path, *, dataset: str, n_items: int, seed: int,
                    batch_size: int | None = None, progress: bool = True, loaded=None) -> Run:
    """The base model's run of ``n_items`` held-out items in ``out/heldout-base`` (step 2 above; it resumes)."""
    from workbench.collect import collect
    from workbench.configs import CollectConfig
    from workbench.finetune.data import write_items

    pool = heldout_pool(train_run, dataset)
    if len(pool) < MIN_HELDOUT:
        raise WorkbenchError(f"only {len(pool)} items of {dataset!r} are not among the study's: too few held-out "
                             f"items (need {MIN_HELDOUT}); lower --limit or use a larger dataset")
    items = write_items(pool, Path(out) / "heldout.jsonl")  # collect samples n_items of them (seeded, by family)
    settings = {**dict(train_run.manifest.get("execution") or train_run.config), "dataset": str(items),
                "limit": min(n_items, len(pool)), "seed": seed, "progress": progress}
    if batch_size is not None:
        settings["batch_size"] = batch_size
    return collect(CollectConfig.from_dict(settings), Path(out) / "heldout-base", progress=progress, loaded=loaded)


def probe_recovery(train_run: Run, probes: Result, out: str | Path, *, dataset: str, n_items: int = 100,
                   steps: int = 30, seed: int = 0, batch_size: int | None = None,
                   progress: bool = True, loaded=None) -> Result:
    """Fine-tune toward the best probe and score it on held-out items (see the module docstring); ``loaded``: the
    training run's model, already loaded (for the held-out collect; training loads its own copy)."""
    from workbench.analyses.probe_layers import save_refit
    from workbench.analyses.probes import LogisticProbe
    from workbench.configs import FinetuneConfig
    from workbench.finetune.data import check_classes
    from workbench.finetune.runner import run_variant

    started, out = time.perf_counter(), Path(out)
    config = {"train_run": train_run.manifest.get("config_hash"), "probes": probes.path.name, "dataset": dataset,
              "n_items": n_items, "steps": steps, "seed": seed, "role": ROLE, "probe": PROBE}
    slot = result_slot(out, ANALYSIS, config, train_run.manifest)
    if slot.existing is not None:
        return slot.existing
    check_classes(labels(train_run), FinetuneConfig.model_fields["min_per_class"].default,
                  f"the training run {train_run.path}")
    row = target_layer(probes)
    layer = int(row["layer"])
    probe_path = save_refit(train_run, out, LogisticProbe(), PROBE, train_run.residuals(layer, ROLE),
                            labels(train_run), question_groups(train_run), ROLE, layer, row)
    base = collect_heldout(train_run, out, dataset=dataset, n_items=n_items, seed=seed, batch_size=batch_size,
                           progress=progress, loaded=loaded)
    tuning = FinetuneConfig(probe=str(probe_path), steps=steps, seed=seed, progress=progress)
    tuned = run_variant(train_run, tuning, out / "tuning", {"heldout": base}, progress=progress,
                        keep_merged=True)["heldout"]  # merged weights kept for the cross-model stage, which deletes them
    items_table = recovery_items(base, tuned, probe_path)
    return slot.write({"items": items_table}, seconds=round(time.perf_counter() - started, 1), layer=layer,
                      probe_cv_auroc=float(row["auroc"]))


def recovery_items(base: Run, tuned: Run, probe_path: Path) -> pd.DataFrame:
    """Per held-out item: correct and the targeted probe's probability before, correct and verbal confidence after."""
    from workbench.analyses.probe_weights import load_probe

    probe = load_probe(probe_path)
    before, after = base.records.set_index("item_id"), tuned.records.set_index("item_id").loc[base.records["item_id"]]
    score = probe.probability(base.residuals(int(probe.meta["layer"]), probe.meta["role"]))  # [n]
    return pd.DataFrame({"item_id": before.index.astype(str), "correct_before": before["correct"].to_numpy(dtype=bool),
                         "probe_before": score, "correct_after": after["correct"].to_numpy(dtype=bool),
                         "verbal_after": after["verbal_confidence"].to_numpy(dtype=float)},
                        columns=list(RECOVERY_COLUMNS))
