"""Claims 6 and 8 and the knowledge-aware comparison (``analyses.tuning``) on synthetic held-out tables: the paired
contrasts, their verdicts and refusals, the summary table, its markdown and figures, and the evidence round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses import tuning as tu
from workbench.analyses.calibration import ece
from workbench.analyses.claims import Evidence, claims_table, verdict
from workbench.analyses.evidence import read_evidence, write_unit
from workbench.figures.tuning import ece_figure, reliability_grid, tuning_markdown, tuning_section

N = 120


def variant(name, rng, *, accuracy, conf):
    """One variant's held-out rows: correct with probability ``accuracy``; confidence ``conf(correct, rng)``."""
    correct = rng.random(N) < accuracy
    c = np.clip(conf(correct, rng), 0, 1)
    return pd.DataFrame({"variant": name, "item_id": [f"q{i}" for i in range(N)], "correct": correct,
                         "verbal": np.round(c, 2), "answer_prob": c, "softmax_expected": c, "gold_prob_base": 0.5})


def calibrated(correct, rng):
    return np.where(correct, rng.uniform(0.6, 1.0, len(correct)), rng.uniform(0.0, 0.4, len(correct)))


def overconfident(correct, rng):
    return rng.uniform(0.9, 1.0, len(correct))


def table(seed=0, **kinds):
    rng = np.random.default_rng(seed)
    return pd.concat([variant(name, rng, accuracy=0.5, conf=conf) for name, conf in kinds.items()], ignore_index=True)


def tuned(model="m", seed=0, instruct=True, **kinds):
    defaults = dict(base=calibrated, known=overconfident, unknown=calibrated, mix=overconfident,
                    **{"knowledge-aware": calibrated})
    return Evidence(model, seed=seed, instruct=instruct, tuning=table(seed, **{**defaults, **kinds}))


def decide(measure, threshold=0.0):
    return verdict([measure], threshold)[3]


def test_ece_rows_equal_the_one_row_ece():
    rng = np.random.default_rng(1)
    conf, correct = rng.random((5, 40)), rng.random((5, 40)) < 0.5
    expected = [ece(conf[i], correct[i]) for i in range(5)]
    assert np.allclose(tu.ece_rows(conf, correct.astype(float)), expected)


def test_known_only_overconfidence_reproduces_claim_6_and_the_reverse_refutes_it():
    m = tu.prior_knowledge_tuning(tuned())
    assert m.value > 0.1 and decide(m) == "reproduced" and "known-only" in m.note and "accuracy" in m.note
    assert decide(tu.prior_knowledge_tuning(tuned(known=calibrated, unknown=overconfident))) == "refuted"
    assert decide(tu.prior_knowledge_tuning(tuned(), "verbal")) == "reproduced"


def test_the_contrast_is_paired_on_the_same_items():
    ev = tuned()
    ev.tuning.loc[(ev.tuning["variant"] == "unknown") & (ev.tuning["item_id"] == "q0"), "answer_prob"] = np.nan
    found = tu.paired(ev.tuning, ("known", "unknown"), "answer_prob", "ece", 0)
    known = ev.tuning[(ev.tuning["variant"] == "known") & (ev.tuning["item_id"] != "q0")]
    assert found["known"][0] == pytest.approx(ece(known["answer_prob"], known["correct"]))
    assert len(found["known"][1]) == tu.N_BOOT


def test_alignment_needs_a_base_model_and_reads_after_minus_before():
    assert tu.alignment_before_after(tuned()).blocked.endswith("needs a base model")
    m = tu.alignment_before_after(tuned(instruct=False))
    assert decide(m) == "reproduced" and m.note.startswith("ECE after")
    assert decide(tu.alignment_before_after(tuned(instruct=False, mix=calibrated, base=overconfident))) == "refuted"


def test_knowledge_aware_reduction_is_the_share_of_ece_removed():
    m = tu.knowledge_aware_reduction(tuned())
    found = tu.paired(tuned().tuning, ("mix", "knowledge-aware"), "answer_prob", "ece", 0)
    assert m.value == pytest.approx((found["mix"][0] - found["knowledge-aware"][0]) / found["mix"][0])
    assert decide(m) == "reproduced"


def test_without_the_fine_tuning_the_claims_say_why():
    assert tu.prior_knowledge_tuning(Evidence("m")).blocked == tu.NOT_RUN
    assert tu.prior_knowledge_tuning(Evidence("m", tuning_why="too few known")).blocked == "too few known"
    few = tuned()
    few.tuning.loc[few.tuning["item_id"] != "q1", "verbal"] = np.nan
    assert "1 held-out items with a verbal confidence" in tu.prior_knowledge_tuning(few, "verbal").blocked


def test_claims_table_rows_follow_the_paper_definitions():
    from dataclasses import replace

    from tests.analyses.test_claims import records

    evidence = [tuned("inst", s) for s in (0, 1)] + [tuned("gemma-3-270m", s, instruct=False) for s in (0, 1)]
    rows = claims_table([replace(ev, records=records(seed=ev.seed)) for ev in evidence])
    paper = rows[rows["definition"] == "paper"].set_index(["claim", "position", "model"])
    assert paper.loc[("prior_knowledge", "answer", "inst"), "verdict"] == "reproduced"
    assert ("alignment", "answer", "inst") not in paper.index  # the before/after only on the base model
    assert paper.loc[("alignment", "answer", "gemma-3-270m"), "verdict"] == "reproduced"
    assert "2 seeds" in paper.loc[("knowledge_aware", "answer", "inst"), "why"]


def test_the_table_markdown_and_figures_carry_every_variant():
    evidence = [tuned("m", s) for s in (0, 1)]
    summary = tu.tuning_table(evidence)
    ece_known = summary.query("variant == 'known' and channel == 'answer_prob' and metric == 'ece'").iloc[0]
    assert ece_known["seeds"] == 2 and ece_known["low"] < ece_known["value"] < ece_known["high"]
    assert set(summary["variant"]) == {"base", "known", "unknown", "mix", "knowledge-aware"}
    md = tuning_markdown(summary)
    assert md.startswith("**m** (2 seeds") and "| known-only | 0." in md and md.count("\n| ") == 6
    assert len(ece_figure(summary).data) == 2
    grid = reliability_grid(evidence)
    assert len([t for t in grid.data if t.mode == "lines+markers"]) == 5
    (heading, body), = tuning_section(summary, evidence)
    assert "claims 6 and 8" in heading and all(f"tuning-figure-{i}" in body for i in range(3)) and "<details" in body
    assert tuning_section(summary.iloc[:0], evidence) == []


def test_the_evidence_round_trip_keeps_the_tuning_tables(tmp_path):
    ev = tuned()
    sets = pd.DataFrame({"variant": ["known"], "n": [24], "n_known": [24], "steps": [30], "train_seconds": [1.0],
                         "eval_seconds": [2.0], "example_ids": ["[1]"]})
    ev = Evidence("m", records=pd.DataFrame({"example_id": [0], "correct": [True]}), tuning=ev.tuning,
                  tuning_sets=sets)
    write_unit(tmp_path, {"a": 1}, ev, {"tuning": {"items": 24, "steps": 30}})
    _, (back,), (unit,) = read_evidence(tmp_path)
    assert back.tuning.equals(ev.tuning) and back.tuning_sets.equals(sets) and unit["tuning"]["items"] == 24
