"""The seed study's eight claims, each tested on one model's stored results: a number, an interval, a verdict.

Each claim is a small function from a model's ``Evidence`` (the records of a run and the stored tables of
its analyses) to a ``Measure``: value, 95% interval, and a note. Its docstring states its rule. A claim that
cannot be computed (too few correct or incorrect answers, one class, an analysis that did not run) gives
``Measure.undetermined(why)``: verdict ``inconclusive`` with the reason, never a number from nothing.

Verdicts, from the interval and the claim's threshold t: ``reproduced`` when low > t, ``refuted`` when
high < t, ``inconclusive`` otherwise (the interval holds t).

Over S > 1 seeds (each seed is its own item sample, fold split and pairing), the value is the mean of the
seeds' values and the interval a two-level bootstrap over seeds and items (``combine_seeds``): draw S
seeds with replacement and, for each drawn seed, one of its bootstrap replicates over items; the interval
is the 2.5/97.5 percentiles of their mean. So it widens with the spread between seeds and with each seed's
own uncertainty. A measure known only by its interval (the layer gradient's, stored by the patching
analysis) contributes normal draws of that interval's width. A seed without a number makes the claim
inconclusive.

All functions are pure: they read tables, never a model or a file, so they are tested on synthetic results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from workbench.analyses.calibration import auroc, auroc_rows, bootstrap_indices, ece, percentile_interval
from workbench.analyses.validity import screen

MIN_CLASS = 10  # fewer correct (or incorrect) answers than this: discrimination claims are inconclusive
MIN_SPLIT = 10  # fewer items in a split (known/unknown, parsed verbal): inconclusive
N_BOOT = 1000
VERDICTS = ("reproduced", "refuted", "inconclusive")
CLAIM_COLUMNS = ("claim", "model", "statement", "seed_value", "value", "low", "high", "verdict", "why")


@dataclass(frozen=True)
class Evidence:
    """What the claims read about one model and seed.

    ``records``: the run's records (correct, question, verbal_confidence, softmax_expected, argmax or
    argmax_confidence, gold_logprob). ``oof``: the probes result's out-of-fold scores (role, layer, probe,
    example_id, score), ``effects``/``controls``/``gradient``: the patching result's ``effects``,
    ``controls_summary`` and ``gradient_summary`` tables (effects are normalised shifts), ``finetune``: one
    row per held-out item of a probe-targeted fine-tuning (``workbench.finetune.recovery.RECOVERY_COLUMNS``:
    correct_before, probe_before, correct_after, verbal_after), when one ran; ``finetune_why``: why it did not.
    """

    model: str
    seed: int = 0
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    oof: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    controls: pd.DataFrame | None = None
    gradient: pd.DataFrame | None = None
    finetune: pd.DataFrame | None = None
    finetune_why: str | None = None
    instruct: bool = True

    @property
    def correct(self) -> np.ndarray:
        return self.records["correct"].to_numpy(dtype=bool)

    def column(self, *names: str) -> np.ndarray:
        """The first of ``names`` that the records hold, as floats (the argmax column was renamed once)."""
        for name in names:
            if name in self.records.columns:
                return self.records[name].to_numpy(dtype=float)
        raise KeyError(f"the records hold none of {names}")


@dataclass(frozen=True)
class Measure:
    value: float = np.nan
    low: float = np.nan
    high: float = np.nan
    note: str = ""
    blocked: str | None = None  # why there is no verdict even with a number (e.g. a control failed)
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)  # [n_boot] item bootstrap replicates

    @classmethod
    def undetermined(cls, why: str) -> "Measure":
        return cls(blocked=why)

    @classmethod
    def bootstrapped(cls, value: float, samples: np.ndarray, note: str = "") -> "Measure":
        """A value with its 95% percentile interval from its item bootstrap replicates ``samples`` [n_boot] (kept,
        so several seeds can be combined)."""
        low, high = percentile_interval(samples)
        return cls(float(value), low, high, note, samples=samples)

    @property
    def determined(self) -> bool:
        return self.blocked is None and np.isfinite([self.value, self.low, self.high]).all()


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str
    seed_value: str
    threshold: float
    measure: Callable[..., Measure]
    cross_model: bool = False  # measure(instruct, base) instead of measure(evidence)


# --- helpers ------------------------------------------------------------------------------------------------

def class_problem(correct: np.ndarray) -> str | None:
    """Why discrimination cannot be measured on these labels, or None."""
    n_ok, n_bad = int(correct.sum()), int((~correct).sum())
    if n_ok == 0 or n_bad == 0:
        return f"all {len(correct)} answers are {'correct' if n_bad == 0 else 'incorrect'}: one class"
    if n_ok < MIN_CLASS:
        return f"{n_ok} correct answers: too few (need {MIN_CLASS})"
    if n_bad < MIN_CLASS:
        return f"{n_bad} incorrect answers: too few (need {MIN_CLASS})"
    return None


def paired_auroc_difference(a: np.ndarray, b: np.ndarray, correct: np.ndarray, seed: int) -> Measure:
    """AUROC(a) - AUROC(b) on the same items, with a stratified paired bootstrap interval."""
    idx = bootstrap_indices(correct, n_boot=N_BOOT, seed=seed)  # [n_boot, n]
    diffs = auroc_rows(a[idx], correct[idx]) - auroc_rows(b[idx], correct[idx])
    return Measure.bootstrapped(auroc(a, correct) - auroc(b, correct), diffs,
                                f"AUROC {auroc(a, correct):.3f} vs {auroc(b, correct):.3f}")


def nested_layer_scores(oof: pd.DataFrame, correct: pd.Series, groups: pd.Series, *, folds: int = 5,
                        seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Out-of-fold probe scores [n] with the layer chosen without the scored items' labels, and the layers chosen.

    The probes result holds each layer's held-out score of every item. Items are split into ``folds``
    folds by question; for each fold the layer is the one with the best AUROC on the *other* folds, and the
    fold's items get that layer's scores. The best-of-all-layers AUROC picks the layer on the items it then
    scores (optimistic); this one does not.
    """
    wide = oof.pivot_table(index="example_id", columns="layer", values="score", aggfunc="mean")
    wide = wide.loc[correct.index]
    scores, labels = wide.to_numpy(dtype=float), correct.to_numpy(dtype=bool)  # [n, n_layers], [n]
    chosen_scores, chosen = np.full(len(labels), np.nan), []
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(scores, labels, groups.loc[correct.index].to_numpy()):
        per_layer = auroc_rows(scores[train].T, np.broadcast_to(labels[train], (scores.shape[1], len(train))))
        best = int(np.nanargmax(per_layer))
        chosen_scores[test] = scores[test, best]
        chosen.append(int(wide.columns[best]))
    return chosen_scores, chosen


# --- the claims -----------------------------------------------------------------------------------------------

def probe_beats_verbal(ev: Evidence) -> Measure:
    """Claim 1: AUROC(probe) - AUROC(verbal) > 0 on items with a parsed verbal confidence.

    The probe is the logistic probe at the confidence slot, its layer chosen by nested cross-validation
    (``nested_layer_scores``). Threshold 0; inconclusive with fewer than ``MIN_CLASS`` items of a class or
    ``MIN_SPLIT`` parsed verbal confidences, or without a probes result.
    """
    if ev.oof is None or ev.oof.empty:
        return Measure.undetermined("no probes result")
    verbal = ev.column("verbal_confidence")
    parsed = np.isfinite(verbal)
    if parsed.sum() < MIN_SPLIT:
        return Measure.undetermined(f"{int(parsed.sum())} parsed verbal confidences: too few")
    frame = ev.records[parsed]
    if problem := class_problem(frame["correct"].to_numpy(dtype=bool)):
        return Measure.undetermined(problem)
    oof = ev.oof
    probe = "logistic" if "logistic" in set(oof["probe"]) else sorted(oof["probe"])[0]
    role = "confidence_slot" if "confidence_slot" in set(oof["role"]) else sorted(oof["role"])[0]
    oof = oof[(oof["probe"] == probe) & (oof["role"] == role)]
    correct = frame.set_index("example_id")["correct"].astype(bool)
    scores, layers = nested_layer_scores(oof, correct, frame.set_index("example_id")["question"], seed=ev.seed)
    m = paired_auroc_difference(scores, verbal[parsed] / 100, correct.to_numpy(), ev.seed)
    return replace(m, note=f"probe vs verbal {m.note.split(' ', 1)[1]}; layers chosen {layers}")


def verbal_ceiling(ev: Evidence) -> Measure:
    """Claim 2: verbal confidence sits at the ceiling: L = share of parsed verbal confidences >= 95.

    Threshold 0.70 (the validity screen's Invalid ceiling rate): reproduced when L's bootstrap interval lies
    above it. The screen's tier is given in the note. Inconclusive with fewer than ``MIN_SPLIT`` parsed.
    """
    verbal = ev.column("verbal_confidence")
    parsed = verbal[np.isfinite(verbal)]
    if len(parsed) < MIN_SPLIT:
        return Measure.undetermined(f"{len(parsed)} parsed verbal confidences: too few")
    at_ceiling = (parsed >= 95).astype(float)
    rng = np.random.default_rng(ev.seed)
    samples = at_ceiling[rng.integers(0, len(parsed), size=(N_BOOT, len(parsed)))].mean(axis=1)
    tier = screen(verbal, ev.correct.astype(int))["tier"]
    return Measure.bootstrapped(at_ceiling.mean(), samples, f"tier {tier}; {len(parsed)} parsed")


def text_bottleneck(ev: Evidence) -> Measure:
    """Claim 3: AUROC(softmax expected value) - AUROC(argmax) > 0: the distribution knows more than its text.

    Threshold 0, paired bootstrap; inconclusive with fewer than ``MIN_CLASS`` items of a class.
    """
    if problem := class_problem(ev.correct):
        return Measure.undetermined(problem)
    return paired_auroc_difference(ev.column("softmax_expected"), ev.column("argmax_confidence", "argmax"),
                                   ev.correct, ev.seed)


def _control_failures(controls: pd.DataFrame) -> list[str]:
    """Which of the seed's controls fail, from the patching result's ``controls_summary``."""
    table = controls.set_index("control")
    sweep = table.loc["sweep"]
    failures = []
    if "reverse" in table.index and not table.loc["reverse", "mean_effect"] > 0:
        failures.append("not bidirectional (reverse pairs do not move toward their source)")
    if "off_position" in table.index and not table.loc["off_position", "mean_abs_effect"] < sweep["mean_abs_effect"]:
        failures.append("not position-specific (patching mid-prompt moves it as much)")
    if "random" in table.index and not table.loc["random", "mean_abs_effect"] < sweep["mean_abs_effect"]:
        failures.append("not answer-selective (random pairs move it as much)")
    missing = [c for c in ("reverse", "off_position", "random") if c not in table.index]
    if missing:
        failures.append(f"controls not run: {', '.join(missing)}")
    return failures


def layer_gradient(ev: Evidence) -> Measure:
    """Claim 4: rho(layer, effect) > 0 over all layers, and > 0 on the seed's 8 evenly spaced layers.

    Threshold 0 on rho over all layers (pairs bootstrap). Inconclusive, with the reason, when rho over the 8
    layers is not positive or a control fails: the reverse pairs must move toward their own source
    (bidirectional), and patching mid-prompt (position-specific) and random pairs (answer-selective) must
    move the confidence less than the sweep does.
    """
    if ev.gradient is None or ev.gradient.empty or ev.controls is None:
        return Measure.undetermined("no patching result with a layer gradient")
    g = ev.gradient.iloc[0]
    failures = _control_failures(ev.controls)
    if not g["rho8"] > 0:
        failures.insert(0, f"rho on 8 layers {g['rho8']:+.2f}")
    note = f"8 layers: {g['rho8']:+.2f} [{g['rho8_low']:+.2f}, {g['rho8_high']:+.2f}]"
    if failures and g["rho_low"] > 0:  # a positive gradient that the controls do not back
        return Measure(float(g["rho"]), float(g["rho_low"]), float(g["rho_high"]), note, "; ".join(failures))
    note += f"; {'; '.join(failures)}" if failures else "; controls pass"
    return Measure(float(g["rho"]), float(g["rho_low"]), float(g["rho_high"]), note)


def late_effect(ev: Evidence) -> Measure:
    """Claim 5: patching at late layers restores most of the gap: mean normalised shift over the last third
    of the swept layers (per pair, then over pairs; bootstrap over pairs). Threshold 0.5 (half the gap)."""
    if ev.effects is None or ev.effects.empty:
        return Measure.undetermined("no patching effects")
    layers = np.sort(ev.effects["layer"].unique())
    late = layers[len(layers) - max(1, len(layers) // 3):]
    per_pair = ev.effects[ev.effects["layer"].isin(late)].groupby("pair_id")["effect"].mean().dropna().to_numpy()
    if len(per_pair) < MIN_SPLIT:
        return Measure.undetermined(f"{len(per_pair)} pairs with a defined normalised shift: too few")
    rng = np.random.default_rng(ev.seed)
    samples = per_pair[rng.integers(0, len(per_pair), size=(N_BOOT, len(per_pair)))].mean(1)
    return Measure.bootstrapped(per_pair.mean(), samples, f"layers {int(late[0])}..{int(late[-1])}, {len(per_pair)} pairs")


def prior_knowledge_overconfidence(ev: Evidence) -> Measure:
    """Claim 6: items the model knows (P(gold) > 0.5) draw more overconfidence (mean verbal confidence - accuracy)
    than items it does not: known minus unknown, bootstrap within each split. Threshold 0; inconclusive with
    fewer than ``MIN_SPLIT`` items with a parsed verbal confidence in a split."""
    verbal = ev.column("verbal_confidence") / 100
    known = np.exp(ev.column("gold_logprob")) > 0.5
    ok = np.isfinite(verbal)
    parts = {name: np.flatnonzero(ok & mask) for name, mask in (("known", known), ("unknown", ~known))}
    for name, members in parts.items():
        if len(members) < MIN_SPLIT:
            return Measure.undetermined(f"{len(members)} {name} items: too few")
    gap = verbal - ev.correct

    def contrast(k: np.ndarray, u: np.ndarray) -> np.ndarray:
        return gap[k].mean(-1) - gap[u].mean(-1)

    rng = np.random.default_rng(ev.seed)
    k, u = parts["known"], parts["unknown"]
    samples = contrast(k[rng.integers(0, len(k), (N_BOOT, len(k)))], u[rng.integers(0, len(u), (N_BOOT, len(u)))])
    return Measure.bootstrapped(contrast(k, u), samples, f"{len(k)} known, {len(u)} unknown")


def probe_recovery(ev: Evidence) -> Measure:
    """Claim 7: probe-targeted fine-tuning recovers the probe's discrimination in verbal confidence ("probe
    recovery"): AUROC(verbal confidence after fine-tuning) / AUROC(the targeted probe before), both on the
    same held-out items (never trained on, and the probe's layer was chosen on the training items), with a
    paired bootstrap over those items. Only items whose verbal confidence parsed after fine-tuning count.
    Threshold 0.9 (the seed's lowest, 91%). Inconclusive when no fine-tuning ran (with why), or with fewer
    than ``MIN_CLASS`` items of a class before or after, or ``MIN_SPLIT`` parsed confidences."""
    if ev.finetune is None or ev.finetune.empty:
        return Measure.undetermined(ev.finetune_why or "fine-tuning not run for this model")
    f = ev.finetune[np.isfinite(ev.finetune["verbal_after"].to_numpy(dtype=float))]
    if len(f) < MIN_SPLIT:
        return Measure.undetermined(f"{len(f)} of {len(ev.finetune)} held-out verbal confidences parsed after "
                                    "fine-tuning: too few")
    before, after = f["correct_before"].to_numpy(dtype=bool), f["correct_after"].to_numpy(dtype=bool)
    for when, labels in (("before", before), ("after", after)):
        if problem := class_problem(labels):
            return Measure.undetermined(f"held-out items {when} fine-tuning: {problem}")
    probe, verbal = f["probe_before"].to_numpy(dtype=float), f["verbal_after"].to_numpy(dtype=float)
    idx = np.random.default_rng(ev.seed).integers(0, len(f), size=(N_BOOT, len(f)))  # [n_boot, n]
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample with one class gives NaN, then ignored
        samples = auroc_rows(verbal[idx], after[idx]) / auroc_rows(probe[idx], before[idx])
    probe_auroc, verbal_auroc = auroc(probe, before), auroc(verbal, after)
    return Measure.bootstrapped(verbal_auroc / probe_auroc, samples, f"verbal AUROC after {verbal_auroc:.3f} / probe "
                                f"AUROC before {probe_auroc:.3f} on the {len(f)} of {len(ev.finetune)} held-out items "
                                "whose verbal confidence parsed after fine-tuning")


def alignment_calibration(instruct: Evidence, base: Evidence | None) -> Measure:
    """Claim 8: instruct tuning worsens calibration: ECE(verbal) of the instruct model - ECE(verbal) of the base
    model (gemma-3-270m), bootstrap of each independently. A cross-family contrast, not a controlled one.
    Threshold 0; inconclusive without a base model or with fewer than ``MIN_SPLIT`` parsed confidences."""
    if base is None:
        return Measure.undetermined("no base model in the ladder")
    values, samples = [], []
    for i, ev in enumerate((instruct, base)):
        verbal = ev.column("verbal_confidence")
        ok = np.isfinite(verbal)
        if ok.sum() < MIN_SPLIT:
            return Measure.undetermined(f"{ev.model}: {int(ok.sum())} parsed verbal confidences: too few")
        conf, corr = verbal[ok] / 100, ev.correct[ok]
        rng = np.random.default_rng(ev.seed + i)
        idx = rng.integers(0, len(conf), size=(N_BOOT, len(conf)))
        values.append(ece(conf, corr))
        samples.append(np.array([ece(conf[j], corr[j]) for j in idx]))
    return Measure.bootstrapped(values[0] - values[1], samples[0] - samples[1],
                                f"ECE {values[0]:.3f} vs {base.model} {values[1]:.3f}")


CLAIMS: tuple[Claim, ...] = (
    Claim("probe_beats_verbal", "a linear probe discriminates correct from incorrect better than verbal confidence "
          "(AUROC difference, layer by nested CV)", "probe 0.76-0.88 vs verbal ~0.5-0.7", 0.0, probe_beats_verbal),
    Claim("verbal_ceiling", "verbal confidence is at ceiling (share >= 95)", "L 0.99, Invalid", 0.70, verbal_ceiling),
    Claim("text_bottleneck", "the confidence distribution discriminates better than its argmax text "
          "(AUROC softmax - argmax)", "> 0", 0.0, text_bottleneck),
    Claim("layer_gradient", "patching effect grows with depth: rho(layer, normalised shift), with controls",
          "rho 0.976 on 8 layers", 0.0, layer_gradient),
    Claim("late_effect", "late-layer patching restores most of the confidence gap (mean normalised shift)",
          "large late-layer shift", 0.5, late_effect),
    Claim("prior_knowledge", "known items draw more overconfidence than unknown ones (known - unknown)",
          "004: known items overconfident", 0.0, prior_knowledge_overconfidence),
    Claim("probe_recovery", "probe-targeted fine-tuning recovers the probe's discrimination in verbal confidence "
          "(verbal AUROC after / probe AUROC before)", "91-113%", 0.9, probe_recovery),
    Claim("alignment", "instruct models are worse calibrated than a base model (ECE instruct - base; "
          "cross-family, not controlled)", "instruct worse calibrated", 0.0, alignment_calibration, cross_model=True),
)


def seed_draws(m: Measure, rng: np.random.Generator) -> np.ndarray:
    """A measure's bootstrap replicates over items, or normal draws matching its 95% interval when it has none."""
    if m.samples is not None and np.isfinite(m.samples).any():
        return m.samples[np.isfinite(m.samples)]
    return m.value + (m.high - m.low) / (2 * 1.959964) * rng.standard_normal(N_BOOT)


def combine_seeds(measures: Sequence[Measure], seed: int = 0) -> tuple[float, float, float]:
    """(value, low, high) over seeds: the mean of the seeds' values, and the two-level bootstrap interval (draw
    the seeds with replacement, then one item-bootstrap replicate of each drawn seed; percentiles of the mean).
    One seed: its own value and interval."""
    if len(measures) == 1:
        return measures[0].value, measures[0].low, measures[0].high
    rng = np.random.default_rng(seed)
    draws = [seed_draws(m, rng) for m in measures]
    chosen = rng.integers(0, len(measures), size=(N_BOOT, len(measures)))  # [n_boot, S] seeds drawn
    picked = np.zeros(chosen.shape)
    for s, d in enumerate(draws):
        where = chosen == s
        picked[where] = d[rng.integers(0, len(d), size=int(where.sum()))]
    low, high = percentile_interval(picked.mean(axis=1))
    return float(np.mean([m.value for m in measures])), low, high


def verdict(measures: Sequence[Measure], threshold: float) -> tuple[float, float, float, str, str]:
    """(value, low, high, verdict, why) over the seeds' measures (``combine_seeds``)."""
    blocked = [m.blocked for m in measures if not m.determined]
    finite = [m for m in measures if np.isfinite([m.value, m.low, m.high]).all()]
    value, low, high = combine_seeds(finite) if finite else (np.nan, np.nan, np.nan)
    notes = "; ".join(dict.fromkeys(m.note for m in measures if m.note))
    if len(measures) > 1:
        notes = f"{len(measures)} seeds; {notes}" if notes else f"{len(measures)} seeds"
    if blocked:
        reasons = "; ".join(dict.fromkeys(b or "no interval" for b in blocked))
        return value, low, high, "inconclusive", reasons + (f" ({notes})" if notes else "")
    if low > threshold:
        return value, low, high, "reproduced", f"interval above {threshold:g}; {notes}".rstrip("; ")
    if high < threshold:
        return value, low, high, "refuted", f"interval below {threshold:g}; {notes}".rstrip("; ")
    return value, low, high, "inconclusive", f"interval holds {threshold:g}; {notes}".rstrip("; ")


def claims_table(evidence: Sequence[Evidence], *, base_model: str | None = "gemma-3-270m") -> pd.DataFrame:
    """One row per (claim, model) over every seed of each model; the alignment claim only for instruct models
    (against ``base_model``'s evidence of the same seed, when present)."""
    by_model: dict[str, list[Evidence]] = {}
    for ev in evidence:
        by_model.setdefault(ev.model, []).append(ev)
    base = {ev.seed: ev for ev in by_model.get(base_model, [])} if base_model else {}
    rows = []
    for claim in CLAIMS:
        for model, evs in by_model.items():
            if claim.cross_model:
                if not evs[0].instruct:
                    continue
                measures = [claim.measure(ev, base.get(ev.seed)) for ev in evs]
            else:
                measures = [claim.measure(ev) for ev in evs]
            value, low, high, decided, why = verdict(measures, claim.threshold)
            rows.append({"claim": claim.name, "model": model, "statement": claim.statement,
                         "seed_value": claim.seed_value, "value": value, "low": low, "high": high,
                         "verdict": decided, "why": why})
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def value_text(value: float, low: float, high: float, digits: int = 2) -> str:
    """A claim's value and interval as text; empty when the claim has no value (inconclusive with a reason: never
    NaN printed as a number)."""
    if not np.isfinite(value):
        return ""
    interval = f"[{low:+.{digits}f}, {high:+.{digits}f}]" if np.isfinite(low) and np.isfinite(high) else "[no interval]"
    return f"{value:+.{digits}f} {interval}"


def markdown_table(claims: pd.DataFrame, accuracy: pd.DataFrame | None = None) -> str:
    """The claims as a markdown table (claim rows x model columns: verdict and value [low, high])."""
    models = list(dict.fromkeys(claims["model"]))
    lines = ["| claim | seed | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for claim, part in claims.groupby("claim", sort=False):
        cells = part.set_index("model")
        row = [claim, str(part["seed_value"].iloc[0])]
        for model in models:
            if model not in cells.index:
                row.append("—")
                continue
            c = cells.loc[model]
            row.append(f"{c['verdict']} {value_text(c['value'], c['low'], c['high'])}".strip())
        lines.append("| " + " | ".join(row) + " |")
    if accuracy is not None and not accuracy.empty:
        acc = accuracy.set_index("model")
        lines.append("| accuracy | | " + " | ".join(f"{acc.loc[m, 'accuracy']:.2f} (n={int(acc.loc[m, 'n'])})"
                                                   if m in acc.index else "—" for m in models) + " |")
    return "\n".join(lines)
