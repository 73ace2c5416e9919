"""What ``workbench finetune`` runs (``run_finetune``): the adapters alone (``train_adapters``), or with evaluation
runs the whole experiment: train each variant and seed, evaluate, patch, replicate.

Layout under ``OUT``::

    OUT/<variant>-seed<k>/            training dir (finetune.json, checkpoints/, adapter/, merged/)
    OUT/<variant>-seed<k>/runs/<split>/   the merged model's run of each evaluation split
    OUT/results/finetune/<key>/       comparison, scores, seeds, histograms, patching, history (+ manifest)

Variants: the main config (usually ``probe``), and the baselines ``correctness``, ``constant`` (same loss,
another target) and ``standard`` (plain answer supervision). Extra seeds are trained for the main variant
only and evaluated on ``replicate_split``. Every step is stored and skipped when already done, so an
interrupted experiment resumes; merged checkpoints other than the main seed-0 model's are deleted once
their runs are collected (``keep_merged``) to save disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analyses.inputs import require_complete
from workbench.configs import FinetuneExperiment
from workbench.errors import WorkbenchError, did_you_mean
from workbench.finetune.adapter import FINAL, merge, read_manifest
from workbench.finetune.evaluate import DEFAULT_TOLERANCE, check_disjoint, collect_with, compare
from workbench.finetune.train import FinetuneConfig, train
from workbench.store import Run, open_run
from workbench.store.paths import check_output_dir
from workbench.store.results import Result, result_slot, store_result

ANALYSIS = "finetune"
BASELINES: tuple[str, ...] = ("correctness", "constant", "standard")


def variant_config(config: FinetuneConfig, name: str) -> FinetuneConfig:
    """The config of a baseline variant: the main config with another target, or the answer objective."""
    if name not in BASELINES:
        raise WorkbenchError(f"unknown baseline {name!r}.{did_you_mean(name, BASELINES)} "
                             f"Choose from {', '.join(BASELINES)}")
    if name == "standard":
        return config.replace(objective="answer", target="constant", probe=None)
    return config.replace(objective="confidence", target=name, probe=None)


def collected(path: Path) -> bool:
    """Whether ``path`` holds a run whose collect finished."""
    return (path / "manifest.json").exists() and bool(open_run(path).manifest.get("complete"))


def run_variant(train_run: Run, config: FinetuneConfig, out: Path, eval_runs: dict[str, Run], *,
                progress: bool = True, keep_merged: bool = True) -> dict[str, Run]:
    """Train (or resume) one adapter, merge it, and collect each evaluation split with the merged model."""
    for run in eval_runs.values():
        check_disjoint(train_run.records["item_id"], run)
    result = train(train_run, config, out, progress=progress)
    runs_dir = out / "runs"
    done = {split: runs_dir / split for split in eval_runs}
    if all(collected(path) for path in done.values()):
        return {split: open_run(path) for split, path in done.items()}
    merged = merge(result.path, out / "merged")
    runs = {split: collect_with(merged, run, done[split], progress=progress,
                                device=config.device) for split, run in eval_runs.items()}
    if not keep_merged:
        shutil.rmtree(merged, ignore_errors=True)
    return runs


def finetune_experiment(train_run: Run, config: FinetuneConfig, out: str | Path, *, eval_runs: dict[str, Run],
                        baselines: Sequence[str] = BASELINES, seeds: Iterable[int] = (0,),
                        replicate_split: str = "heldout", tolerance: float = DEFAULT_TOLERANCE, patch: bool = True,
                        patch_pairs: int | None = 24, n_boot: int = 1000, progress: bool = True,
                        allow_incomplete: bool = False, overwrite: bool = False) -> Result:
    """Train, evaluate, patch and replicate; write and return the ``finetune`` result (see the module docstring).

    ``config.seed`` is replaced by each of ``seeds``; the first seed is the one compared with the baselines.
    The result is keyed by its config (``store.results``): the same config again returns the stored result
    unless ``overwrite``; runs whose collect did not finish are refused unless ``allow_incomplete``.
    """
    out = check_output_dir(out)
    seeds = [int(s) for s in seeds] or [config.seed]
    if not eval_runs:
        raise WorkbenchError("the experiment needs at least one evaluation run (--eval SPLIT=RUN)")
    if replicate_split not in eval_runs:
        replicate_split = next(iter(eval_runs))
    for run in (train_run, *eval_runs.values()):
        require_complete(run, allow_incomplete)
    main = config.replace(seed=seeds[0])
    result_config = {"finetune": main.content(), "baselines": list(baselines), "seeds": seeds,
                     "eval_runs": {split: str(run.path) for split, run in eval_runs.items()},
                     "tolerance": tolerance, "replicate_split": replicate_split, "patch": patch,
                     "patch_pairs": patch_pairs, "n_boot": n_boot}
    slot = result_slot(out, ANALYSIS, result_config, train_run.manifest, overwrite=overwrite)
    if slot.existing is not None:
        return slot.existing
    configs = {main.name: main, **{name: variant_config(main, name) for name in baselines}}
    runs: dict[tuple[str, str], Run] = {("base", split): run for split, run in eval_runs.items()}
    histories = []
    for name, variant in configs.items():
        directory = out / f"{name}-seed{variant.seed}"
        for split, run in run_variant(train_run, variant, directory, eval_runs, progress=progress,
                                      keep_merged=name == main.name).items():
            runs[(name, split)] = run
        histories.append(_history(directory, name, variant.seed))
    tables = compare(runs, tolerance=tolerance, n_boot=n_boot, seed=seeds[0])
    extra: dict[str, Any] = {}
    if len(seeds) > 1:
        from workbench.finetune.replication import replicate

        per_seed = {seeds[0]: runs[(main.name, replicate_split)]}
        for seed in seeds[1:]:
            variant = main.replace(seed=seed)
            directory = out / f"{main.name}-seed{seed}"
            per_seed[seed] = run_variant(train_run, variant, directory, {replicate_split: eval_runs[replicate_split]},
                                         progress=progress, keep_merged=False)[replicate_split]
            histories.append(_history(directory, main.name, seed))
        for name, table in replicate(per_seed).items():
            tables[name if name.startswith("seed") else f"seed_{name}"] = table
    if patch:
        from workbench.finetune.crossmodel import cross_model_patching

        patched = cross_model_patching(eval_runs[replicate_split], runs[(main.name, replicate_split)],
                                       n_pairs=patch_pairs, n_boot=n_boot, seed=seeds[0], progress=progress)
        tables.update({f"patch_{name}": table for name, table in patched.items()})
        extra["patch_split"] = replicate_split
    tables["history"] = pd.concat(histories, ignore_index=True)
    return slot.write(tables, **extra)


def run_finetune(train_run: Run, config: FinetuneConfig, experiment: FinetuneExperiment, out: str | Path) -> Result:
    """``wb.finetune``: with ``experiment.eval`` runs the whole experiment (``finetune_experiment``); without, the
    adapters alone (``train_adapters``). ``config.seed`` becomes each of ``experiment.seeds``."""
    config = config.replace(seed=experiment.seeds[0])
    trust = dict(allow_incomplete=experiment.allow_incomplete, overwrite=experiment.overwrite)
    if not experiment.eval:
        return train_adapters(train_run, config, out, experiment.seeds, **trust)
    eval_runs = {split: open_run(path) for split, path in experiment.eval.items()}
    return finetune_experiment(train_run, config, out, eval_runs=eval_runs, baselines=experiment.baselines,
                               seeds=experiment.seeds, tolerance=experiment.tolerance, patch=experiment.patch,
                               patch_pairs=experiment.patch_pairs, n_boot=experiment.n_boot,
                               progress=config.progress, **trust)


def train_adapters(train_run: Run, config: FinetuneConfig, out: str | Path, seeds: Sequence[int] = (0,), *,
                   allow_incomplete: bool = False, overwrite: bool = False) -> Result:
    """Train (or resume) one adapter per seed into ``OUT/<variant>-seed<k>/`` and return the ``training`` result:
    ``adapters`` (each adapter's path, step and first and last loss) and ``history`` (every step's loss)."""
    require_complete(train_run, allow_incomplete)  # before training
    out, rows, histories = Path(out), [], []
    for seed in seeds:
        variant = config.replace(seed=seed)
        done = train(train_run, variant, out / f"{variant.name}-seed{seed}", progress=config.progress)
        history = pd.DataFrame(done.history)
        rows.append({"variant": variant.name, "seed": seed, "path": str(done.path), "step": done.manifest["step"],
                     "complete": done.complete, "first_loss": float(history["loss"].iloc[0]),
                     "last_loss": float(history["loss"].iloc[-1])})
        histories.append(history.assign(variant=variant.name, seed=seed))
    tables = {"adapters": pd.DataFrame(rows), "history": pd.concat(histories, ignore_index=True)}
    return store_result(out, "training", tables, {"finetune": config.content(), "seeds": list(seeds)},
                        train_run.manifest, overwrite=overwrite)


def _history(directory: Path, variant: str, seed: int) -> pd.DataFrame:
    history = pd.DataFrame(read_manifest(directory / FINAL)["history"])
    return history.assign(variant=variant, seed=seed)
