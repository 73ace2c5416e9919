"""Sampling channels on a tiny random llama: seeded and batch-independent, stored per example, resumable,
read by the channels analysis; the grader's clusters; bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.channels import channel_scores, channels
from workbench.backends import load_model
from workbench.cli import main
from workbench.collect import collect
from workbench.elicit.sampling import clusters, consistency_row, same_answer
from workbench.errors import WorkbenchError
from workbench.sampling import SampleConfig, sample_channels
from workbench.store import open_run
from workbench.store.chunks import ChunkStore
from workbench.store.columns import undocumented


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), backend="transformer_lens", device="cpu")


@pytest.fixture(scope="module")
def tiny_run(tiny, tiny_checkpoint, tmp_path_factory):
    return collect(out=tmp_path_factory.mktemp("sample") / "run", loaded=tiny, model=str(tiny_checkpoint), limit=6,
                   max_answer_tokens=4, batch_size=6, progress=False)


@pytest.fixture
def fresh(tiny_run, tmp_path):
    shutil.copytree(tiny_run.path, tmp_path / "run")
    return open_run(tmp_path / "run")


def test_grader_equivalence_and_clusters():
    assert same_answer("Paris, France", "paris") and same_answer("paris", "Paris (France)")
    assert not same_answer("Parisian", "Paris") and not same_answer("", "Paris") and same_answer(" ", "")
    assert clusters(["Paris", "Rome", "paris.", "The Rome", "Lyon"]) == [0, 1, 0, 1, 2]
    row = consistency_row("Paris", ["Paris", "Rome", "paris", "Paris, France"])
    assert row["self_consistency"] == 0.75 and row["n_clusters"] == 2
    shares = np.array([0.75, 0.25])
    assert np.isclose(row["semantic_entropy"], 1 + (shares * np.log(shares)).sum() / np.log(4))
    assert consistency_row("x", ["y", "y"])["semantic_entropy"] == 1.0  # all samples agree with each other
    distinct = ["a", "b", "c", "d", "e"]  # k clusters of k samples: confidence 0, not -2e-16 (calibrate's [0, 1] check)
    assert consistency_row("x", distinct)["semantic_entropy"] == 0.0


def test_samples_are_seeded_batch_independent_and_resumable(tiny, fresh, tiny_run, tmp_path):
    one = sample_channels(fresh, model=tiny, k=3, batch_size=4, max_answer_tokens=3, progress=False)["samples"]
    assert list(one["example_id"]) == list(range(6)) and one["samples"].map(len).eq(3).all()
    assert one["self_consistency"].between(0, 1).all() and one["semantic_entropy"].between(0, 1 + 1e-12).all()
    assert np.allclose(one["p_true"], one["p_true_raw"] / (one["p_true_raw"] + one["p_false_raw"]))
    assert (one["p_true_raw"] > 0).all() and (one["p_true_raw"] + one["p_false_raw"] <= 1 + 1e-6).all()
    shutil.copytree(tiny_run.path, tmp_path / "other")
    other = sample_channels(tmp_path / "other", model=tiny, k=3, batch_size=1, max_answer_tokens=3,
                            progress=False)["samples"]
    assert one["samples"].map(list).tolist() == other["samples"].map(list).tolist()  # batching does not matter
    assert np.allclose(one["p_true"], other["p_true"], atol=1e-5)
    changed = sample_channels(tmp_path / "other", model=tiny, k=3, seed=1, batch_size=6, max_answer_tokens=3,
                              progress=False)["samples"]
    assert changed["samples"].map(list).tolist() != one["samples"].map(list).tolist()  # the seed matters
    # a killed sampling keeps its finished batches: put the result back to its partial state, then resume
    stored = sample_channels(fresh, model=tiny, k=3, max_answer_tokens=3, progress=False)  # stored: returned
    pd.testing.assert_frame_equal(stored["samples"], one)
    key = stored.path
    shutil.rmtree(key)
    partial = ChunkStore(key / "partial", stored.manifest["digest"], what="sampling table")
    partial.put("batch-00000", one.iloc[:4].assign(self_consistency=0.125))  # marked, to see it is reused
    resumed = sample_channels(fresh, model=tiny, k=3, batch_size=1, max_answer_tokens=3, progress=False)
    assert resumed.path == key and not (key / "partial").exists()  # same config, same folder; partial consumed
    table = resumed["samples"]
    assert (table["self_consistency"].iloc[:4] == 0.125).all()  # the finished batch was kept, not redone
    pd.testing.assert_frame_equal(table.iloc[4:], one.iloc[4:])  # the rest sampled now (batch size 1), equal
    assert resumed.manifest["model"]["checksum"] == fresh.manifest["model"]["checksum"]
    assert resumed.manifest["config"]["k"] == 3 and "versions" in resumed.manifest and resumed.manifest["config_hash"]
    assert undocumented("sampling", resumed.tables) == []  # docs/api.md's tables cover every column


def test_another_config_sits_beside_and_calibrate_says_which_it_read(tiny, fresh):
    k3 = sample_channels(fresh, model=tiny, k=3, max_answer_tokens=3, progress=False)
    k2 = sample_channels(fresh, model=tiny, k=2, max_answer_tokens=3, progress=False)
    assert k3.path != k2.path and k3.path.parent == k2.path.parent == fresh.path / "results" / "sampling"
    assert (k3.path / "manifest.json").exists() and k2["samples"]["samples"].map(len).eq(2).all()
    assert k3["samples"]["samples"].map(len).eq(3).all()  # not replaced, not mixed
    with_k2 = channels(fresh, n_boot=20, recalibrate=False)  # the latest: k=2
    assert with_k2.config["sampling"]["k"] == 2 and with_k2.config["sampling_result"].endswith(k2.path.name)
    notes = with_k2["channels"].set_index("channel").loc[["self_consistency", "p_true"], "note"]
    assert notes.str.startswith("sampled k=2, temperature=1.0, seed=0").all(), notes
    again = sample_channels(fresh, model=tiny, k=3, max_answer_tokens=3, progress=False)  # stored: the latest again
    assert again.path == k3.path
    with_k3 = channels(fresh, n_boot=20, recalibrate=False)
    assert with_k3.path != with_k2.path and with_k3.config["sampling"]["k"] == 3
    assert np.allclose(with_k3["scores"]["self_consistency"], k3["samples"]["self_consistency"])
    explicit = channels(fresh, n_boot=20, recalibrate=False, sampling=k2)
    assert explicit.path == with_k2.path
    with pytest.raises(WorkbenchError, match="not sampling channels"):
        channel_scores(fresh, sampling=with_k3)
    shutil.rmtree(fresh.path / "results" / "sampling")
    (fresh.path / "sampling").mkdir()
    (fresh.path / "sampling" / "manifest.json").write_text("{}")  # a table of the earlier, unkeyed layout
    with pytest.raises(WorkbenchError, match="stored before they were keyed by config; re-run `workbench sample"):
        channel_scores(fresh)


def test_channels_read_the_sampling_table(tiny, fresh, capsys):
    assert "p_true" not in channel_scores(fresh).columns
    assert main(["sample", str(fresh.path), "--k", "2", "--max-answer-tokens", "2"]) == 0
    assert "6 examples, k=2 at temperature 1.0: mean self_consistency" in capsys.readouterr().out
    table = sample_channels(fresh, model=tiny, k=2, max_answer_tokens=2, progress=False)["samples"]  # the stored
    scores = channel_scores(fresh)
    for channel in ("self_consistency", "semantic_entropy", "p_true"):
        assert np.allclose(scores[channel].to_numpy(), table[channel].to_numpy())


def test_bad_input_is_one_clear_error_each(fresh, capsys):
    with pytest.raises(WorkbenchError, match="sample.k: must be an integer >= 2, got 1"):
        SampleConfig(k=1)
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(WorkbenchError, match="sample.temperature: must be a number > 0"):
            SampleConfig(temperature=temperature)
    assert main(["sample", str(fresh.path), "--k", "1"]) == 2
    assert "--k: must be an integer >= 2, got 1" in capsys.readouterr().err
    assert not (fresh.path / "results" / "sampling").exists()


@pytest.mark.slow
def test_sampling_channels_on_smollm2(smollm2, tmp_path):
    from workbench.analyses.channels import channels

    run = collect(out=tmp_path / "run", loaded=smollm2, limit=8, seed=0, batch_size=8, progress=False)
    greedy = sample_channels(run, model=smollm2, k=2, temperature=1e-4, p_true=False, progress=False)["samples"]
    assert greedy["samples"].map(list).tolist() == [[a, a] for a in run.records["answer"]]  # near zero: the greedy
    assert (greedy["self_consistency"] == 1).all()
    table = sample_channels(run, model=smollm2, k=4, temperature=1.0, progress=False)["samples"]
    assert table["samples"].map(len).eq(4).all() and table["n_clusters"].between(1, 4).all()
    assert ((table["p_true_raw"] + table["p_false_raw"]).between(1e-6, 1 + 1e-6)).all()
    rows = channels(run, n_boot=50)["channels"].set_index("channel")
    for channel in ("self_consistency", "semantic_entropy", "p_true"):
        assert rows.loc[channel, "n"] == 8
