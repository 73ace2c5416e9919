"""Replication across seeds: is discrimination stable while the shape of the confidence distribution is not?

Given a ``probes`` result fitted with several seeds (each seed a different grouped split into folds),
report per (role, layer, probe):

- AUROC of each seed's out-of-fold probabilities: mean, sd, min, max over seeds;
- shape: the Wasserstein-1 distance between the seeds' histograms of out-of-fold probability (``bins``
  equal-width bins on [0, 1], mass at the bin centres), mean and max over seed pairs.

"Stable discrimination, seed-sensitive shape" reads as a small AUROC sd beside a large shape distance:
the ranking of examples survives a new split while the probabilities it outputs move.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from workbench.analyses.calibration import auroc_rows
from workbench.analyses.inputs import require_complete
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.results import Result, result_ref, store_result

ANALYSIS = "replication"


def histogram(scores, bins: int = 20) -> np.ndarray:
    """[bins] share of scores in each equal-width bin of [0, 1]."""
    counts, _ = np.histogram(np.clip(np.asarray(scores, dtype=float), 0, 1), bins=bins, range=(0.0, 1.0))
    return counts / max(counts.sum(), 1)


def histogram_distance(a, b, bins: int = 20) -> float:
    """Wasserstein-1 distance between the histograms of two samples of scores in [0, 1]."""
    centres = (np.arange(bins) + 0.5) / bins
    return float(wasserstein_distance(centres, centres, histogram(a, bins), histogram(b, bins)))


def replication_table(oof: pd.DataFrame, correct: pd.Series, *, bins: int = 20) -> pd.DataFrame:
    """Per (role, layer, probe): seed AUROC mean/sd/min/max and pairwise histogram distances, from ``oof``
    (seed, role, layer, probe, example_id, score) and ``correct`` indexed by example_id."""
    rows = []
    for (role, layer, probe), part in oof.groupby(["role", "layer", "probe"], sort=True):
        by_seed = {seed: g.sort_values("example_id") for seed, g in part.groupby("seed")}
        if len(by_seed) < 2:
            raise WorkbenchError("replication needs a probes result fitted with at least 2 seeds (5 or more advised)")
        scores = np.stack([g["score"].to_numpy() for g in by_seed.values()])  # [n_seeds, n]
        labels = np.stack([correct.loc[g["example_id"]].to_numpy(dtype=bool) for g in by_seed.values()])
        aurocs = auroc_rows(scores, labels)  # [n_seeds]
        distances = [histogram_distance(a, b, bins) for a, b in combinations(scores, 2)]
        rows.append({"role": role, "layer": layer, "probe": probe, "seeds": len(by_seed),
                     "auroc_mean": float(aurocs.mean()), "auroc_sd": float(aurocs.std(ddof=1)),
                     "auroc_min": float(aurocs.min()), "auroc_max": float(aurocs.max()),
                     "shape_w1_mean": float(np.mean(distances)), "shape_w1_max": float(np.max(distances)),
                     "mean_score_sd": float(scores.mean(axis=1).std(ddof=1))})
    return pd.DataFrame(rows)


def seed_histograms(oof: pd.DataFrame, *, bins: int = 20) -> pd.DataFrame:
    """Long table of each seed's histogram: role, layer, probe, seed, bin, centre, share (for figures)."""
    parts = []
    for (role, layer, probe, seed), g in oof.groupby(["role", "layer", "probe", "seed"], sort=True):
        parts.append(pd.DataFrame({"role": role, "layer": layer, "probe": probe, "seed": seed, "bin": np.arange(bins),
                                   "centre": (np.arange(bins) + 0.5) / bins, "share": histogram(g["score"], bins)}))
    return pd.concat(parts, ignore_index=True)


def replication(run: Run, probes: Result, *, bins: int = 20, allow_incomplete: bool = False,
                overwrite: bool = False) -> Result:
    """Write and return the ``replication`` result from a multi-seed ``probes`` result of this run: tables
    ``layers`` (``replication_table``) and ``histograms`` (``seed_histograms``)."""
    require_complete(run, allow_incomplete)
    if probes.manifest.get("run", {}).get("config_hash") != run.manifest.get("config_hash"):
        raise WorkbenchError(f"the probes result at {probes.path} was computed on another run")
    oof = probes["oof"]
    n_seeds = oof["seed"].nunique()
    if n_seeds < 2:
        raise WorkbenchError(f"the probes result at {probes.path} has {n_seeds} seed; re-run the probes with "
                             "--seeds 5 (or seeds=range(5)) to measure replication")
    correct = run.records.set_index("example_id")["correct"]
    tables = {"layers": replication_table(oof, correct, bins=bins), "histograms": seed_histograms(oof, bins=bins)}
    config = {"bins": bins, "probes_result": result_ref(probes, run.path), "probes_config": probes.config}
    return store_result(run.path, ANALYSIS, tables, config, run.manifest, overwrite=overwrite)
