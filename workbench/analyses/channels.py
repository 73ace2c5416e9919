"""Every confidence channel of a run side by side: discrimination, calibration and the validity screen.

Channels, each as a probability in [0, 1] that the answer is correct:

- ``verbal``: the parsed confidence text / 100 (missing when the text names no value);
- ``softmax_expected``: expected value of the distribution over the confidence vocabulary / 100;
- ``argmax``: value of the most probable confidence string / 100;
- ``answer_prob``: probability of the greedy answer's tokens;
- ``self_consistency``, ``semantic_entropy``, ``p_true``: the sampling channels, when ``workbench sample``
  stored them beside the run (``workbench.store.sampled``): the latest sampling result, or the one given;
  its rows' note and the config (``sampling_result``, ``sampling``) say which sampling config they came from;
- ``probe``: the probe's out-of-fold probability at its best (role, layer), from a ``probes`` result
  (the logistic probe when the result has one). The best layer is chosen on the same examples, so this
  channel is mildly optimistic; the layer's own interval in the ``probes`` result is the number to quote.

Recalibrated channels (``recalibration``), cross-fitted by question so no example is calibrated on itself:
``<channel>+platt`` and ``<channel>+isotonic`` for verbal, softmax_expected and answer_prob, and
``softmax+temperature`` (one temperature for the whole confidence distribution). They are reported beside
the raw channels; the validity screen reads the raw channels only (it screens what the model said).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from workbench.analyses.inputs import question_groups, require_complete
from workbench.analyses.recalibration import recalibrated_channels
from workbench.analyses.tables import calibration_table, reliability_table, risk_coverage_table, smooth_table
from workbench.analyses.validity import ValidityThresholds, get_thresholds, screen_table
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.results import Result, find_result, result_ref, store_result
from workbench.store.sampled import SAMPLING_CHANNELS, TABLE, check_sampling, sampling_result, sampling_source

ANALYSIS = "channels"
# channel -> (records column, full scale of that column)
RECORD_CHANNELS: dict[str, tuple[str, float]] = {
    "verbal": ("verbal_confidence", 100.0),
    "softmax_expected": ("softmax_expected", 100.0),
    "argmax": ("argmax_confidence", 100.0),
    "answer_prob": ("answer_prob", 1.0),
}
CHANNELS = (*RECORD_CHANNELS, *SAMPLING_CHANNELS, "probe")


def stored_result(run: Run, analysis: str) -> Result | None:
    """The latest result an analysis stored beside this run, or None when it has not been run."""
    return find_result(run.path, analysis)


def probe_choice(probes: Result, *, role: str | None = None, layer: int | None = None,
                 probe: str | None = None) -> dict:
    """The probe row that feeds the ``probe`` channel: the given (role, layer, probe kind) or the best held-out
    AUROC among them; the kind defaults to the logistic probe when the result has one."""
    table = probes["layers"]
    table = table[table["status"] == "ok"]
    if probe is None:
        probe = "logistic" if (table["probe"] == "logistic").any() else None
    for column, value in (("probe", probe), ("role", role), ("layer", layer)):
        if value is not None:
            table = table[table[column] == value]
    if table.empty:
        raise WorkbenchError(f"the probes result at {probes.path} has no fitted probe for probe={probe}, role={role}, "
                             f"layer={layer}; run `workbench probe` with them")
    return table.loc[table["auroc"].idxmax()].to_dict()


def probe_scores(run: Run, probes: Result, choice: dict) -> np.ndarray:
    """[n] out-of-fold probe probability of each example (averaged over the result's seeds)."""
    if probes.manifest.get("run", {}).get("config_hash") != run.manifest.get("config_hash"):
        raise WorkbenchError(f"the probes result at {probes.path} was computed on another run (config hash differs)")
    oof = probes["oof"]
    oof = oof[(oof["probe"] == choice["probe"]) & (oof["role"] == choice["role"]) & (oof["layer"] == choice["layer"])]
    mean = oof.groupby("example_id")["score"].mean()
    ids = run.records["example_id"]
    if not ids.isin(mean.index).all():
        raise WorkbenchError(f"the probes result at {probes.path} lacks some of this run's examples; re-run the probes")
    return mean.loc[ids].to_numpy()


def channel_scores(run: Run, *, probes: Result | None = None, role: str | None = None,
                   layer: int | None = None, sampling: Result | None = None) -> pd.DataFrame:
    """Per-example scores in [0, 1], one column per channel (``probe`` only when a probes result is given; the
    sampling channels from ``sampling``, default the run's latest sampling result, when there is one), beside
    example_id, item_id, family, question, correct and gold_prob (P(gold answer | prompt))."""
    records = run.records
    frame = records[["example_id", "item_id", "family", "question", "correct"]].copy()
    frame["gold_prob"] = np.exp(records["gold_logprob"].to_numpy(dtype=float))
    for channel, (column, scale) in RECORD_CHANNELS.items():
        frame[channel] = records[column].to_numpy(dtype=float) / scale
    if sampling is None:
        sampling = sampling_result(run)
    else:
        check_sampling(sampling, run)
    if sampling is not None:
        sampled = sampling[TABLE].set_index("example_id").reindex(frame["example_id"])
        for channel, column in SAMPLING_CHANNELS.items():
            if column in sampled:
                frame[channel] = sampled[column].to_numpy(dtype=float)
    if probes is not None:
        frame["probe"] = probe_scores(run, probes, probe_choice(probes, role=role, layer=layer))
    return frame


def prefix_notes(table: pd.DataFrame, where: pd.Series, text: str) -> None:
    """Put ``text`` before the note of each row at ``where`` (in place)."""
    table.loc[where, "note"] = [f"{text}; {old}" if old else text for old in table.loc[where, "note"].fillna("")]


def channels(run: Run, *, probes: Result | None = None, n_bins: int = 10, strategy: str = "uniform",
             n_boot: int = 1000, level: float = 0.95, seed: int = 0,
             thresholds: str | ValidityThresholds = "default", recalibrate: bool = True, folds: int = 5,
             sampling: Result | None = None, allow_incomplete: bool = False, overwrite: bool = False) -> Result:
    """Write and return the ``channels`` result (kept beside earlier ones of other settings; see store.results).

    Tables: ``channels`` (one row per channel: n, n_missing, accuracy, mean_confidence, overconfidence,
    auroc/auprc/prr/aurc/ece/ece_mass/smece/mce/brier with low and high, note), ``validity`` (the screen per raw
    channel, on 0-100), ``reliability`` (bins per channel), ``smooth`` (smoothed reliability curve and density
    per channel), ``risk_coverage`` (the curve per channel) and ``scores`` (per-example channel scores).
    With ``recalibrate``, the recalibrated channels (cross-fitted over ``folds`` folds by question, fewer when
    the run has fewer questions) follow the raw ones. ``sampling``: the sampling result whose channels join
    (default: the run's latest); it is part of the config, so a new sampling gives a new result.
    """
    require_complete(run, allow_incomplete)
    sampling = sampling if sampling is not None else sampling_result(run)
    scores = channel_scores(run, probes=probes, sampling=sampling)
    raw = [c for c in CHANNELS if c in scores.columns]
    notes: dict[str, str] = {}
    if recalibrate:
        groups = question_groups(run)
        folds = max(2, min(folds, len(np.unique(groups))))
        extra_scores, notes = recalibrated_channels(scores, groups, probs=run.confidence_probs(),
                                                    values=run.vocabulary.values, folds=folds, seed=seed)
        scores = pd.concat([scores, extra_scores], axis=1)
    present = [c for c in scores.columns if c in raw or c in notes]
    table = calibration_table(scores, present, "correct", n_bins=n_bins, strategy=strategy, n_boot=n_boot,
                              level=level, seed=seed)
    for name, note in notes.items():
        prefix_notes(table, table["channel"] == name, note)
    extra = {}
    if probes is not None:
        choice = probe_choice(probes)
        extra["probe_channel"] = {"probe": choice["probe"], "role": choice["role"], "layer": int(choice["layer"]),
                                  "hook": choice["hook"]}
        prefix_notes(table, table["channel"] == "probe", f"{choice['probe']} probe at {choice['role']} layer "
                     f"{int(choice['layer'])}, out-of-fold; layer chosen on these data")
    else:
        skipped = pd.DataFrame([{"channel": "probe", "n": 0, "n_missing": len(scores),
                                 "note": "skipped: no probes result (run `workbench probe` first)"}])
        at = int((table["channel"].isin(raw)).sum())
        table = pd.concat([table.iloc[:at], skipped, table.iloc[at:]], ignore_index=True)
    if sampling is not None:
        prefix_notes(table, table["channel"].isin(SAMPLING_CHANNELS), sampling_source(sampling, run.path))
    validity = screen_table(scores, raw, "correct", thresholds=thresholds, scale=1.0)  # screened on 0-100
    tables = {"channels": table, "validity": validity,
              "reliability": reliability_table(scores, present, "correct", n_bins=n_bins, strategy=strategy),
              "smooth": smooth_table(scores, present, "correct"),
              "risk_coverage": risk_coverage_table(scores, present, "correct"), "scores": scores}
    config = {"channels": present, "n_bins": n_bins, "strategy": strategy, "n_boot": n_boot, "level": level,
              "seed": seed, "thresholds": asdict(get_thresholds(thresholds)),
              "probes_result": result_ref(probes, run.path) if probes is not None else None,
              "recalibrate": recalibrate, "folds": folds if recalibrate else None}
    if sampling is not None:  # (absent otherwise, so results of runs without sampling keep their keys)
        config.update(sampling_result=result_ref(sampling, run.path), sampling=sampling.config)
    return store_result(run.path, ANALYSIS, tables, config, run.manifest, overwrite=overwrite, **extra)
