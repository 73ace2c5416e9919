"""Prior knowledge: calibration on items the model already knows versus items it does not.

An item is *known* when the model's probability of the gold answer, P(gold | prompt) (teacher-forced,
the canonical gold string, from the run's ``gold_logprob``), exceeds ``threshold``.

Default threshold 0.5: above it the model's greedy decoding is guaranteed to produce the gold answer's
tokens, because a product of per-token probabilities above 1/2 forces every factor above 1/2, which makes
each gold token the top choice at its step. So "known" means "the model would say the gold answer
unprompted", a property of the model rather than of this sample (a median split would always call half
the items known, even for a model that knows nothing). Its limits: an answer phrased as an alias
("NYC" for "New York City") has a low P(gold) yet may be correct, and long gold strings have lower
probabilities; pass another threshold to study either.

Reported per split and channel: accuracy, mean confidence, overconfidence (mean confidence - accuracy),
ECE, Brier, AUROC..., and in ``contrast`` the known-minus-unknown overconfidence with a bootstrap
interval: the measurement behind "data the model already knows induces overconfidence".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analyses.calibration import percentile_interval
from workbench.analyses.channels import CHANNELS, channel_scores, channels, stored_result
from workbench.analyses.inputs import require_complete
from workbench.analyses.tables import calibration_table, reliability_table, table_columns
from workbench.configs import CalibrateConfig
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.results import Result, result_ref, store_result
from workbench.store.sampled import sampling_result

ANALYSIS = "prior_knowledge"
DEFAULT_THRESHOLD = 0.5
SPLITS = ("known", "unknown")


def knowledge_split(gold_prob, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """[n] "known" where P(gold) > threshold, else "unknown"."""
    gold_prob = np.asarray(gold_prob, dtype=float)
    if not 0 < threshold < 1:
        raise WorkbenchError(f"the prior-knowledge threshold is a probability in (0, 1), got {threshold}")
    if not np.isfinite(gold_prob).all() or gold_prob.min() < 0 or gold_prob.max() > 1 + 1e-9:
        raise WorkbenchError("P(gold) must be finite probabilities in [0, 1]")
    return np.where(gold_prob > threshold, "known", "unknown")


def overconfidence_contrast(frame: pd.DataFrame, confidence: Sequence[str], *, split: str = "split",
                            correct: str = "correct", n_boot: int = 1000, level: float = 0.95,
                            seed: int = 0) -> pd.DataFrame:
    """Per channel: overconfidence of the known split minus the unknown split, bootstrap within each split."""
    rng = np.random.default_rng(seed)
    rows = []
    for channel in confidence:
        parts = {s: frame.loc[(frame[split] == s) & frame[channel].notna(), [channel, correct]].to_numpy(dtype=float)
                 for s in SPLITS}
        row = {"channel": channel, **{f"n_{s}": len(parts[s]) for s in SPLITS}}
        if any(len(p) == 0 for p in parts.values()):
            rows.append({**row, "note": "skipped: a split is empty"})
            continue
        over = {s: p[:, 0].mean() - p[:, 1].mean() for s, p in parts.items()}
        boot = np.zeros(n_boot)
        for s, sign in (("known", 1), ("unknown", -1)):
            p = parts[s]
            idx = rng.integers(0, len(p), size=(n_boot, len(p)))  # [n_boot, n_split]
            boot += sign * (p[idx, 0].mean(axis=1) - p[idx, 1].mean(axis=1))
        low, high = percentile_interval(boot, level)
        rows.append({**row, "overconfidence_known": over["known"], "overconfidence_unknown": over["unknown"],
                     "difference": over["known"] - over["unknown"], "low": low, "high": high, "note": ""})
    return pd.DataFrame(rows)


def prior_knowledge_tables(frame: pd.DataFrame, confidence: str | Sequence[str], *, gold_prob: str = "gold_prob",
                           correct: str = "correct", threshold: float = DEFAULT_THRESHOLD, scale: float = 1.0,
                           n_bins: int = 10, strategy: str = "uniform", n_boot: int = 1000, level: float = 0.95,
                           seed: int = 0) -> dict[str, pd.DataFrame]:
    """Split any table by ``gold_prob`` and score each confidence column per split (DataFrame entry point):
    tables ``splits`` (calibration per split and channel; an empty split is a row with a note), ``contrast``
    and ``reliability``."""
    columns, _ = table_columns(frame, confidence, correct, [gold_prob])
    frame = frame.assign(split=knowledge_split(frame[gold_prob], threshold))
    frame = frame.assign(**{c: frame[c] / scale for c in columns})
    splits = calibration_table(frame, columns, correct, by="split", n_bins=n_bins, strategy=strategy, n_boot=n_boot,
                               level=level, seed=seed)
    empty = [{"split": s, "channel": c, "n": 0, "n_missing": 0,
              "note": f"no {s} items (P(gold) {'>' if s == 'known' else '<='} {threshold})"}
             for s in SPLITS if not (frame["split"] == s).any() for c in columns]
    splits = pd.concat([splits, pd.DataFrame(empty)], ignore_index=True) if empty else splits
    contrast = overconfidence_contrast(frame, columns, correct=correct, n_boot=n_boot, level=level, seed=seed)
    bins = reliability_table(frame, columns, correct, by="split", n_bins=n_bins, strategy=strategy)
    return {"splits": splits, "contrast": contrast, "reliability": bins}


def prior_knowledge(run: Run, *, probes: Result | None = None, threshold: float = DEFAULT_THRESHOLD,
                    n_bins: int = 10, strategy: str = "uniform", n_boot: int = 1000, level: float = 0.95,
                    seed: int = 0, sampling: Result | None = None, allow_incomplete: bool = False,
                    overwrite: bool = False) -> Result:
    """Write and return the ``prior_knowledge`` result for every channel of the run (see the module docstring);
    ``sampling``: the sampling result whose channels join (default: the run's latest), recorded in the config."""
    require_complete(run, allow_incomplete)
    sampling = sampling if sampling is not None else sampling_result(run)
    scores = channel_scores(run, probes=probes, sampling=sampling)
    present = [c for c in CHANNELS if c in scores.columns]
    tables = prior_knowledge_tables(scores, present, threshold=threshold, n_bins=n_bins, strategy=strategy,
                                    n_boot=n_boot, level=level, seed=seed)
    tables["scores"] = scores.assign(split=knowledge_split(scores["gold_prob"], threshold))
    config = {"threshold": threshold, "channels": present, "n_bins": n_bins, "strategy": strategy,
              "n_boot": n_boot, "level": level, "seed": seed}
    if sampling is not None:  # (absent otherwise, so results of runs without sampling keep their keys)
        config["sampling_result"] = result_ref(sampling, run.path)
    return store_result(run.path, ANALYSIS, tables, config, run.manifest, overwrite=overwrite)


def run_calibration(run: Run, config: CalibrateConfig, *, probes: Result | None = None,
                    sampling: Result | None = None) -> Result:
    """``wb.calibrate``: every channel and, with ``config.prior_knowledge``, known vs unknown items; returns the
    ``channels`` result. ``probes``: the result whose best probe becomes a channel (default: the run's, when
    stored); ``sampling``: the ``wb.sample`` result whose channels join (default: the run's latest)."""
    probes = probes if probes is not None else stored_result(run, "probes")
    options = dict(probes=probes, sampling=sampling, n_bins=config.n_bins, strategy=config.strategy,
                   n_boot=config.n_boot, seed=config.seed, allow_incomplete=config.allow_incomplete,
                   overwrite=config.overwrite)
    result = channels(run, thresholds=config.validity, **options)
    if config.prior_knowledge:
        prior_knowledge(run, threshold=config.known_threshold, **options)
    return result
