"""Replication across training seeds: is the fine-tuning's effect stable, and is its shape?

A seed changes the adapter's random initialisation and the batch order. Per seed, the fine-tuned model's
run on the same held-out items gives verbal AUROC, ECE and Brier; reported are their mean and sd over
seeds (``seed_table``, ``seed_summary``), each seed's histogram of verbal confidence, and the pairwise
Wasserstein-1 distances between those histograms (the same histogram and distance as
``analyses.replication``, on confidence / 100), so "the AUROC replicates but the distribution's shape
does not" can be read off directly.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from workbench.analyses.replication import histogram, histogram_distance
from workbench.errors import WorkbenchError
from workbench.finetune.evaluate import run_metrics
from workbench.store import Run

METRICS = ("accuracy", "verbal_auroc", "verbal_ece", "verbal_brier", "softmax_auroc", "softmax_ece", "verbal_mean")


def seed_table(runs: dict[int, Run], *, n_boot: int = 200) -> pd.DataFrame:
    """One row per seed: the comparison metrics of its fine-tuned run."""
    if len(runs) < 2:
        raise WorkbenchError(f"replication needs at least 2 training seeds (5 or more advised); got {len(runs)}")
    items = None
    rows = []
    for seed, run in sorted(runs.items()):
        ids = run.records["item_id"].tolist()
        if items is not None and ids != items:
            raise WorkbenchError(f"seed {seed}'s run {run.path} holds other items than the first seed's run")
        items = ids
        metrics = run_metrics(run, n_boot=n_boot)
        rows.append({"seed": seed, **{m: metrics[m] for m in METRICS}, "validity": metrics["validity"]})
    return pd.DataFrame(rows)


def _spread(metric: str, values: np.ndarray, seeds: int | None = None) -> dict:
    """One summary row: mean, sd, min and max of ``values`` (NaN where there are too few)."""
    n = len(values)
    return {"metric": metric, "seeds": n if seeds is None else seeds, "mean": float(values.mean()) if n else np.nan,
            "sd": float(values.std(ddof=1)) if n > 1 else np.nan, "min": float(values.min()) if n else np.nan,
            "max": float(values.max()) if n else np.nan}


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd, min and max over seeds of each metric."""
    values = {metric: table[metric].to_numpy(dtype=float) for metric in METRICS}
    return pd.DataFrame([_spread(metric, v[np.isfinite(v)]) for metric, v in values.items()])


def _confidences(runs: dict[int, Run], channel: str) -> dict[int, np.ndarray]:
    """Each seed's parsed confidences on [0, 1]."""
    values = {seed: run.records[channel].to_numpy(dtype=float) / 100.0 for seed, run in sorted(runs.items())}
    return {seed: v[np.isfinite(v)] for seed, v in values.items()}


def confidence_histograms(runs: dict[int, Run], *, channel: str = "verbal_confidence", bins: int = 20) -> pd.DataFrame:
    """Long table: seed, bin, centre, share of the seed's (parsed) confidences in each bin of [0, 1]."""
    return pd.concat([pd.DataFrame({"seed": seed, "bin": np.arange(bins), "centre": (np.arange(bins) + 0.5) / bins,
                                    "share": histogram(values, bins), "n": len(values)})
                      for seed, values in _confidences(runs, channel).items()], ignore_index=True)


def shape_distances(runs: dict[int, Run], *, channel: str = "verbal_confidence", bins: int = 20) -> pd.DataFrame:
    """Pairwise W1 distance between seeds' confidence histograms (probability units)."""
    values = _confidences(runs, channel)
    return pd.DataFrame([{"seed_a": a, "seed_b": b, "w1": histogram_distance(values[a], values[b], bins)}
                         for a, b in combinations(values, 2)])


def replicate(runs: dict[int, Run], *, bins: int = 20, n_boot: int = 200) -> dict[str, pd.DataFrame]:
    """Tables ``seeds``, ``seed_summary`` (with the W1 mean/max appended), ``histograms`` and ``distances``."""
    table = seed_table(runs, n_boot=n_boot)
    distances = shape_distances(runs, bins=bins)
    shape = pd.DataFrame([_spread("shape_w1", distances["w1"].to_numpy(), seeds=len(runs))])
    summary = pd.concat([seed_summary(table), shape], ignore_index=True)
    return {"seeds": table, "seed_summary": summary, "histograms": confidence_histograms(runs, bins=bins),
            "distances": distances}
