"""The seed study's claims, each tested on one model's stored evidence: a number, an interval, a verdict.

Each claim is a small function from a model's ``Evidence`` (the records of a run and the stored tables of
its analyses) to a ``Measure``: value, 95% interval, and a note. Its docstring states its rule. A claim that
cannot be computed (too few correct or incorrect answers, one class, an analysis that did not run) gives
``Measure.undetermined(why)``: verdict ``inconclusive`` with the reason, never a number from nothing.

Verdicts, from the interval and the claim's threshold t: ``reproduced`` when low > t, ``refuted`` when
high < t, ``inconclusive`` otherwise. A claim the seed decides by a test (claim 5's Mann-Whitney U) or by
reference values (claim 9) reads every seed at once (``Claim.pooled``) and carries its own verdict
(``Measure.decided``). Each row says whose definition it follows (``definition``: ``seed``, as the seed's code
computes it, the file cited in its docstring; ``paper``, the controlled experiment a paper of the seed study
describes, claims 6 and 8 and the knowledge-aware comparison of ``analyses.tuning``; or ``workbench``, a question
of our own) and where the confidence is read (``position``: a patching read position, ``confidence_slot`` for
verbal confidence, ``answer`` for the answer tokens' probability).

Over S > 1 seeds (each its own item sample, fold split and pairing) the value is the mean of the seeds' values
and the interval a two-level bootstrap over seeds and items (``measures.combine_seeds``), so it widens with the
spread between seeds and with each seed's own uncertainty. A seed without a number makes the claim inconclusive.

All functions are pure: they read tables, never a model or a file, so they are tested on synthetic results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from workbench.analyses import seed_patching as sp
from workbench.analyses.calibration import auroc, auroc_rows, bootstrap_indices, ece
from workbench.analyses import tuning as tu
from workbench.analyses.measures import N_BOOT, Measure, combine_seeds, resample
from workbench.analyses.validity import screen

MIN_CLASS = 10  # fewer correct (or incorrect) answers than this: discrimination claims are inconclusive
MIN_SPLIT = 10  # fewer items in a split (known/unknown, parsed verbal): inconclusive
VERDICTS = ("reproduced", "refuted", "inconclusive")
CLAIM_COLUMNS = ("claim", "definition", "position", "model", "statement", "seed_value", "value", "low", "high",
                 "verdict", "why")


@dataclass(frozen=True)
class Evidence:
    """What the claims read about one model and seed.

    ``records``: the run's records (correct, question, verbal_confidence, softmax_expected, argmax or
    argmax_confidence, gold_logprob). ``oof``: the probes result's out-of-fold scores (role, layer, probe,
    example_id, score). ``effects``/``patch_controls``: the within-model patching result's ``effects`` and
    ``controls`` (one row per pair and layer; effects are normalised shifts; controls carry a ``control``
    column). ``finetune``: one row per held-out item of a probe-targeted fine-tuning
    (``workbench.finetune.recovery.RECOVERY_COLUMNS``: correct_before, probe_before, correct_after,
    verbal_after), when one ran; ``finetune_why``: why it did not. ``crossmodel``/``crossmodel_controls``: the
    seed's cross-model patching of that fine-tuning (``workbench.finetune.seed_crossmodel``: base, tuned and
    patched expected confidence per item, position and block; the reverse and position controls).
    """

    model: str
    seed: int = 0
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    oof: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    patch_controls: pd.DataFrame | None = None
    finetune: pd.DataFrame | None = None
    finetune_why: str | None = None
    crossmodel: pd.DataFrame | None = None
    crossmodel_controls: pd.DataFrame | None = None
    tuning: pd.DataFrame | None = None
    tuning_sets: pd.DataFrame | None = None
    tuning_why: str | None = None
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
class Claim:
    name: str
    statement: str
    seed_value: str
    threshold: float
    measure: Callable[..., Measure]
    cross_model: bool = False  # measure(instruct, base) instead of measure(evidence)
    pooled: bool = False  # measure(every seed's evidence) once, instead of once per seed
    definition: str = "workbench"  # "seed", "paper" or "workbench": whose definition (see the module docstring)
    base_only: bool = False  # only for base (not instruct) models
    position: str = ""  # where the confidence is read, for the patching claims


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
    auroc_a, auroc_b = auroc(a, correct), auroc(b, correct)
    return Measure.bootstrapped(auroc_a - auroc_b, diffs, f"AUROC {auroc_a:.3f} vs {auroc_b:.3f}")


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
    """Claim 1: AUROC(probe) - AUROC(verbal) > 0 on items with a parsed verbal confidence; the logistic probe at
    the confidence slot, its layer chosen by nested cross-validation (``nested_layer_scores``). Threshold 0;
    inconclusive with fewer than ``MIN_CLASS`` items of a class or ``MIN_SPLIT`` parsed, or without probes."""
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
    """Claim 2: verbal confidence sits at the ceiling: L = share of parsed verbal confidences >= 95. Threshold
    0.70 (the validity screen's Invalid ceiling rate; its tier is in the note); inconclusive under ``MIN_SPLIT``."""
    verbal = ev.column("verbal_confidence")
    parsed = verbal[np.isfinite(verbal)]
    if len(parsed) < MIN_SPLIT:
        return Measure.undetermined(f"{len(parsed)} parsed verbal confidences: too few")
    at_ceiling = (parsed >= 95).astype(float)
    samples = at_ceiling[resample(len(parsed), ev.seed)].mean(axis=1)
    tier = screen(verbal, ev.correct.astype(int))["tier"]
    return Measure.bootstrapped(at_ceiling.mean(), samples, f"tier {tier}; {len(parsed)} parsed")


def text_bottleneck(ev: Evidence) -> Measure:
    """Claim 3: AUROC(softmax expected value) - AUROC(argmax) > 0: the distribution knows more than its text.
    Threshold 0, paired bootstrap; inconclusive with fewer than ``MIN_CLASS`` items of a class."""
    if problem := class_problem(ev.correct):
        return Measure.undetermined(problem)
    return paired_auroc_difference(ev.column("softmax_expected"), ev.column("argmax_confidence", "argmax"),
                                   ev.correct, ev.seed)


def _control_failures(controls: pd.DataFrame) -> list[str]:
    """Which of the workbench's within-model controls fail, from ``summarize``'s table."""
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


def answer_selective_gradient(ev: Evidence) -> Measure:
    """The workbench's own layer gradient (not the seed's): within one model, a correct answer's state at the
    confidence slot written into an incorrect answer's run, block by block (``resid_pre``); rho(layer, normalised
    shift) over every block with a bootstrap over pairs (``workbench.analyses.patching.gradient``), recomputed
    from the per-pair effects. Threshold 0. Inconclusive when rho on the 8 evenly spaced blocks is not positive or
    a control fails: reverse pairs must move toward their own source, and patching mid-prompt and random pairs
    must move the confidence less than the sweep."""
    from workbench.analyses.patching.controls import summarize
    from workbench.analyses.patching.gradient import layer_gradient

    if ev.effects is None or ev.effects.empty or ev.effects["layer"].nunique() < 3:
        return Measure.undetermined("no within-model patching effects over 3 or more blocks")
    g = layer_gradient(ev.effects, n_boot=N_BOOT, seed=ev.seed)
    controls = ev.patch_controls if ev.patch_controls is not None else pd.DataFrame(columns=["control"])
    failures = _control_failures(summarize(ev.effects, dict(tuple(controls.groupby("control", sort=False)))))
    if not g.rho8 > 0:
        failures.insert(0, f"rho on 8 layers {g.rho8:+.2f}")
    note = f"8 layers: {g.rho8:+.2f} [{g.rho8_low:+.2f}, {g.rho8_high:+.2f}]; {g.n_pairs} pairs"
    if failures and g.rho_low > 0:  # a positive gradient that the controls do not back
        return Measure(g.rho, g.rho_low, g.rho_high, note, "; ".join(failures))
    note += f"; {'; '.join(failures)}" if failures else "; controls pass"
    return Measure(g.rho, g.rho_low, g.rho_high, note)


def _shift_matrix(ev: Evidence, position: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame] | str:
    """([items, blocks] seed shifts, the blocks, the position's effect rows), or why there are none."""
    if ev.crossmodel is None or ev.crossmodel.empty:
        return ev.finetune_why or "no cross-model patching (the model was not fine-tuned; see --finetune)"
    rows = ev.crossmodel[ev.crossmodel["position"] == position]
    if rows.empty:
        return f"no cross-model patching read at {position!r}"
    rows = rows.assign(shift=sp.seed_shift(rows["patched"], rows["base"], rows["tuned"]))
    wide = rows.pivot_table(index="item_id", columns="layer", values="shift", aggfunc="first", dropna=False)
    return wide.to_numpy(dtype=float), wide.columns.to_numpy(), rows


def seed_layer_gradient(ev: Evidence, position: str = "pre_answer") -> Measure:
    """Claim 4, the seed's headline (rho 0.976): cross-model patching, the tuned model's output of block L written
    into the base model at the read position; shift = (patched - base) / (tuned - base) per item, None where
    |tuned - base| <= 0.01, clipped to [-5, 5]; rho = Spearman's rho between the layer and the mean shift on the
    seed's layers ``range(0, n, max(1, n // 8))`` (``phase1/scripts/activation_patching.py`` and
    ``parse_patching_results.py``; formulas in ``workbench.analyses.seed_patching``). The interval resamples
    items (1000 draws); rho over every block is in the note. Threshold 0. The seed's controls at block n - 4
    (``patching_controls.py``) must pass by its rules, else inconclusive with which failed: reverse mean > 0.2
    with share > 0 above 0.6; the mean shift at the read position > 2 x the mean |shift| at the middle token;
    and, at ``pre_answer``, next token unchanged for > 80% of items with |patched - base| > 0.02 for > 30%.
    Inconclusive when fewer than ``MIN_SPLIT`` items have |tuned - base| > 0.01."""
    found = _shift_matrix(ev, position)
    if isinstance(found, str):
        return Measure.undetermined(found)
    matrix, blocks, rows = found
    usable = np.isfinite(matrix).any(axis=1)
    if usable.sum() < MIN_SPLIT:
        return Measure.undetermined(f"{int(usable.sum())} of {len(matrix)} items have |tuned - base| > "
                                    f"{sp.MIN_GAP}: too few for a shift (the seed drops the others)")
    matrix = matrix[usable]
    layers = np.array(sp.seed_layers(int(blocks.max()) + 1))
    cols = np.searchsorted(blocks, layers)
    rho = sp.gradient_rho(layers, sp.layer_means(matrix[:, cols]))
    idx = resample(len(matrix), ev.seed)  # [n_boot, n]
    means = sp.layer_means(matrix[idx][:, :, cols])  # [n_boot, n_layers]
    samples = np.array([sp.gradient_rho(layers, m) for m in means])
    rho_all = sp.gradient_rho(blocks, sp.layer_means(matrix))
    controls = _seed_controls(ev, rows, position)
    failed = [f"{name} control fails ({text})" for name, (ok, text) in controls.items() if not ok]
    note = (f"{len(layers)} layers {layers[0]}..{layers[-1]}, {len(matrix)} of {len(usable)} items with a shift; "
            f"rho over all {len(blocks)} blocks {rho_all:+.2f}; controls: "
            + "; ".join(f"{name} {'passes' if ok else 'fails'} ({text})" for name, (ok, text) in controls.items()))
    m = Measure.bootstrapped(rho, samples, note)
    return replace(m, blocked="; ".join(failed)) if failed and m.low > 0 else m


def _seed_controls(ev: Evidence, rows: pd.DataFrame, position: str) -> dict[str, tuple[bool, str]]:
    """The seed's controls at block n - 4 (``patching_controls.py``): name -> (passes, numbers)."""
    table = ev.crossmodel_controls
    if table is None or table.empty:
        return {"all": (False, "no control runs stored")}
    table = table[table["position"] == position]
    block = int(table["layer"].iloc[0])
    at_block = rows[rows["layer"] == block].set_index("item_id")
    out = {}
    rev = table[table["control"] == "reverse"]
    r = sp.reverse_control(rev["base"], rev["tuned"], rev["patched"])
    out["reverse"] = (r["passes"], f"mean {r['mean']:+.3f}, share > 0 {r['share_positive']:.2f}, n {r['n']}")
    mid = table[table["control"] == "position"].set_index("item_id")
    read = at_block.loc[mid.index]
    q = sp.position_control(mid["base"], mid["tuned"], read["patched"], mid["patched"])
    out["position"] = (q["passes"], f"read {q['mean_read']:+.3f} vs middle |{q['mean_abs_middle']:.3f}|")
    if position == "pre_answer":
        a = sp.answer_control(at_block["base"], at_block["patched"], at_block["next_token_unchanged"])
        out["answer"] = (a["passes"], f"next token unchanged {a['share_unchanged']:.2f}, "
                                      f"|shift| > 0.02 {a['share_shifted']:.2f}")
    return out


def seed_late_effect(evs: Sequence[Evidence], position: str = "pre_answer") -> Measure:
    """Claim 5: late layers move the confidence more than early ones. The seed's test
    (``phase1/scripts/parse_patching_results.py``): a one-sided Mann-Whitney U of the pooled item shifts (clipped)
    of layers >= 3 * max / 4 against those of layers <= max / 4, on the seed's layers of the cross-model sweep,
    pooled over seeds. Reproduced when p < 0.05 and the late median is the larger; refuted when the opposite
    one-sided test has p < 0.05 and the early median is the larger; inconclusive otherwise. The value is the
    size, U / (n_late x n_early): the chance that a late shift exceeds an early one (0.5: none)."""
    early, late, why = [], [], []
    for ev in evs:
        found = _shift_matrix(ev, position)
        if isinstance(found, str):
            why.append(found)
            continue
        matrix, blocks, _ = found
        layers = np.array(sp.seed_layers(int(blocks.max()) + 1))
        e, l_ = sp.early_late(layers, matrix[:, np.searchsorted(blocks, layers)])
        early.append(e)
        late.append(l_)
    if why:
        return Measure.undetermined(why[0])
    early, late = np.concatenate(early), np.concatenate(late)
    if min(len(early), len(late)) < MIN_SPLIT:
        return Measure.undetermined(f"{len(early)} early and {len(late)} late shifts: too few")
    t = sp.late_vs_early(early, late)
    late_wins, early_wins = t["median_late"] > t["median_early"], t["median_early"] > t["median_late"]
    decided = ("reproduced" if t["p"] < 0.05 and late_wins else "refuted" if t["p_reverse"] < 0.05 and early_wins
               else "inconclusive")
    note = (f"Mann-Whitney U {t['u']:.0f}, p {t['p']:.3g} (reverse {t['p_reverse']:.3g}); median late "
            f"{t['median_late']:+.3f} vs early {t['median_early']:+.3f}; {len(late)} late, {len(early)} early shifts"
            f" over {len(evs)} seed(s)")
    return Measure(t["size"], note=note, decided=decided)


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
    samples = contrast(k[resample(len(k), rng)], u[resample(len(u), rng)])
    return Measure.bootstrapped(contrast(k, u), samples, f"{len(k)} known, {len(u)} unknown")


def probe_recovery(ev: Evidence) -> Measure:
    """Claim 7: probe-targeted fine-tuning recovers the probe's discrimination in verbal confidence. The seed's
    recovery (``phase1/scripts/rescore_all_models.py``: ``(auroc2 - 0.5) / (probe_auc - 0.5)``):
    (AUROC(verbal confidence after fine-tuning) - 0.5) / (AUROC(the targeted probe before) - 0.5), both on the
    same held-out items (never trained on; the probe's layer chosen on the training items), with a paired
    bootstrap over those items. Only items whose verbal confidence parsed after fine-tuning count. Threshold
    0.91 (the seed's lowest, 91%). Inconclusive when no fine-tuning ran (with why), or with fewer than
    ``MIN_CLASS`` items of a class before or after, or ``MIN_SPLIT`` parsed confidences."""
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
    idx = resample(len(f), ev.seed)  # [n_boot, n]
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample with one class gives NaN, then ignored
        samples = (auroc_rows(verbal[idx], after[idx]) - 0.5) / (auroc_rows(probe[idx], before[idx]) - 0.5)
    probe_auroc, verbal_auroc = auroc(probe, before), auroc(verbal, after)
    return Measure.bootstrapped((verbal_auroc - 0.5) / (probe_auroc - 0.5), samples,
                                f"(verbal AUROC after {verbal_auroc:.3f} - 0.5) / (probe AUROC before "
                                f"{probe_auroc:.3f} - 0.5) on the {len(f)} of {len(ev.finetune)} held-out items "
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
        idx = resample(len(conf), ev.seed + i)
        values.append(ece(conf, corr))
        samples.append(np.array([ece(conf[j], corr[j]) for j in idx]))
    return Measure.bootstrapped(values[0] - values[1], samples[0] - samples[1],
                                f"ECE {values[0]:.3f} vs {base.model} {values[1]:.3f}")


def seed_replication(evs: Sequence[Evidence]) -> Measure:
    """Claim 9, from the seed's summary: "seed-level replication: discrimination stable, confidence distribution
    shape seed-sensitive" (the seed reports verbal AUROC over fine-tuning seeds as mean +- SD, e.g. 0.836 +-
    0.011 over 6 seeds, ``phase1/scripts/rescore_multiseed.py``). Across the fine-tuning seeds of one model, on
    the held-out items' verbal confidence after fine-tuning (parsed ones):

    - stable discrimination: the SD of verbal AUROC across seeds is at most its reference, the mean over seeds
      of one seed's item-bootstrap SD (what item sampling alone gives);
    - seed-sensitive shape: the mean Wasserstein-1 distance between two seeds' confidence histograms (0-100)
      exceeds its reference, the mean W1 between two random halves of one seed's items (200 splits a seed).

    The value is the W1 ratio (between seeds / between halves). Reproduced when both hold, refuted when neither
    does, inconclusive otherwise or with fewer than 2 seeds."""
    from scipy.stats import wasserstein_distance

    parts = []
    for ev in evs:
        if ev.finetune is None or ev.finetune.empty:
            continue
        f = ev.finetune[np.isfinite(ev.finetune["verbal_after"].to_numpy(dtype=float))]
        if len(f) >= MIN_SPLIT and class_problem(f["correct_after"].to_numpy(dtype=bool)) is None:
            parts.append((ev.seed, f["verbal_after"].to_numpy(dtype=float), f["correct_after"].to_numpy(dtype=bool)))
    if len(parts) < 2:
        return Measure.undetermined(f"{len(parts)} fine-tuning seed(s) with a verbal AUROC after fine-tuning: needs 2")
    rng = np.random.default_rng(0)
    aurocs, boot_sd, halves = [], [], []
    for _, verbal, correct in parts:
        aurocs.append(auroc(verbal, correct))
        idx = bootstrap_indices(correct, n_boot=N_BOOT, seed=0)
        boot_sd.append(float(np.nanstd(auroc_rows(verbal[idx], correct[idx]))))
        for _ in range(200):
            order = rng.permutation(len(verbal))
            halves.append(wasserstein_distance(verbal[order[: len(order) // 2]], verbal[order[len(order) // 2:]]))
    between = [wasserstein_distance(a[1], b[1]) for i, a in enumerate(parts) for b in parts[i + 1:]]
    sd, sd_ref = float(np.std(aurocs, ddof=1)), float(np.mean(boot_sd))
    w1, w1_ref = float(np.mean(between)), float(np.mean(halves))
    stable, sensitive = sd <= sd_ref, w1 > w1_ref
    decided = "reproduced" if stable and sensitive else "refuted" if not (stable or sensitive) else "inconclusive"
    note = (f"{len(parts)} seeds; verbal AUROC {np.mean(aurocs):.3f} +- {sd:.3f} (SD across seeds; item-bootstrap "
            f"SD {sd_ref:.3f}: {'stable' if stable else 'not stable'}); W1 between seeds {w1:.2f} vs halves "
            f"{w1_ref:.2f} ({'seed-sensitive' if sensitive else 'not seed-sensitive'})")
    return Measure(w1 / w1_ref if w1_ref > 0 else np.nan, note=note, decided=decided)


_GRADIENT = ("patching effect grows with depth (cross-model: the tuned model's state into the base model; "
             "rho(layer, normalised shift) on the seed's layers, with its controls)")
_PRIOR = ("claim 6, controlled: after standard fine-tuning on known-only items, ECE on held-out items is higher than "
          "after the same fine-tuning on unknown-only items (ECE known-only - unknown-only)")
_ALIGN = ("claim 8, before/after on the same weights: LoRA chat-format instruction tuning (every family mixed) raises "
          "a base model's ECE on held-out items (ECE after - before)")
_LATE = "late layers move the confidence more than early ones (one-sided Mann-Whitney U; value: its size)"
CLAIMS: tuple[Claim, ...] = (
    Claim("probe_beats_verbal", "a linear probe discriminates correct from incorrect better than verbal confidence "
          "(AUROC difference, layer by nested CV)", "probe 0.76-0.88 vs verbal ~0.5-0.7", 0.0, probe_beats_verbal),
    Claim("verbal_ceiling", "verbal confidence is at ceiling (share >= 95)", "L 0.99, Invalid", 0.70, verbal_ceiling),
    Claim("text_bottleneck", "the confidence distribution discriminates better than its argmax text "
          "(AUROC softmax - argmax)", "> 0", 0.0, text_bottleneck),
    Claim("layer_gradient", _GRADIENT, "rho 0.976 on 8 layers", 0.0,
          partial(seed_layer_gradient, position="pre_answer"), definition="seed", position="pre_answer"),
    Claim("layer_gradient", _GRADIENT, "rho 0.976 on 8 layers", 0.0,
          partial(seed_layer_gradient, position="confidence_slot"), position="confidence_slot"),
    Claim("answer_selective_gradient", "within one model, a correct answer's state written into an incorrect one "
          "moves the confidence more at later blocks (rho, with reverse, off-position and random-pair controls)",
          "not in the seed", 0.0, answer_selective_gradient, position="confidence_slot"),
    Claim("late_effect", _LATE, "late > early, p < 0.05", 0.5, partial(seed_late_effect, position="pre_answer"),
          pooled=True, definition="seed", position="pre_answer"),
    Claim("late_effect", _LATE, "late > early, p < 0.05", 0.5, partial(seed_late_effect, position="confidence_slot"),
          pooled=True, position="confidence_slot"),
    Claim("prior_knowledge", _PRIOR + " (answer probability)", "known data induce overconfidence", 0.0,
          partial(tu.prior_knowledge_tuning, channel="answer_prob"), definition="paper", position="answer"),
    Claim("prior_knowledge", _PRIOR + " (verbal confidence)", "known data induce overconfidence", 0.0,
          partial(tu.prior_knowledge_tuning, channel="verbal"), definition="paper", position="confidence_slot"),
    Claim("knowledge_aware", "knowledge-aware fine-tuning (CogCalib-style) removes a share of standard fine-tuning's "
          "ECE on the same mixed items ((ECE standard - ECE knowledge-aware) / ECE standard, answer probability)",
          "-57% ECE (Llama3-8B)", 0.0, partial(tu.knowledge_aware_reduction, channel="answer_prob"), definition="paper",
          position="answer"),
    Claim("prior_knowledge_untuned", "context, not claim 6: on the untuned model, known items (P(gold) > 0.5) draw "
          "more verbal overconfidence than unknown ones (known - unknown)", "—", 0.0, prior_knowledge_overconfidence),
    Claim("probe_recovery", "probe-targeted fine-tuning recovers the probe's discrimination in verbal confidence "
          "((verbal AUROC after - 0.5) / (probe AUROC before - 0.5))", "91-113%", 0.91, probe_recovery,
          definition="seed"),
    Claim("alignment", _ALIGN + " (answer probability)", "ECE +37-62%", 0.0,
          partial(tu.alignment_before_after, channel="answer_prob"), definition="paper", position="answer",
          base_only=True),
    Claim("alignment", _ALIGN + " (verbal confidence)", "ECE +37-62%", 0.0,
          partial(tu.alignment_before_after, channel="verbal"), definition="paper", position="confidence_slot",
          base_only=True),
    Claim("alignment_cross_family", "context, not claim 8: instruct models are worse calibrated than a base model of "
          "another family (ECE verbal, instruct - gemma-3-270m; cross-family, not controlled)", "—", 0.0,
          alignment_calibration, cross_model=True),
    Claim("seed_replication", "across fine-tuning seeds, discrimination is stable and the confidence distribution's "
          "shape is seed-sensitive (value: W1 between seeds / between halves of one seed)",
          "AUROC 0.836 +- 0.011 (6 seeds); shape seed-sensitive", 1.0, seed_replication, pooled=True,
          definition="seed"),
)


def verdict(measures: Sequence[Measure], threshold: float) -> tuple[float, float, float, str, str]:
    """(value, low, high, verdict, why) over the seeds' measures (``combine_seeds``); a measure that decided its
    own verdict (a test's rule, one measure over every seed) keeps it."""
    if len(measures) == 1 and measures[0].decided and measures[0].blocked is None:
        m = measures[0]
        return m.value, m.low, m.high, m.decided, m.note
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
    """One row per (claim, model) over every seed of each model; the alignment claim only for instruct models,
    against ``base_model``'s evidence of the same seed, on the seeds the base model ran (the others are named)."""
    by_model: dict[str, list[Evidence]] = {}
    for ev in evidence:
        by_model.setdefault(ev.model, []).append(ev)
    base = {ev.seed: ev for ev in by_model.get(base_model, [])} if base_model else {}
    rows = []
    for claim in CLAIMS:
        for model, evs in by_model.items():
            if claim.base_only and evs[0].instruct:
                continue
            if claim.cross_model:
                if not evs[0].instruct:
                    continue
                paired = [ev for ev in evs if ev.seed in base] or evs[:1]  # seeds the base model also ran
                measures = [claim.measure(ev, base.get(ev.seed)) for ev in paired]
                if len(paired) < len(evs) and base:
                    left = ", ".join(str(ev.seed) for ev in evs if ev.seed not in base)
                    measures = [replace(m, note=f"{m.note}; seed(s) {left} left out: the base model has none")
                                for m in measures]
            elif claim.pooled:
                measures = [claim.measure(evs)]
            else:
                measures = [claim.measure(ev) for ev in evs]
            value, low, high, decided, why = verdict(measures, claim.threshold)
            rows.append({"claim": claim.name, "definition": claim.definition, "position": claim.position,
                         "model": model, "statement": claim.statement,
                         "seed_value": claim.seed_value, "value": value, "low": low, "high": high,
                         "verdict": decided, "why": why})
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
