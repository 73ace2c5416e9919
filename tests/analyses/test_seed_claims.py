"""Claims 4, 5, 7 and 9 by the seed study's own formulas, on synthetic cross-model evidence; the evidence folder
round trip that ``workbench replicate --from-evidence`` recomputes from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses import claims as c
from workbench.analyses import seed_patching as sp
from workbench.analyses.claims import Evidence, verdict
from workbench.analyses.evidence import read_evidence, write_unit
from workbench.errors import WorkbenchError
from workbench.finetune.seed_crossmodel import CONTROL_COLUMNS, EFFECT_COLUMNS, POSITIONS, control_block

CONFIG = {"dataset": "capitals", "limit": 40, "n_pairs": 4, "layers": "all", "n_boot": 50, "finetune_steps": 2,
          "finetune_items": 40}


def crossmodel(n=40, n_blocks=16, *, slope=1.0, noise=0.05, reverse=0.8, middle=0.0, same=1.0, gap=0.3, seed=0):
    """Cross-model tables as ``seed_crossmodel`` stores them: the shift at block L is slope * L / (n - 1) plus
    noise; the reverse control moves ``reverse`` of the way back, the middle token ``middle`` of the gap."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.6, n)
    tuned = base + gap * rng.choice([-1.0, 1.0], n)
    effects, controls = [], []
    for position in POSITIONS:
        for layer in range(n_blocks):
            shift = slope * layer / (n_blocks - 1) + noise * rng.standard_normal(n)
            unchanged = (rng.random(n) < same).astype(float) if position == "pre_answer" else np.full(n, np.nan)
            effects.append(pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "example_id": np.arange(n),
                                         "position": position, "layer": layer, "base": base, "tuned": tuned,
                                         "patched": base + shift * (tuned - base), "next_token_unchanged": unchanged}))
        for name, patched in (("reverse", tuned + (reverse + noise * rng.standard_normal(n)) * (base - tuned)),
                              ("position", base + (middle + noise * rng.standard_normal(n)) * (tuned - base))):
            controls.append(pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "example_id": np.arange(n),
                                          "position": position, "control": name, "layer": control_block(n_blocks),
                                          "base": base, "tuned": tuned, "patched": patched}))
    return dict(crossmodel=pd.concat(effects, ignore_index=True)[list(EFFECT_COLUMNS)],
                crossmodel_controls=pd.concat(controls, ignore_index=True)[list(CONTROL_COLUMNS)])


def gradient(**kwargs):
    return verdict([c.seed_layer_gradient(Evidence("m", **crossmodel(**kwargs)))], 0.0)


def test_seed_shift_follows_the_seeds_code():
    # (pa - bl) / (gap + 1e-10) when |gap| > 0.01, rounded to 4 places; None for a small gap and for exactly 0
    shifts = sp.seed_shift([0.55, 0.5, 0.6, 0.5], [0.5, 0.5, 0.5, 0.5], [0.8, 0.505, 0.5001, 0.9])
    assert shifts[0] == round(0.05 / (0.3 + 1e-10), 4) and np.isnan(shifts[1:3]).all() and np.isnan(shifts[3])
    assert sp.seed_layers(32) == [0, 4, 8, 12, 16, 20, 24, 28] and sp.seed_layers(30) == list(range(0, 30, 3))
    assert sp.clipped([7.0, np.nan, -9.0, 0.5]).tolist() == [5.0, -5.0, 0.5]
    # layers <= 28 // 4 = 7 are early, layers >= 3 * 28 // 4 = 21 late; items pooled, clipped to [-5, 5]
    early, late = sp.early_late(np.array([0, 4, 8, 12, 16, 20, 24, 28]), np.arange(16.0).reshape(2, 8))
    assert early.tolist() == [0.0, 1.0, 5.0, 5.0] and late.tolist() == [5.0, 5.0, 5.0, 5.0]


def test_claim_4_verdicts_follow_rho_on_the_seeds_layers_and_its_controls():
    assert gradient(slope=1.0)[3] == "reproduced"
    assert "controls: reverse passes" in gradient(slope=1.0)[4] and "answer passes" in gradient(slope=1.0)[4]
    assert gradient(slope=-1.0)[3] == "refuted"
    assert gradient(slope=0.0, noise=0.5)[3] == "inconclusive"
    moved = gradient(slope=1.0, middle=0.9)  # the middle token moves it as much: not position-specific
    assert moved[3] == "inconclusive" and "position control fails" in moved[4]
    one_way = gradient(slope=1.0, reverse=0.0)
    assert one_way[3] == "inconclusive" and "reverse control fails" in one_way[4]
    answer = gradient(slope=1.0, same=0.5)  # the patch changes the next (answer) token for half the items
    assert answer[3] == "inconclusive" and "answer control fails" in answer[4]
    at_slot = verdict([c.seed_layer_gradient(Evidence("m", **crossmodel(same=0.5)), "confidence_slot")], 0.0)
    assert at_slot[3] == "reproduced" and "answer" not in at_slot[4]  # the answer check applies before the answer


def test_claim_4_without_a_gap_or_a_fine_tuning_is_inconclusive_with_why():
    flat = gradient(gap=0.005)
    assert flat[3] == "inconclusive" and "0 of 40 items have |tuned - base| > 0.01" in flat[4]
    why = "fine-tuning could not run: too few correct answers in the training run"
    assert verdict([c.seed_layer_gradient(Evidence("m", finetune_why=why))], 0.0)[3:] == ("inconclusive", why)


def test_claim_5_is_the_seeds_one_sided_mann_whitney_pooled_over_seeds():
    late = [Evidence("m", seed=s, **crossmodel(slope=1.0, seed=s)) for s in (0, 1)]
    m = c.seed_late_effect(late)
    assert m.decided == "reproduced" and m.value > 0.9 and "2 seed(s)" in m.note
    assert c.seed_late_effect([Evidence("m", **crossmodel(slope=-1.0))]).decided == "refuted"
    assert c.seed_late_effect([Evidence("m", **crossmodel(slope=0.0, noise=0.3))]).decided == "inconclusive"
    assert verdict([m], 0.5)[3] == "reproduced" and np.isnan(verdict([m], 0.5)[1])  # a size, no interval


def test_claim_7_is_the_seeds_recovery_above_chance():
    from tests.analyses.test_claims import recovery

    items = recovery()
    m = c.probe_recovery(Evidence("m", finetune=items))
    verbal = c.auroc(items["verbal_after"], items["correct_after"])
    probe = c.auroc(items["probe_before"], items["correct_before"])
    assert m.value == pytest.approx((verbal - 0.5) / (probe - 0.5))


def test_claim_9_stable_discrimination_and_seed_sensitive_shape():
    from tests.analyses.test_claims import recovery

    items = recovery(n=120)
    # a monotone rescaling per seed: the same AUROC (stable) and a moved histogram (seed-sensitive)
    shifted = [Evidence("m", seed=s, finetune=items.assign(verbal_after=items["verbal_after"] * 0.5 + 25 * s))
               for s in range(3)]
    m = c.seed_replication(shifted)
    assert m.decided == "reproduced" and m.value > 1 and "3 seeds" in m.note
    same = [Evidence("m", seed=s, finetune=items) for s in range(2)]
    assert c.seed_replication(same).decided == "inconclusive"  # stable, but the shape does not move
    assert "needs 2" in verdict([c.seed_replication(same[:1])], 1.0)[4]


def units(models=("inst", "gemma-3-270m"), seeds=(0, 1)):
    from tests.analyses.test_claims import oof, patching, records, recovery

    out = []
    for model in models:
        for s in seeds:
            frame = records(softmax_signal=1.0, seed=s, verbal=lambda ok, rng: np.full(len(ok), 95.0))
            out.append(Evidence(model, seed=s, records=frame, oof=oof(frame, signal_layer=2, seed=s), **patching(),
                                finetune=recovery(seed=s), **crossmodel(seed=s), instruct=model != "gemma-3-270m"))
    return out


def test_evidence_round_trip_keeps_every_claim(tmp_path):
    evidence = units()
    for ev in evidence:
        write_unit(tmp_path, CONFIG, ev, {"wall_times": [{"model": ev.model, "seed": ev.seed, "stage": "collect",
                                                          "seconds": 1.5}]})
    config, back, unit_files = read_evidence(tmp_path)
    assert config == CONFIG and [(e.model, e.seed) for e in back] == [("gemma-3-270m", 0), ("gemma-3-270m", 1),
                                                                       ("inst", 0), ("inst", 1)]
    pd.testing.assert_frame_equal(c.claims_table(back), c.claims_table(sorted(evidence, key=lambda e: e.model)))
    assert unit_files[0]["wall_times"][0]["seconds"] == 1.5


def test_from_evidence_recomputes_the_claims_without_a_model(tmp_path):
    for ev in units():
        write_unit(tmp_path / "evidence", CONFIG, ev, {})
    first = wb.replicate(tmp_path / "a", from_evidence=str(tmp_path / "evidence"), progress=False)
    again = wb.replicate(tmp_path / "b", from_evidence=str(tmp_path / "evidence"), progress=False)
    assert (tmp_path / "a" / "claims.csv").read_bytes() == (tmp_path / "b" / "claims.csv").read_bytes()
    assert (first["verdict"] == again["verdict"]).all() and (tmp_path / "a" / "report.html").stat().st_size > 10_000
    rows = first.set_index(["claim", "position", "model"])
    assert rows.loc[("layer_gradient", "pre_answer", "inst"), "verdict"] == "reproduced"
    assert rows.loc[("late_effect", "pre_answer", "inst"), "verdict"] == "reproduced"
    assert "| layer_gradient | seed | pre_answer |" in (tmp_path / "a" / "ladder.md").read_text()


def test_bad_evidence_gets_one_clear_error(tmp_path):
    ev = units(models=("inst",), seeds=(0,))[0]
    write_unit(tmp_path, CONFIG, ev, {})
    (tmp_path / "inst" / "seed0" / "crossmodel_effects.parquet").unlink()
    with pytest.raises(WorkbenchError, match=r"table 'crossmodel_effects' of model 'inst', seed 0 is missing"):
        read_evidence(tmp_path)
    with pytest.raises(WorkbenchError, match=r"another study config .* limit: 40 there, 60 here"):
        write_unit(tmp_path, {**CONFIG, "limit": 60}, ev, {})
    with pytest.raises(WorkbenchError, match="holds no evidence"):
        read_evidence(tmp_path / "nothing")


def test_written_evidence_is_kept_unless_overwrite(tmp_path):
    ev = units(models=("inst",), seeds=(0,))[0]
    write_unit(tmp_path, CONFIG, ev, {})
    path = tmp_path / "inst" / "seed0" / "records.parquet"
    before = path.read_bytes()
    changed = Evidence("inst", seed=0, records=ev.records.assign(correct=~ev.records["correct"]))
    assert write_unit(tmp_path, CONFIG, changed, {}) == ["records"] and path.read_bytes() == before
    write_unit(tmp_path, CONFIG, changed, {}, overwrite=True)
    assert path.read_bytes() != before


def test_a_study_of_another_config_is_refused_before_anything_runs(tmp_path):
    write_unit(tmp_path / "evidence", CONFIG, units(models=("inst",), seeds=(0,))[0], {})
    with pytest.raises(WorkbenchError, match=r"another study config .* limit: 40 there, 24 here"):
        wb.replicate(tmp_path / "out", models=["smollm2-135m-instruct"], dataset="capitals", limit=24, n_pairs=4,
                     n_boot=50, finetune_steps=2, finetune_items=40, seeds=(0,), evidence=str(tmp_path / "evidence"),
                     progress=False)
    assert not (tmp_path / "out" / "models").exists()
