"""Pair builders on synthetic run stores: classes, seeding, replacement, roles, cross-model checks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.patching.pairs import (MID_PROMPT, build_pairs, correct_to_incorrect, cross_model_pairs,
                                               incorrect_to_correct, random_pairs)
from workbench.errors import WorkbenchError


def classes(run):
    frame = run.records.set_index("example_id")
    return set(frame.index[frame["correct"]]), set(frame.index[~frame["correct"]])


def test_correct_to_incorrect_uses_each_target_once_and_marks_replacement(synthetic_run):
    correct, incorrect = classes(synthetic_run)
    pairs = correct_to_incorrect(synthetic_run, seed=3)
    assert len(pairs) == len(incorrect)
    assert set(pairs.table["target_id"]) == incorrect  # every incorrect example, once
    assert set(pairs.table["source_id"]) == correct  # 3 correct for 7 pairs: all used, with replacement
    assert pairs.sampling["source_replacement"] and not pairs.sampling["target_replacement"]
    assert "with replacement" in pairs.note and "3 examples for 7 pairs" in pairs.note
    assert list(pairs.table["pair_id"]) == list(range(len(pairs)))


def test_incorrect_to_correct_reverses_the_classes(synthetic_run):
    correct, incorrect = classes(synthetic_run)
    pairs = incorrect_to_correct(synthetic_run, seed=0)
    assert set(pairs.table["target_id"]) == correct and set(pairs.table["source_id"]) <= incorrect
    assert not pairs.sampling["source_replacement"]  # 7 incorrect cover 3 pairs without replacement
    assert pairs.table["source_id"].is_unique


def test_pairs_are_seeded(synthetic_run):
    a = correct_to_incorrect(synthetic_run, n_pairs=12, seed=1).table
    b = correct_to_incorrect(synthetic_run, n_pairs=12, seed=1).table
    c = correct_to_incorrect(synthetic_run, n_pairs=12, seed=2).table
    assert a.equals(b)
    assert not a.equals(c)
    assert a["target_id"].value_counts().max() >= 2  # 12 pairs from 7 targets: drawn with replacement


def test_pairs_trace_to_items(synthetic_run):
    pairs = correct_to_incorrect(synthetic_run, seed=0)
    items = synthetic_run.records.set_index("example_id")["item_id"]
    assert (pairs.table["source_item"].to_numpy() == items.loc[pairs.table["source_id"]].to_numpy()).all()
    described = pairs.describe()
    assert {"source_question", "target_answer", "target_softmax_expected"} <= set(described.columns)
    assert described["source_correct"].all() and not described["target_correct"].any()


def test_empty_class_is_a_clear_error(tmp_path, run_factory):
    run = run_factory(tmp_path / "allwrong", [False] * 5)
    with pytest.raises(WorkbenchError, match="at least one correct example.*none.*0 of 5"):
        correct_to_incorrect(run)
    with pytest.raises(WorkbenchError, match="at least one correct"):
        incorrect_to_correct(run)
    assert len(random_pairs(run, n_pairs=4)) == 4  # the fallback the message suggests works


def test_random_pairs_are_distinct(synthetic_run):
    pairs = random_pairs(synthetic_run, n_pairs=30, seed=5)
    assert (pairs.table["source_id"] != pairs.table["target_id"]).all()
    items = synthetic_run.records.set_index("example_id")["item_id"]
    assert (pairs.table["source_item"].to_numpy() == items.loc[pairs.table["source_id"]].to_numpy()).all()


def test_reversed_swaps_runs_and_examples(synthetic_run):
    pairs = correct_to_incorrect(synthetic_run, seed=0)
    back = pairs.reversed()
    assert (back.table["source_id"].to_numpy() == pairs.table["target_id"].to_numpy()).all()
    assert (back.table["target_id"].to_numpy() == pairs.table["source_id"].to_numpy()).all()
    assert back.sampling["target_replacement"] and "reverse" in back.kind


def test_role_positions_and_missing_roles(synthetic_run):
    pairs = correct_to_incorrect(synthetic_run, seed=0)
    src, tgt = pairs.positions("confidence_slot")
    lengths = synthetic_run.records.set_index("example_id")["input_ids"].map(len)
    assert (tgt == lengths.loc[pairs.table["target_id"]].to_numpy() - 1).all()
    mid_src, _ = pairs.positions(MID_PROMPT)  # half-way between the shared prefix (4 tokens) and pre_answer
    pre_src, _ = pairs.positions("pre_answer")
    assert ((mid_src >= 4) & (mid_src < pre_src)).all()
    with pytest.raises(WorkbenchError, match="role 'confidence_slott' is missing in the source run.*Did you mean"):
        pairs.positions("confidence_slott")


def test_role_without_valid_position_is_an_error(synthetic_run, tmp_path, correct_copy):
    import pandas as pd

    broken = correct_copy(synthetic_run, tmp_path / "broken", [0, 3])
    shard = next((broken.path / "records").glob("*.parquet"))
    frame = pd.read_parquet(shard)
    frame.loc[frame["example_id"] == 1, "pos_post_answer"] = 999
    frame.to_parquet(shard, index=False)
    from workbench.store import open_run

    pairs = correct_to_incorrect(open_run(broken.path), seed=0)
    with pytest.raises(WorkbenchError, match="role 'post_answer' is missing in the target run for examples \\[1\\]"):
        pairs.positions("post_answer")


def test_cross_model_pairs_match_items(tmp_path, run_factory):
    base = run_factory(tmp_path / "base", [False] * 6, seed=0, model="base")
    tuned = run_factory(tmp_path / "tuned", [True] * 6, seed=1, model="tuned")
    pairs = cross_model_pairs(tuned, base, seed=0)
    assert pairs.cross_model and len(pairs) == 6
    assert (pairs.table["source_item"] == pairs.table["target_item"]).all()
    assert pairs.source is tuned and pairs.target is base
    assert build_pairs(base, "cross-model", source_run=tuned).table.equals(pairs.table)


def test_cross_model_shape_mismatch_is_one_clear_error(tmp_path, run_factory):
    base = run_factory(tmp_path / "base", [False] * 4, d_model=8)
    wide = run_factory(tmp_path / "wide", [True] * 4, d_model=16, n_layers=6)
    with pytest.raises(WorkbenchError, match="same architecture.*layers differ.*d_model differ"):
        cross_model_pairs(wide, base)


def test_cross_model_tokenizer_mismatch(tmp_path, run_factory):
    base = run_factory(tmp_path / "base", [False] * 4)
    other = run_factory(tmp_path / "other", [True] * 4, prefix=(1, 2, 3, 5))  # same shapes, other token ids
    with pytest.raises(WorkbenchError, match="tokenizers differ"):
        cross_model_pairs(other, base)


def test_unknown_kind_suggests(synthetic_run):
    with pytest.raises(WorkbenchError, match="Did you mean 'correct-to-incorrect'"):
        build_pairs(synthetic_run, "correct-to-incorect")
    with pytest.raises(WorkbenchError, match="source run"):
        build_pairs(synthetic_run, "cross-model")
    assert np.all(build_pairs(synthetic_run, "random", n_pairs=3, seed=1).table["pair_id"] == [0, 1, 2])
