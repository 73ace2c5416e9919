"""Claims 6 and 8's fine-tuning (``workbench.finetune.knowledge``) end to end on a tiny random llama: the three
training sets, standard and knowledge-aware training, the held-out runs, the stored tables; refusals."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from workbench.backends import load_model
from workbench.collect import collect
from workbench.configs import FinetuneConfig
from workbench.errors import WorkbenchError
from workbench.finetune import knowledge_aware as ka
from workbench.finetune.knowledge import TUNING_COLUMNS, VARIANTS, knowledge_tuning, training_sets, tuned_run
from workbench.store import open_run


def with_known(run, path, known_ids):
    """A copy of ``run`` whose examples ``known_ids`` have base P(gold) 0.9 and every other one 0.1 (a random
    model knows nothing; the split needs both)."""
    shutil.copytree(run.path, path)
    for shard in sorted((path / "records").glob("*.parquet")):
        frame = pd.read_parquet(shard)
        frame["gold_logprob"] = np.log(np.where(frame["example_id"].isin(known_ids), 0.9, 0.1))
        frame.to_parquet(shard, index=False)
    return open_run(path)


@pytest.fixture(scope="module")
def runs(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("knowledge")
    model = load_model(str(tiny_checkpoint), device="cpu", progress=False)
    settings = dict(loaded=model, model=str(tiny_checkpoint), max_answer_tokens=2, batch_size=12, progress=False)
    raw = collect(out=root / "raw", dataset="capitals", limit=16, **settings)
    train_run = with_known(raw, root / "train", list(range(0, 16, 2)))  # 8 known, 8 unknown
    heldout = collect(out=root / "heldout", dataset="elements", limit=6, **settings)
    return train_run, heldout


@pytest.fixture(scope="module")
def tuned(runs, tmp_path_factory):
    train_run, heldout = runs
    out = tmp_path_factory.mktemp("tuned") / "tuning"
    return out, knowledge_tuning(train_run, heldout, out, n_train=4, steps=2, seed=0, progress=False)


def test_the_sets_hold_what_they_say_and_are_seeded(runs):
    train_run, _ = runs
    sets = training_sets(train_run, 4, seed=0)
    assert sets == training_sets(train_run, 4, seed=0) and sets != training_sets(train_run, 4, seed=1)
    assert all(len(ids) == 4 for ids in sets.values())
    assert all(i % 2 == 0 for i in sets["known"]) and all(i % 2 == 1 for i in sets["unknown"])


def test_every_variant_is_trained_evaluated_and_stored(runs, tuned):
    train_run, heldout = runs
    out, result = tuned
    items = result["items"]
    assert list(items.columns) == list(TUNING_COLUMNS)
    assert items.groupby("variant").size().to_dict() == {v: heldout.n_examples for v in VARIANTS}
    base = items[items["variant"] == "base"]
    assert np.allclose(base["verbal"].fillna(-1), heldout.records["verbal_confidence"].fillna(-100) / 100)
    sets = result["sets"].set_index("variant")
    assert sets.loc["known", "n_known"] == 4 and sets.loc["unknown", "n_known"] == 0
    assert json.loads(sets.loc["knowledge-aware", "example_ids"]) == json.loads(sets.loc["mix", "example_ids"])
    assert (sets["train_seconds"] > 0).all() and (sets["eval_seconds"] > 0).all()
    assert not (out / "mix" / "merged").exists()  # merged weights go once the held-out run is collected
    header = json.loads((out / "knowledge-aware" / "adapter" / "workbench-adapter.json").read_text())
    knowledge = header["knowledge_aware"]
    assert len(knowledge["familiarity"]) == 4 and knowledge["beta"] == ka.BETA
    assert json.loads((out / "mix" / "adapter" / "workbench-adapter.json").read_text())["knowledge_aware"] is None
    again = knowledge_tuning(train_run, heldout, out, n_train=4, steps=2, seed=0, progress=False)
    assert again.path == result.path  # read back, not retrained


def test_a_held_out_run_collected_earlier_is_not_timed_again(runs, tuned):
    train_run, heldout = runs
    out, _ = tuned
    (out / "mix" / "timing.json").unlink()  # as when a crash came after the collect, before the timing was kept
    subset = open_run(out / "sets" / "mix")
    config = FinetuneConfig(objective="answer", target="constant", probe=None, steps=2, seed=0, progress=False)
    _, timing = tuned_run(subset, config, out / "mix", heldout, progress=False)
    assert math.isnan(timing["eval_seconds"]) and timing["train_seconds"] >= 0


def test_too_few_known_items_name_the_count_and_the_way_out(runs, tmp_path):
    train_run, heldout = runs
    with pytest.raises(WorkbenchError, match=r"has 8 known items .* of 16, fewer than the 9 .*--limit"):
        knowledge_tuning(train_run, heldout, tmp_path / "t", n_train=9, steps=2, progress=False)


def test_a_held_out_run_that_shares_training_items_is_refused_with_the_count(runs, tmp_path):
    train_run, _ = runs
    with pytest.raises(WorkbenchError, match=r"shares \d+ items with the training run"):
        knowledge_tuning(train_run, train_run, tmp_path / "t", n_train=4, steps=2, progress=False)


def test_an_unknown_strategy_lists_the_choices_and_needs_the_answer_objective():
    with pytest.raises(Exception, match="standard, knowledge-aware"):
        FinetuneConfig(objective="answer", strategy="cogcalib")
    with pytest.raises(Exception, match="--objective answer"):
        FinetuneConfig(target="correctness", strategy="knowledge-aware")
    with pytest.raises(Exception, match="--objective answer"):  # named before the probe the default target lacks
        FinetuneConfig(strategy="knowledge-aware")
    standard = FinetuneConfig(objective="answer", target="constant")
    assert "strategy" not in standard.content()  # adapters trained before the strategy existed keep their hash
    assert FinetuneConfig(objective="answer", target="constant", strategy="knowledge-aware").name == "knowledge-aware"


def test_the_curriculum_starts_on_the_familiar_items_and_reaches_all():
    order = np.array([5, 3, 1, 0, 2, 4, 6, 7])
    first = np.concatenate([ka.curriculum_indices(order, 4, seed=0, step=0, steps=10) for _ in range(3)])
    assert set(first) <= {5, 3, 1, 0}  # the most familiar half
    late = np.concatenate([ka.curriculum_indices(order, 4, seed=s, step=9, steps=10) for s in range(20)])
    assert set(late) == set(order)
    assert (ka.curriculum_indices(order, 4, 3, 2, 10) == ka.curriculum_indices(order, 4, 3, 2, 10)).all()
