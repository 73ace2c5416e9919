"""Claims 6 and 8 and the knowledge-aware comparison, from the knowledge-split fine-tuning's held-out items.

The evidence (``Evidence.tuning``, written by ``workbench.finetune.knowledge``) holds, per held-out item and
variant (``base``; standard fine-tuning on ``known``-only, ``unknown``-only and ``mix`` items; ``knowledge-aware``
on the mix), whether the answer was correct and two confidence channels: ``answer_prob`` (the probability of the
model's own answer tokens, the paper's confidence) and ``verbal`` (the stated confidence, 0-1).

Every comparison is paired: two variants are scored on the same held-out items (those whose channel is defined
in both), and the interval resamples those items once for both (``N_BOOT`` resamples, seeded by the evidence's
seed; smooth ECE's interval uses the first ``SMECE_BOOT`` of them, its bandwidth search being costly). Several
seeds combine as every claim does (``measures.combine_seeds``).

- **claim 6** (``prior_knowledge_tuning``): ECE(known-only) - ECE(unknown-only), reproduced when its interval is
  above 0 (the issue's rule for "known data induces overconfidence").
- **claim 8** (``alignment_before_after``): ECE(after chat-format LoRA tuning on the mix) - ECE(base), on a base
  model, reproduced when above 0 (alignment worsens calibration).
- **knowledge-aware** (``knowledge_aware_reduction``): (ECE(standard) - ECE(knowledge-aware)) / ECE(standard) on
  the mix, the share of ECE it removes (the paper: 57% on Llama3-8B), reproduced when above 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analyses.calibration import auroc_rows, bin_ids
from workbench.analyses.measures import N_BOOT, Measure, combine_seeds, resample
from workbench.analyses.smooth_ece import smece_rows

CHANNELS = {"answer_prob": "answer probability", "verbal": "verbal confidence"}
METRICS = ("accuracy", "ece", "smece", "overconfidence", "brier", "auroc")
SMECE_BOOT = 200  # smooth ECE's interval: the first 200 resamples (each searches its own bandwidth: ~35 ms a row)
MIN_ITEMS = 10  # fewer held-out items with the channel defined: inconclusive
NOT_RUN = "the knowledge-split fine-tuning did not run for this model (replicate --tuning MODEL)"


def ece_rows(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """ECE (equal-width bins, as ``calibration.ece``) of each row of conf, correct [B, n] -> [B]."""
    rows, n = conf.shape
    flat = (np.arange(rows)[:, None] * n_bins + bin_ids(conf.ravel(), n_bins, "uniform").reshape(conf.shape)).ravel()
    gap = np.bincount(flat, (correct - conf).ravel(), minlength=rows * n_bins).reshape(rows, n_bins)
    return np.abs(gap).sum(-1) / n


def metric_rows(metric: str, conf: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """One metric of each row of conf [B, n] against correct [B, n] (bool) -> [B]; AUROC NaN on one class."""
    correct = correct.astype(float)
    if metric == "accuracy":
        return correct.mean(-1)
    if metric == "ece":
        return ece_rows(conf, correct)
    if metric == "smece":
        return smece_rows(conf, correct)[0]
    if metric == "overconfidence":
        return conf.mean(-1) - correct.mean(-1)
    if metric == "brier":
        return ((conf - correct) ** 2).mean(-1)
    if metric == "auroc":
        with np.errstate(divide="ignore", invalid="ignore"):
            return auroc_rows(conf, correct)
    raise ValueError(f"unknown metric {metric!r}")


def paired(tuning: pd.DataFrame, variants: Sequence[str], channel: str, metric: str, seed: int
           ) -> dict[str, tuple[float, np.ndarray]] | str:
    """{variant: (value, item-bootstrap replicates [N_BOOT])} of ``metric`` on the held-out items whose
    ``channel`` is defined in every one of ``variants``, one resampling of those items for all; or why not."""
    wide = {v: tuning[tuning["variant"] == v].set_index("item_id") for v in variants}
    missing = [v for v, part in wide.items() if part.empty]
    if missing:
        return f"no held-out rows of variant(s) {', '.join(missing)}"
    items = wide[variants[0]].index
    keep = np.logical_and.reduce([np.isfinite(part.loc[items, channel].to_numpy(dtype=float)) for part in wide.values()])
    if keep.sum() < MIN_ITEMS:
        return f"{int(keep.sum())} held-out items with a {CHANNELS.get(channel, channel)} in every variant: too few"
    items = items[keep]
    idx = resample(len(items), seed)  # [n_boot, n]
    if metric == "smece":
        idx = idx[:SMECE_BOOT]
    out = {}
    for v, part in wide.items():
        conf = part.loc[items, channel].to_numpy(dtype=float)
        correct = part.loc[items, "correct"].to_numpy(dtype=bool)
        out[v] = (float(metric_rows(metric, conf[None], correct[None])[0]), metric_rows(metric, conf[idx], correct[idx]))
    return out


def _contrast(ev, a: str, b: str, channel: str, how, note) -> Measure:
    if ev.tuning is None or ev.tuning.empty:
        return Measure.undetermined(ev.tuning_why or NOT_RUN)
    found = paired(ev.tuning, (a, b), channel, "ece", ev.seed)
    if isinstance(found, str):
        return Measure.undetermined(found)
    (va, sa), (vb, sb) = found[a], found[b]
    with np.errstate(divide="ignore", invalid="ignore"):
        return Measure.bootstrapped(how(va, vb), how(sa, sb), note(ev, va, vb))


def _accuracy_note(ev, a: str, b: str) -> str:
    acc = paired(ev.tuning, (a, b), "correct", "accuracy", ev.seed) if "correct" in ev.tuning else None
    if not isinstance(acc, dict):
        return ""
    diff = acc[a][1] - acc[b][1]
    return (f"; accuracy {a} {acc[a][0]:.3f} vs {b} {acc[b][0]:.3f} (change {acc[a][0] - acc[b][0]:+.3f} "
            f"[{np.percentile(diff, 2.5):+.3f}, {np.percentile(diff, 97.5):+.3f}])")


def prior_knowledge_tuning(ev, channel: str = "answer_prob") -> Measure:
    """Claim 6 (arXiv 2505.20903): standard fine-tuning on known items leaves the model worse calibrated than on
    unknown items: ECE(known-only) - ECE(unknown-only) of ``channel`` on the same held-out items, paired."""
    return _contrast(ev, "known", "unknown", channel, lambda a, b: a - b,
                     lambda e, a, b: f"ECE after known-only {a:.3f} vs unknown-only {b:.3f}" +
                     _accuracy_note(e, "known", "unknown"))


def alignment_before_after(ev, channel: str = "answer_prob") -> Measure:
    """Claim 8 as a before/after on the same weights: ECE(after LoRA chat-format tuning on every family mixed) -
    ECE(base) of ``channel`` on the same held-out items, paired; only a base (not instruct) model has a before."""
    if ev.instruct:
        return Measure.undetermined(f"{ev.model} is instruct-tuned already: the before/after needs a base model")
    return _contrast(ev, "mix", "base", channel, lambda a, b: a - b,
                     lambda e, a, b: f"ECE after {a:.3f} vs base {b:.3f}" + _accuracy_note(e, "mix", "base"))


def knowledge_aware_reduction(ev, channel: str = "answer_prob") -> Measure:
    """The knowledge-aware strategy against standard fine-tuning on the same mixed items and steps: the share of
    ECE it removes, (ECE(standard) - ECE(knowledge-aware)) / ECE(standard), paired; accuracy change in the note."""
    return _contrast(ev, "mix", "knowledge-aware", channel, lambda a, b: (a - b) / a,
                     lambda e, a, b: f"ECE standard {a:.3f} vs knowledge-aware {b:.3f}" +
                     _accuracy_note(e, "knowledge-aware", "mix"))


def tuning_table(evidence: Sequence) -> pd.DataFrame:
    """One row per (model, variant, channel, metric): value and 95% interval over held-out items and seeds (the
    claims' two-level bootstrap), with the seeds used. ``accuracy`` has channel ``""``."""
    by_model: dict[str, list] = {}
    for ev in evidence:
        if ev.tuning is not None and not ev.tuning.empty:
            by_model.setdefault(ev.model, []).append(ev)
    rows = []
    for model, evs in by_model.items():
        variants = list(dict.fromkeys(evs[0].tuning["variant"]))
        for channel in ("", *CHANNELS):
            for metric in (("accuracy",) if channel == "" else METRICS[1:]):
                for variant in variants:
                    measures = []
                    for ev in evs:
                        found = paired(ev.tuning.assign(always=1.0), (variant,), channel or "always", metric, ev.seed)
                        if isinstance(found, dict):
                            value, samples = found[variant]
                            measures.append(Measure.bootstrapped(value, samples))
                    value, low, high = combine_seeds(measures) if measures else (np.nan, np.nan, np.nan)
                    rows.append({"model": model, "variant": variant, "channel": channel, "metric": metric,
                                 "value": value, "low": low, "high": high, "seeds": len(measures)})
    return pd.DataFrame(rows, columns=["model", "variant", "channel", "metric", "value", "low", "high", "seeds"])
