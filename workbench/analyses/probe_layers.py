"""Layer-wise probes: one probe per (role, layer), cross-validated by question, AUROC with a 95% interval.

For each seed, examples are split into ``folds`` folds by ``StratifiedGroupKFold`` with question text as
the group (no question in both train and test; every layer and role uses the same splits, so layers are
compared on the same data). Each probe's held-out ("out-of-fold") probability of "correct" is pooled
over the folds. With several seeds, each example's out-of-fold probabilities are averaged over seeds.

Reported per (role, layer, probe): ``auroc`` of the (seed-averaged) out-of-fold probability with a
stratified bootstrap percentile interval (``low``, ``high``), and the per-seed AUROC mean and sd. The
saved weights are refit on every example (logistic: at the median C the outer folds chose), so they are
the best estimate of the read-out, while the reported AUROC is the honest held-out number.

Bad input: one class, too few examples for the folds, an unknown layer or role raise a clear error; a
layer whose activations hold NaN or inf is skipped with the reason in ``status`` (all layers bad: error).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from workbench.analyses.calibration import auroc_rows, bootstrap_indices, percentile_interval
from workbench.analyses.inputs import (check_folds, labels, nonfinite_rows, question_groups, require_complete,
                                       select_roles)
from workbench.analyses.probe_weights import save_probe
from workbench.analyses.probes import ESTIMATORS, LogisticProbe
from workbench.configs import ProbeConfig
from workbench.errors import WorkbenchError, did_you_mean
from workbench.layer_selection import READOUT, select_layers
from workbench.store import Run
from workbench.store.results import Result, result_dir, result_slot, stored_results

ANALYSIS = "probes"


def make_estimators(probes: str | Sequence[str] | dict[str, BaseEstimator]) -> dict[str, BaseEstimator]:
    """Named unfitted estimators from names in ``ESTIMATORS`` or a {name: estimator} dict."""
    if isinstance(probes, dict):
        return dict(probes)
    names = [probes] if isinstance(probes, str) else list(probes)
    for name in names:
        if name not in ESTIMATORS:
            raise WorkbenchError(f"unknown probe {name!r}.{did_you_mean(name, ESTIMATORS)} Known: {', '.join(ESTIMATORS)}")
    return {name: ESTIMATORS[name]() for name in names}


def grouped_splits(correct: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of ``folds`` stratified folds that never split a group."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(correct)), correct, groups))


def fit_probe(estimator: BaseEstimator, X: np.ndarray, correct: np.ndarray, groups: np.ndarray) -> BaseEstimator:
    """A fitted clone; question groups are passed on when the estimator's ``fit`` takes them (ours do)."""
    fitted = clone(estimator)
    if "groups" in inspect.signature(fitted.fit).parameters:
        return fitted.fit(X, correct, groups=groups)
    return fitted.fit(X, correct)


def out_of_fold(estimator: BaseEstimator, X: np.ndarray, correct: np.ndarray, groups: np.ndarray,
                splits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Held-out probability of "correct" for every example [n], and one record per fold (C, sizes)."""
    scores = np.full(len(correct), np.nan)
    fits = []
    for fold, (train, test) in enumerate(splits):
        try:
            fitted = fit_probe(estimator, X[train], correct[train], groups[train])
        except ValueError as error:  # e.g. a training fold with too few of one class for the inner CV
            raise WorkbenchError(f"probe fit failed on fold {fold}: {error}") from error
        scores[test] = fitted.predict_proba(X[test])[:, 1]
        fits.append({"fold": fold, "C": getattr(fitted, "C_", np.nan), "n_train": len(train), "n_test": len(test),
                     "n_test_correct": int(correct[test].sum())})
    return scores, fits


def evaluate_probe(estimator: BaseEstimator, X: np.ndarray, correct: np.ndarray, groups: np.ndarray,
                   splits: dict[int, list], boot: np.ndarray, level: float) -> tuple[dict, np.ndarray, list[dict]]:
    """Cross-validate one probe on one layer under every seed's splits: its statistics (auroc of the seed-averaged
    out-of-fold score with a bootstrap interval over ``boot`` [n_boot, n], per-seed AUROC mean and sd, median C),
    the out-of-fold scores [n_seeds, n], and one record per (seed, fold)."""
    per_seed, fits = [], []
    for seed, seed_splits in splits.items():
        scores, seed_fits = out_of_fold(estimator, X, correct, groups, seed_splits)
        per_seed.append(scores)
        fits += [{"seed": seed, **f} for f in seed_fits]
    per_seed = np.array(per_seed)  # [n_seeds, n]
    mean_score = per_seed.mean(axis=0)  # [n]
    seed_auroc = auroc_rows(per_seed, np.broadcast_to(correct, per_seed.shape))  # [n_seeds]
    low, high = percentile_interval(auroc_rows(mean_score[boot], correct[boot]), level)
    Cs = np.array([f["C"] for f in fits], dtype=float)
    stats = {"status": "ok", "auroc": float(auroc_rows(mean_score[None], correct[None])[0]), "low": low, "high": high,
             "auroc_seed_mean": float(seed_auroc.mean()),
             "auroc_seed_sd": float(seed_auroc.std(ddof=1)) if len(per_seed) > 1 else np.nan,
             "C_median": float(np.median(Cs)) if np.isfinite(Cs).all() else np.nan}
    return stats, per_seed, fits


def probe_layers(run: Run, role: str | Sequence[str] = "confidence_slot", layers: str | int | Iterable[int] = "all", *,
                 folds: int = 5, seeds: Sequence[int] = (0,),
                 probes: str | Sequence[str] | dict = ("logistic", "diffmeans"),
                 n_boot: int = 1000, level: float = 0.95, save_weights: bool = True, allow_incomplete: bool = False,
                 overwrite: bool = False) -> Result:
    """Fit and cross-validate one probe per (role, layer, probe kind); write and return the ``probes`` result.

    Tables: ``layers`` (one row per role x layer x probe: auroc, low, high, auroc_seed_mean, auroc_seed_sd,
    C_median, status), ``oof`` (seed, role, layer, probe, example_id, score) and ``fits`` (one row per fold).
    Weights go to ``RUN/results/probes/<key>/weights/<role>/<probe>-layer<L>.safetensors`` (+ .json); a call
    with other settings keeps the earlier result and its weights (``probe_weights_path`` finds either).
    """
    require_complete(run, allow_incomplete)
    correct, groups = labels(run), question_groups(run)
    roles, layer_ids = select_roles(run, role), list(select_layers(layers, len(run.readouts), READOUT, "this run"))
    if layers == "all":  # every stored read-out (a run collected with --store-readouts holds some)
        layer_ids = run.stored_readouts
    estimators = make_estimators(probes)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise WorkbenchError("seeds must name at least one seed")
    check_folds(correct, groups, folds)
    splits = {seed: grouped_splits(correct, groups, folds, seed) for seed in seeds}  # shared by every layer
    boot = bootstrap_indices(correct, n_boot=n_boot, seed=seeds[0])  # [n_boot, n], shared by every layer
    example_ids = run.records["example_id"].to_numpy()
    config = {"roles": roles, "layers": layer_ids, "folds": folds, "seeds": seeds, "probes": list(estimators),
              "estimators": {k: repr(v) for k, v in estimators.items()}, "n_boot": n_boot, "level": level,
              "groups": "question text", "weights": save_weights}
    slot = result_slot(run.path, ANALYSIS, config, run.manifest, overwrite=overwrite)
    if slot.existing is not None:
        return slot.existing
    rows, oof_frames, fit_rows = [], [], []
    # The matrices are small (examples x examples): BLAS threads cost more than they save, far more when
    # cores are shared, so the fits run on single-threaded BLAS (scoped to this block).
    with threadpool_limits(limits=1, user_api="blas"):
        for role_name, layer in itertools.product(roles, layer_ids):
            X = run.residuals(layer, role_name)  # [n, d_model]
            base = {"role": role_name, "layer": layer, "hook": run.readouts[layer], "n": len(correct),
                    "n_correct": int(correct.sum()), "folds": folds, "seeds": len(seeds)}
            if bad := nonfinite_rows(X):
                rows += [{**base, "probe": name, "status": f"skipped: {bad} examples have NaN/inf activations"}
                         for name in estimators]
                continue
            for name, estimator in estimators.items():
                stats, per_seed, fits = evaluate_probe(estimator, X, correct, groups, splits, boot, level)
                rows.append({**base, "probe": name, **stats})
                fit_rows += [{"role": role_name, "layer": layer, "probe": name, **f} for f in fits]
                oof_frames += [pd.DataFrame({"seed": seed, "role": role_name, "layer": layer, "probe": name,
                                             "example_id": example_ids, "score": scores})
                               for seed, scores in zip(seeds, per_seed)]
                if save_weights:
                    save_refit(run, slot.path, estimator, name, X, correct, groups, role_name, layer, rows[-1])
    table = pd.DataFrame(rows)
    if not (table["status"] == "ok").any():
        raise WorkbenchError("no layer could be probed: every selected layer has NaN/inf activations")
    tables = {"layers": table, "oof": pd.concat(oof_frames, ignore_index=True), "fits": pd.DataFrame(fit_rows)}
    return slot.write(tables, best=best_layers(table))


def run_probes(run: Run, config: ProbeConfig) -> Result:
    """``wb.probe``: every (role, read-out) of ``config`` (``folds="auto"``: the most the class counts allow) and,
    with ``seeds >= 2``, the replication result; returns the ``probes`` result."""
    from workbench.analyses.replication import replication
    from workbench.analyses.summary import adapt_folds

    trust = dict(allow_incomplete=config.allow_incomplete, overwrite=config.overwrite)
    folds = adapt_folds(run, 5) if config.folds == "auto" else config.folds
    result = probe_layers(run, config.roles, config.readouts, folds=folds, probes=config.probes,
                          seeds=range(config.seed, config.seed + config.seeds), n_boot=config.n_boot,
                          save_weights=config.save_weights, **trust)
    if config.seeds >= 2:
        replication(run, result, **trust)
    return result


def save_refit(run: Run, out_dir: Path, estimator: BaseEstimator, name: str, X: np.ndarray, correct: np.ndarray,
               groups: np.ndarray, role: str, layer: int, row: dict[str, Any]) -> Path | None:
    """Refit on every example (logistic: at the folds' median C, no inner search) and save the linear read-out
    as ``out_dir/weights/<role>/<name>-layer<L>.safetensors``; returns that path (None: not a linear probe)."""
    if isinstance(estimator, LogisticProbe) and np.isfinite(row["C_median"]):
        estimator = clone(estimator).set_params(Cs=(row["C_median"],))
    final = fit_probe(estimator, X, correct, groups)
    if np.shape(getattr(final, "coef_", None)) != (1, X.shape[1]):
        return None  # not a linear read-out (a custom estimator): nothing to save
    meta = {"model_checksum": run.manifest["model"].get("checksum"), "model_name": run.model_name,
            "hook": run.readouts[layer], "layer": layer, "role": role, "n_readouts": len(run.readouts), "d_model": run.d_model,
            "probe": name, "estimator": repr(final), "C": getattr(final, "C_", None),
            "cv_auroc": row["auroc"], "cv_low": row["low"], "cv_high": row["high"], "n_train": len(correct),
            "n_correct": int(correct.sum()), "run_config_hash": run.manifest.get("config_hash")}
    return save_probe(out_dir / "weights" / role / f"{name}-layer{layer:02d}", final.coef_[0],
                      float(final.intercept_[0]), meta)


def best_layers(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per (role, probe): the layer with the highest held-out AUROC, with its interval."""
    ok = table[table["status"] == "ok"]
    best = ok.loc[ok.groupby(["role", "probe"], sort=False)["auroc"].idxmax()]
    return best[["role", "probe", "layer", "hook", "auroc", "low", "high"]].to_dict("records")


def probe_weights_path(run_path: str | Path, role: str, layer: int, probe: str = "logistic") -> Path:
    """Where ``probe_layers`` saved the weights of one probe of the run at ``run_path``: in the latest probes
    result when it has them, else in the newest earlier one that does (the path in the latest result, which
    does not exist, when none has)."""
    name = Path("weights") / role / f"{probe}-layer{layer:02d}.safetensors"
    analysis_dir = result_dir(run_path, ANALYSIS)
    folders = [*stored_results(analysis_dir), analysis_dir]  # the last: a result stored before keying
    return next((folder / name for folder in folders if (folder / name).exists()), folders[0] / name)
