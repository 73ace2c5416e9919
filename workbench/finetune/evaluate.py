"""Before and after: the same items collected with the base and a fine-tuned model, scored side by side.

The fine-tuned model is evaluated exactly as the base model was: its merged checkpoint is collected with
the base evaluation run's own collect config (only ``model`` changes), so the prompts, the greedy answer,
the exact vocabulary read-out and the grading are the workbench's, not a training-time shortcut.

Per (variant, split) one row of ``comparison``: accuracy and its change from the base model (flagged when
it drops by more than ``tolerance``, absolute), verbal and softmax-expected AUROC with intervals, ECE,
Brier, mean confidence, the validity screen's tier of the verbal channel, the text-bottleneck verdict, and
calibration of the verbal channel split by prior knowledge. Known/unknown is decided by the *base* model's
P(gold) (``analyses.prior_knowledge``), so the same items are compared before and after fine-tuning.

Probe recovery: ``probe_recovery = verbal_auroc / probe_auroc_base``, how much of what the base model's
residual stream knew (its best logistic probe's held-out AUROC, from the ``probes`` result stored beside the
base run of that split) reaches the spoken confidence after fine-tuning. 1 means the verbal channel now
separates as well as the probe did. The probe's layer is chosen on the same items, so its AUROC is mildly
optimistic and the ratio mildly conservative. Without a stored probes result the column is NaN and
``probe_recovery_note`` says how to get one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.analyses.bottleneck import bottleneck_test
from workbench.analyses.channels import channel_scores, probe_choice, stored_result
from workbench.analyses.prior_knowledge import DEFAULT_THRESHOLD, prior_knowledge_tables
from workbench.analyses.tables import calibration_table
from workbench.analyses.validity import screen_table
from workbench.errors import WorkbenchError
from workbench.store import Run

CHANNELS = ("verbal", "softmax_expected")
DEFAULT_TOLERANCE = 0.02  # largest accepted drop in accuracy (absolute) on any split


def collect_with(model_dir: str | Path, eval_run: Run, out: str | Path, *, progress: bool = True,
                 batch_size: int | None = None, device: str | None = None) -> Run:
    """Collect ``eval_run``'s items again with the model at ``model_dir`` (same config otherwise)."""
    from workbench.collect import CollectConfig, collect

    if "subset_of" in eval_run.config:
        raise WorkbenchError(f"{eval_run.path} is a subset of another run and cannot be collected again as it is; "
                             "collect the evaluation items as a run of their own (e.g. from a dataset file)")
    settings = dict(eval_run.manifest.get("execution") or eval_run.config)
    settings.update(model=str(model_dir))
    if batch_size is not None:
        settings["batch_size"] = batch_size
    if device is not None:
        settings["device"] = device
    run = collect(CollectConfig.from_dict(settings), out, progress=progress)
    before, after = eval_run.records["item_id"].tolist(), run.records["item_id"].tolist()
    if before != after:
        raise WorkbenchError(f"collecting {out} gave other items than {eval_run.path} ({len(after)} vs {len(before)}); "
                             "the evaluation dataset changed since the base run was collected")
    return run


def check_disjoint(train_items, eval_run: Run) -> None:
    """Refuse an evaluation run that shares items (by item id) with the training items."""
    shared = set(map(str, train_items)) & set(eval_run.records["item_id"].astype(str))
    if shared:
        raise WorkbenchError(f"evaluation run {eval_run.path} shares {len(shared)} items with the training run (e.g. "
                             f"{sorted(shared)[0]!r}); evaluate on held-out items")


def _frame(run: Run, known_gold: pd.Series | None) -> pd.DataFrame:
    """Per-example channel scores with the base model's P(gold) (by item) as ``gold_prob``."""
    scores = channel_scores(run)
    if known_gold is not None:
        scores["gold_prob"] = known_gold.reindex(scores["item_id"].astype(str)).to_numpy()
    return scores


def run_metrics(run: Run, *, known_gold: pd.Series | None = None, threshold: float = DEFAULT_THRESHOLD,
                n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """One comparison row (without the variant/split keys) for a collected run."""
    scores = _frame(run, known_gold)
    correct = scores["correct"].to_numpy(dtype=bool)
    row: dict[str, Any] = {"n": len(scores), "n_correct": int(correct.sum()), "accuracy": float(correct.mean())}
    table = calibration_table(scores, list(CHANNELS), "correct", n_boot=n_boot, seed=seed).set_index("channel")
    for channel in CHANNELS:
        prefix = "verbal" if channel == "verbal" else "softmax"
        entry = table.loc[channel]
        for metric in ("auroc", "ece", "brier", "auroc_low", "auroc_high"):
            row[f"{prefix}_{metric}"] = float(entry.get(metric, np.nan))
        row[f"{prefix}_mean"] = float(entry.get("mean_confidence", np.nan))
    row["verbal_missing"] = int(table.loc["verbal", "n_missing"])
    screen = screen_table(scores.assign(verbal=scores["verbal"] * 100), ["verbal"], "correct").iloc[0]
    row.update(validity=screen["tier"], validity_reasons=screen["reasons"], ceiling_rate=float(screen["ceiling_rate"]),
               trin=float(screen["trin"]))
    if 0 < correct.sum() < len(correct):
        test = bottleneck_test(scores["softmax_expected"], scores["argmax"], correct, n_boot=n_boot, seed=seed)
        row.update(bottleneck=test["verdict"], bottleneck_difference=test["difference"],
                   argmax_modal_share=test["argmax_modal_share"])
    else:
        row.update(bottleneck="undefined (one class)", bottleneck_difference=np.nan, argmax_modal_share=np.nan)
    prior = prior_knowledge_tables(scores, "verbal", threshold=threshold, n_boot=min(n_boot, 200), seed=seed)["splits"]
    for split in ("known", "unknown"):
        part = prior[prior["split"] == split]
        get = (lambda c: float(part[c].iloc[0]) if len(part) and c in part and pd.notna(part[c].iloc[0]) else np.nan)
        row.update({f"{split}_n": int(get("n")) if np.isfinite(get("n")) else 0, f"{split}_ece": get("ece"),
                    f"{split}_overconfidence": get("overconfidence")})
    return row


def base_probe_auroc(base_run: Run) -> tuple[float, str]:
    """(best logistic probe AUROC of the base run, note): from the probes result stored beside it."""
    probes = stored_result(base_run, "probes")
    if probes is None:
        return np.nan, f"no probes result beside {base_run.path}: run `workbench probe {base_run.path}`"
    if probes.manifest.get("run", {}).get("config_hash") != base_run.manifest.get("config_hash"):
        return np.nan, f"the probes result beside {base_run.path} is from another run; re-run `workbench probe`"
    choice = probe_choice(probes)
    return float(choice["auroc"]), f"{choice['probe']} probe at {choice['role']} layer {int(choice['layer'])}"


def compare(runs: dict[tuple[str, str], Run], *, base: str = "base", tolerance: float = DEFAULT_TOLERANCE,
            threshold: float = DEFAULT_THRESHOLD, n_boot: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Tables ``comparison`` (one row per (variant, split)) and ``scores`` (per example, for histograms).

    ``runs`` maps (variant, split) to a collected run; every split needs a ``base`` variant, which supplies
    the accuracy reference, the known/unknown split and the probe AUROC for ``probe_recovery``.
    """
    splits = list(dict.fromkeys(split for _, split in runs))
    missing = [s for s in splits if (base, s) not in runs]
    if missing:
        raise WorkbenchError(f"no {base!r} run for split(s) {', '.join(missing)}: each split needs the base "
                             "model's run")
    rows, score_frames = [], []
    for split in splits:
        base_run = runs[(base, split)]
        gold = pd.Series(np.exp(base_run.records["gold_logprob"].to_numpy(dtype=float)),
                         index=base_run.records["item_id"].astype(str))
        base_accuracy = float(base_run.records["correct"].mean())
        probe_auroc, probe_note = base_probe_auroc(base_run)
        for (variant, s), run in runs.items():
            if s != split:
                continue
            if run is not base_run and run.records["item_id"].tolist() != base_run.records["item_id"].tolist():
                raise WorkbenchError(f"run {run.path} ({variant}) holds other items than the base run of split {split}")
            row = {"variant": variant, "split": split, **run_metrics(run, known_gold=gold, threshold=threshold,
                                                                      n_boot=n_boot, seed=seed)}
            row["accuracy_change"] = row["accuracy"] - base_accuracy
            row["accuracy_ok"] = bool(row["accuracy_change"] >= -tolerance - 1e-12)
            row.update(probe_auroc_base=probe_auroc, probe_recovery=row["verbal_auroc"] / probe_auroc,
                       probe_recovery_note=probe_note, run=str(run.path))
            rows.append(row)
            scores = _frame(run, gold)[["item_id", "correct", "verbal", "softmax_expected", "argmax", "gold_prob"]]
            score_frames.append(scores.assign(variant=variant, split=split))
    return {"comparison": pd.DataFrame(rows), "scores": pd.concat(score_frames, ignore_index=True)}


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison as aligned text (what the CLI prints and the docs quote)."""
    def num(value, digits=3, sign=False):
        if value is None or not np.isfinite(value):
            return "-"
        return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"

    rows = [{"variant": r["variant"], "split": r["split"], "n": r["n"], "acc": num(r["accuracy"]),
             "d_acc": num(r["accuracy_change"], sign=True) + ("" if r["accuracy_ok"] else " !"),
             "verbal AUROC": (f"{num(r['verbal_auroc'])} [{num(r['verbal_auroc_low'], 2)}, "
                              f"{num(r['verbal_auroc_high'], 2)}]"),
             "ECE": num(r["verbal_ece"]), "Brier": num(r["verbal_brier"]), "mean conf": num(r["verbal_mean"], 2),
             "softmax AUROC": num(r["softmax_auroc"]), "validity": r["validity"], "bottleneck": r["bottleneck"],
             "ECE known/unknown": f"{num(r['known_ece'], 2)}/{num(r['unknown_ece'], 2)}",
             "probe recovery": num(r.get("probe_recovery", np.nan), 2)}
            for r in table.to_dict("records")]
    return pd.DataFrame(rows).to_string(index=False)
