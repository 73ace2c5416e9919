"""The claims on synthetic results: each verdict is reachable, and too little data is inconclusive with why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses import claims as c
from workbench.analyses.claims import Evidence, claims_table, verdict
from workbench.figures.ladder import markdown_table


def records(n=120, accuracy=0.4, *, verbal=None, softmax_signal=0.0, seed=0, gold_known=None):
    """Records with a chosen accuracy; verbal(correct, rng) gives verbal confidences on 0..100."""
    rng = np.random.default_rng(seed)
    correct = np.zeros(n, dtype=bool)
    correct[rng.permutation(n)[: int(round(accuracy * n))]] = True
    verbal_values = verbal(correct, rng) if verbal else rng.integers(0, 101, n).astype(float)
    softmax = np.clip(50 + softmax_signal * (correct - 0.5) * 60 + rng.normal(0, 10, n), 0, 100)
    known = gold_known(correct, rng) if gold_known else rng.random(n) < 0.5
    return pd.DataFrame({"example_id": np.arange(n), "question": [f"q{i}" for i in range(n)], "family": "capitals",
                         "correct": correct,
                         "verbal_confidence": verbal_values, "softmax_expected": softmax,
                         "argmax_confidence": np.full(n, 95.0), "gold_logprob": np.where(known, -0.1, -3.0)})


def oof(frame, signal_layer=None, n_layers=6, seed=0):
    """Out-of-fold probe scores: pure noise, except ``signal_layer`` which separates the classes."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for layer in range(n_layers):
        score = rng.random(len(frame))
        if layer == signal_layer:
            score = 0.5 * score + 0.5 * frame["correct"].to_numpy()
        rows.append(pd.DataFrame({"role": "confidence_slot", "layer": layer, "probe": "logistic", "seed": seed,
                                  "example_id": frame["example_id"], "score": score}))
    return pd.concat(rows, ignore_index=True)


def decide(claim_fn, *args, threshold=0.0):
    return verdict([claim_fn(*args)], threshold)[3]


def test_probe_beats_verbal_all_verdicts():
    frame = records(verbal=lambda ok, rng: rng.integers(0, 101, len(ok)).astype(float))
    assert decide(c.probe_beats_verbal, Evidence("m", records=frame, oof=oof(frame, signal_layer=3))) == "reproduced"
    informed = records(verbal=lambda ok, rng: np.where(ok, 90.0, 10.0))
    assert decide(c.probe_beats_verbal, Evidence("m", records=informed, oof=oof(informed))) == "refuted"
    noise = records(n=40, verbal=lambda ok, rng: rng.integers(0, 101, len(ok)).astype(float))
    assert decide(c.probe_beats_verbal, Evidence("m", records=noise, oof=oof(noise))) == "inconclusive"


def test_nested_layer_choice_is_not_the_optimistic_best_layer():
    frame = records(n=100, verbal=lambda ok, rng: np.full(len(ok), 50.0))
    scores, chosen = c.nested_layer_scores(oof(frame, n_layers=30), frame.set_index("example_id")["correct"],
                                           frame.set_index("example_id")["question"])
    correct = frame["correct"].to_numpy()
    best_of_all = max(c.auroc(g.sort_values("example_id")["score"].to_numpy(), correct)
                      for _, g in oof(frame, n_layers=30).groupby("layer"))
    assert len(chosen) == 5 and best_of_all > 0.6  # noise, yet the max over 30 layers looks informative
    assert c.auroc(scores, correct) < best_of_all


@pytest.mark.parametrize(("n", "accuracy", "why"), [(120, 0.05, "6 correct answers: too few"),
                                                    (60, 1.0, "all 60 answers are correct: one class")])
def test_discrimination_claims_are_inconclusive_with_too_few_or_one_class(n, accuracy, why):
    frame = records(n=n, accuracy=accuracy)
    for fn in (c.text_bottleneck, c.probe_beats_verbal):
        value, low, high, decided, text = verdict([fn(Evidence("m", records=frame, oof=oof(frame)))], 0.0)
        assert decided == "inconclusive" and why in text and np.isnan(value)


def test_verbal_ceiling_verdicts():
    at_95 = records(verbal=lambda ok, rng: np.full(len(ok), 95.0))
    measure = c.verbal_ceiling(Evidence("m", records=at_95))
    assert verdict([measure], 0.7)[3] == "reproduced" and "tier Invalid" in measure.note
    spread = records(verbal=lambda ok, rng: rng.integers(0, 90, len(ok)).astype(float))
    assert decide(c.verbal_ceiling, Evidence("m", records=spread), threshold=0.7) == "refuted"
    mixed = records(verbal=lambda ok, rng: np.where(np.arange(len(ok)) < 0.7 * len(ok), 95.0, 50.0))  # L = 0.70
    assert decide(c.verbal_ceiling, Evidence("m", records=mixed), threshold=0.7) == "inconclusive"
    unparsed = records(verbal=lambda ok, rng: np.full(len(ok), np.nan))
    assert "0 parsed" in verdict([c.verbal_ceiling(Evidence("m", records=unparsed))], 0.7)[4]


def test_text_bottleneck_verdicts():
    assert decide(c.text_bottleneck, Evidence("m", records=records(softmax_signal=1.0))) == "reproduced"
    flipped = records(softmax_signal=-1.0)
    assert decide(c.text_bottleneck, Evidence("m", records=flipped)) == "refuted"
    assert decide(c.text_bottleneck, Evidence("m", records=records(softmax_signal=0.0, n=40))) == "inconclusive"


def patching(late=0.8, n_pairs=30, reverse=0.3, off=0.01, random=0.02, noise=0.05):
    """Within-model patching effects (one per pair and block, growing with depth by ``late`` per block / 5) and
    control rows whose effects sit near the given means."""
    rng = np.random.default_rng(0)
    effects = pd.DataFrame([{"pair_id": p, "layer": layer, "role": "confidence_slot",
                             "effect": late * layer / 5 + noise * rng.standard_normal(), "answer_unchanged": True,
                             "argmax_unchanged": True} for p in range(n_pairs) for layer in range(6)])
    controls = pd.concat([effects.assign(control=name, effect=mean + noise * rng.standard_normal(len(effects)))
                          for name, mean in (("reverse", reverse), ("off_position", off), ("random", random))])
    return dict(effects=effects, patch_controls=controls)


def test_answer_selective_gradient_recomputes_rho_and_its_controls_from_the_effects():
    assert decide(c.answer_selective_gradient, Evidence("m", **patching(0.8))) == "reproduced"
    assert decide(c.answer_selective_gradient, Evidence("m", **patching(-0.8))) == "refuted"
    assert decide(c.answer_selective_gradient, Evidence("m", **patching(0.0, noise=0.3))) == "inconclusive"
    failing = verdict([c.answer_selective_gradient(Evidence("m", **patching(0.8, off=3.0)))], 0.0)
    assert failing[3] == "inconclusive" and "not position-specific" in failing[4]
    missing = verdict([c.answer_selective_gradient(Evidence("m"))], 0.0)
    assert missing[3] == "inconclusive" and "no within-model patching effects" in missing[4]


def test_prior_knowledge_verdicts():
    over = records(verbal=lambda ok, rng: np.full(len(ok), 90.0), gold_known=lambda ok, rng: rng.random(len(ok)) < 0.5)
    # known items answered wrongly as often as unknown ones, but known ones get more confidence
    known_conf = over.assign(verbal_confidence=np.where(over["gold_logprob"] > -1, 95.0, 40.0))
    assert decide(c.prior_knowledge_overconfidence, Evidence("m", records=known_conf)) == "reproduced"
    under = over.assign(verbal_confidence=np.where(over["gold_logprob"] > -1, 20.0, 90.0))
    assert decide(c.prior_knowledge_overconfidence, Evidence("m", records=under)) == "refuted"
    assert decide(c.prior_knowledge_overconfidence, Evidence("m", records=over)) == "inconclusive"
    all_unknown = over.assign(gold_logprob=-5.0)
    assert "0 known items: too few" in verdict([c.prior_knowledge_overconfidence(Evidence("m", records=all_unknown))],
                                                0.0)[4]


def recovery(n=120, *, verbal_signal=1.0, probe_signal=1.0, accuracy=0.4, parsed=1.0, seed=0):
    """Held-out items of a fine-tuning: the probe before and the verbal confidence after separate the classes
    with the given strengths (0: noise)."""
    rng = np.random.default_rng(seed)
    correct = np.zeros(n, dtype=bool)
    correct[rng.permutation(n)[: int(round(accuracy * n))]] = True
    verbal = np.clip(50 + 40 * verbal_signal * (correct - 0.5) + rng.normal(0, 15, n), 0, 100).round()
    verbal[rng.permutation(n)[: int(round((1 - parsed) * n))]] = np.nan
    probe = np.clip(0.5 + 0.4 * probe_signal * (correct - 0.5) + rng.normal(0, 0.15, n), 0, 1)
    return pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "correct_before": correct, "probe_before": probe,
                         "correct_after": correct, "verbal_after": verbal})


def test_probe_recovery_verdicts_and_why():
    assert decide(c.probe_recovery, Evidence("m", finetune=recovery(verbal_signal=1.5)), threshold=0.91) == "reproduced"
    assert decide(c.probe_recovery, Evidence("m", finetune=recovery(verbal_signal=0.0)), threshold=0.91) == "refuted"
    few = recovery(n=40, verbal_signal=0.8)
    assert decide(c.probe_recovery, Evidence("m", finetune=few), threshold=0.91) == "inconclusive"
    measure = c.probe_recovery(Evidence("m", finetune=recovery()))
    assert measure.low < measure.value < measure.high and len(measure.samples) == c.N_BOOT
    assert "held-out items" in measure.note
    assert "fine-tuning not run" in verdict([c.probe_recovery(Evidence("m"))], 0.9)[4]
    why = "fine-tuning could not run: too few correct answers in the training run"
    assert verdict([c.probe_recovery(Evidence("m", finetune_why=why))], 0.9)[3:] == ("inconclusive", why)
    one_class = recovery(accuracy=0.0)
    assert "before fine-tuning: all 120 answers are incorrect: one class" in verdict(
        [c.probe_recovery(Evidence("m", finetune=one_class))], 0.9)[4]
    unparsed = recovery(parsed=0.05)
    assert "6 of 120 held-out verbal confidences parsed" in verdict(
        [c.probe_recovery(Evidence("m", finetune=unparsed))], 0.9)[4]


def test_alignment_verdicts():
    calibrated = Evidence("base", records=records(verbal=lambda ok, rng: np.where(ok, 100.0, 0.0)), instruct=False)
    over = Evidence("inst", records=records(verbal=lambda ok, rng: np.full(len(ok), 95.0)))
    assert decide(c.alignment_calibration, over, calibrated) == "reproduced"
    assert decide(c.alignment_calibration, calibrated, over) == "refuted"
    same = Evidence("inst2", records=records(verbal=lambda ok, rng: np.full(len(ok), 95.0), seed=1))
    assert decide(c.alignment_calibration, over, same) == "inconclusive"
    assert "no base model" in verdict([c.alignment_calibration(over, None)], 0.0)[4]


def test_claims_table_columns_seeds_and_markdown():
    frame = records(softmax_signal=1.0, verbal=lambda ok, rng: np.full(len(ok), 95.0))
    evidence = [Evidence("inst", seed=s, records=frame, oof=oof(frame, signal_layer=2, seed=s), **patching())
                for s in (0, 1)]
    evidence += [Evidence("gemma-3-270m", seed=s, records=records(verbal=lambda ok, rng: np.where(ok, 100.0, 0.0)),
                          instruct=False) for s in (0, 1)]
    table = claims_table(evidence)
    assert list(table.columns) == list(c.CLAIM_COLUMNS)
    assert set(table["verdict"]) <= set(c.VERDICTS)
    one_kind = sum(claim.cross_model or claim.base_only for claim in c.CLAIMS)  # the cross-family contrast only for
    assert len(table) == len(c.CLAIMS) * 2 - one_kind  # the instruct model, the before/after only for the base one
    inst = table[table["model"] == "inst"].set_index("claim")
    assert inst.loc["text_bottleneck", "verdict"] == "reproduced" and inst.loc["alignment_cross_family", "verdict"] == "reproduced"
    assert inst.loc["probe_recovery", "verdict"] == "inconclusive"
    md = markdown_table(table, pd.DataFrame({"model": ["inst"], "accuracy": [0.4], "n": [120]}))
    assert md.splitlines()[0] == "| claim | definition | read at | seed's value | inst | gemma-3-270m | reading |"
    assert "0.40 (n=120, 1 seed)" in md and "| layer_gradient | seed | pre_answer | rho 0.976 on 8 layers |" in md
    assert set(table["definition"]) == {"seed", "paper", "workbench"}


def test_one_seed_without_a_number_makes_the_claim_inconclusive():
    good = c.Measure(0.3, 0.1, 0.5, "ok")
    assert verdict([good, c.Measure.undetermined("9 correct answers: too few")], 0.0)[3:] == (
        "inconclusive", "9 correct answers: too few (2 seeds; ok)")


def bootstrapped(value, sd, seed):
    """A measure whose bootstrap replicates over items are normal around ``value`` with spread ``sd``."""
    samples = value + sd * np.random.default_rng(seed).standard_normal(c.N_BOOT)
    low, high = np.percentile(samples, [2.5, 97.5])
    return c.Measure(value, low, high, samples=samples)


def test_intervals_over_seeds_span_the_seeds_and_the_items():
    # seeds that agree, each with item noise: the interval is about the items' (narrower than one seed's,
    # since the mean of three seeds' replicates varies less), and it holds every seed's value
    agree = [bootstrapped(0.30, 0.05, s) for s in range(3)]
    value, low, high = c.combine_seeds(agree)
    assert value == pytest.approx(0.30) and low < 0.30 < high and 0.05 < high - low < agree[0].high - agree[0].low
    # seeds that disagree, each precise: the interval spans the seeds' values (not only one seed's items)
    apart = [bootstrapped(v, 0.005, s) for s, v in enumerate((0.05, 0.30, 0.55))]
    value, low, high = c.combine_seeds(apart)
    assert value == pytest.approx(0.30) and low < 0.15 and high > 0.45
    assert all(high - low > 10 * (m.high - m.low) for m in apart)
    # so a claim whose seeds disagree in sign is not reproduced, though each seed alone is decided
    split = [bootstrapped(v, 0.01, s) for s, v in enumerate((-0.3, 0.2, 0.4))]
    assert {verdict([m], 0.0)[3] for m in split} == {"reproduced", "refuted"}
    assert verdict(split, 0.0)[3] == "inconclusive"
    # a measure known only by its interval (the layer gradient) contributes draws of that width
    stored = [c.Measure(0.8, 0.7, 0.9), c.Measure(0.6, 0.5, 0.7)]
    value, low, high = c.combine_seeds(stored)
    assert value == pytest.approx(0.7) and 0.5 < low < 0.65 and 0.75 < high < 0.9
    assert c.combine_seeds(agree[:1]) == (agree[0].value, agree[0].low, agree[0].high)  # one seed: its own interval


def test_claims_table_over_three_seeds_keeps_its_verdict_rules(verdict_rules):
    frame = records(softmax_signal=1.0, verbal=lambda ok, rng: np.full(len(ok), 95.0))
    evidence = [Evidence("m", seed=s, records=records(softmax_signal=1.0, seed=s, verbal=lambda ok, rng: np.full(
        len(ok), 95.0)), oof=oof(frame, signal_layer=2, seed=s), **patching()) for s in (0, 1, 2)]
    table = claims_table(evidence)
    verdict_rules(table)
    decided = table.set_index("claim")
    bottleneck = decided.loc["text_bottleneck"]
    assert bottleneck["verdict"] == "reproduced" and "3 seeds" in bottleneck["why"]
    assert decided.loc["verbal_ceiling", "verdict"] == "reproduced"


def test_a_claim_without_a_value_prints_no_number():
    from workbench.figures.ladder import value_text

    assert value_text(float("nan"), float("nan"), float("nan")) == ""
    assert value_text(0.5, float("nan"), float("nan")) == "+0.50 [no interval]"
    assert value_text(0.5, 0.25, 0.75, 3) == "+0.500 [+0.250, +0.750]"


def test_alignment_reads_the_seeds_the_base_model_ran_and_names_the_others():
    over = [Evidence("inst", seed=s, records=records(verbal=lambda ok, rng: np.full(len(ok), 95.0), seed=s))
            for s in (0, 1)]
    base = Evidence("gemma-3-270m", seed=0, records=records(verbal=lambda ok, rng: np.where(ok, 100.0, 0.0)),
                    instruct=False)
    row = claims_table([*over, base]).set_index(["claim", "model"]).loc[("alignment_cross_family", "inst")]
    assert row["verdict"] == "reproduced" and "seed(s) 1 left out: the base model has none" in row["why"]
