"""One example in one line, one layer vocabulary, Python-style indices, and the record-column rename."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.analyses.synthetic import make_run
from workbench.errors import WorkbenchError
from workbench.store import RunWriter


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run", n=12, n_blocks=3, d_model=16)


def test_a_run_counts_blocks_and_names_its_readouts(run):
    assert run.n_blocks == 3
    assert run.readouts == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.2.hook_resid_pre",
                            "blocks.2.hook_resid_post"]
    assert not hasattr(run, "n_layers")


def test_example_and_prompt_ids(tiny_run):
    example = tiny_run.example(2)
    record = tiny_run.records.iloc[2]
    assert example.example_id == 2 and example.row == 2 and example.record["question"] == record["question"]
    assert example.input_ids == list(record["input_ids"])
    assert example.positions == {role: int(record[f"pos_{role}"]) for role in tiny_run.roles}
    assert tiny_run.prompt_ids(2) == example.input_ids  # collect stops at the confidence slot
    assert tiny_run.prompt_ids(2, "pre_answer") == example.input_ids[:example.positions["pre_answer"] + 1]
    assert tiny_run.example(-1).example_id == tiny_run.n_examples - 1
    with pytest.raises(WorkbenchError, match="role 'answer' not stored in this run"):
        tiny_run.prompt_ids(2, "answer")
    with pytest.raises(WorkbenchError, match="example 99 is not in this run"):
        tiny_run.example(99)
    with pytest.raises(WorkbenchError, match="example must be an integer example_id, got True"):
        tiny_run.example(True)


def test_residuals_take_python_style_read_out_indices_or_residual_hook_names(run):
    last = run.residuals(len(run.readouts) - 1, "confidence_slot")
    assert np.array_equal(run.residuals(-1, "confidence_slot"), last)
    assert np.array_equal(run.residuals(np.int64(1)), run.residuals(1, "confidence_slot"))
    n = run.n_blocks  # read-out L is blocks.L.hook_resid_pre; blocks.L.hook_resid_post is read-out L + 1
    assert np.array_equal(run.residuals(f"blocks.{n - 1}.hook_resid_post"), last)
    assert np.array_equal(run.residuals("blocks.1.hook_resid_post"), run.residuals(2))
    assert np.array_equal(run.residuals("blocks.2.hook_resid_pre"), run.residuals(2))
    assert run.readouts[2] == "blocks.2.hook_resid_pre"
    with pytest.raises(WorkbenchError, match=r"readout must be an integer index, got True \(bool\)"):
        run.residuals(readout=True, role="confidence_slot")
    with pytest.raises(WorkbenchError, match=r"'3' is no residual read-out: name one 'blocks.\{L\}.hook_resid_pre'"):
        run.residuals(readout="3", role="confidence_slot")
    with pytest.raises(WorkbenchError, match=r"'blocks.1.hook_mlp_out' is no residual read-out"):
        run.residuals("blocks.1.hook_mlp_out")
    with pytest.raises(WorkbenchError, match=rf"block {n} out of range: there are {n} blocks in this run \(0..{n - 1}"):
        run.residuals(f"blocks.{n}.hook_resid_pre")
    with pytest.raises(WorkbenchError, match=r"readout 4 out of range: there are 4 read-outs in this run \(0..3"):
        run.residuals(4)
    with pytest.raises(WorkbenchError, match=r"readout -5 out of range"):
        run.residuals(-5)


def test_patch_from_run_reads_the_source_activation_from_the_store(run, tmp_path):
    target = make_run(tmp_path / "target", n=6, n_blocks=3, d_model=16, seed=1)
    patch = wb.Patch.from_run(run, 4, target, 2, layer=1, role="confidence_slot")
    assert patch.hook == "blocks.1.hook_resid_pre" and patch.mode == "set"
    assert torch.equal(patch.values[0], torch.from_numpy(run.residuals(1, "confidence_slot")[4]))
    assert patch.positions.tolist() == [target.example(2).positions["confidence_slot"]]
    post = wb.Patch.from_run(run, 4, target, 2, layer=-1, role="post_answer", site="resid_post")
    assert post.hook == "blocks.2.hook_resid_post"
    assert torch.equal(post.values[0], torch.from_numpy(run.residuals(3, "post_answer")[4]))
    with pytest.raises(WorkbenchError, match=r"holds no 'attn_out' activations .* pass model="):
        wb.Patch.from_run(run, 4, target, 2, layer=1, site="attn_out")
    wide = make_run(tmp_path / "wide", n=6, n_blocks=3, d_model=8)
    with pytest.raises(WorkbenchError, match="patch between runs of the same architecture"):
        wb.Patch.from_run(run, 0, wide, 0, layer=1)


def test_patch_from_run_computes_other_sites_with_the_model(tiny_model, tiny_run):
    patch = wb.Patch.from_run(tiny_run, 0, tiny_run, 1, layer=1, site="attn_out", model=tiny_model)
    example = tiny_run.example(0)
    out = tiny_model.run(torch.tensor([example.input_ids]), cache=["blocks.1.hook_attn_out"])
    assert torch.allclose(patch.values[0], out.activations["blocks.1.hook_attn_out"][0, -1], atol=1e-6)
    assert patch.positions.tolist() == [tiny_run.example(1).positions["confidence_slot"]]


def _downgrade(path):
    """Rewrite a run as format 1 wrote it: the column was ``argmax``."""
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    for shard in (path / "records").glob("*.parquet"):
        frame = pd.read_parquet(shard)
        frame.rename(columns={"argmax_confidence": "argmax"}).to_parquet(shard, index=False)
    return manifest


def test_an_older_run_is_read_through_the_rename_and_never_resumed(run):
    stored = run.records["argmax_confidence"].to_numpy()
    manifest = _downgrade(run.path)
    old = wb.open_run(run.path)
    assert "argmax" not in old.records.columns
    assert np.array_equal(old.records["argmax_confidence"].to_numpy(), stored)
    with pytest.raises(WorkbenchError, match="store format 1 .* cannot be resumed; collect into a new directory"):
        RunWriter(run.path, manifest)
    (run.path / "manifest.json").write_text(json.dumps({**manifest, "format": 7}))
    with pytest.raises(WorkbenchError, match="format 7, which this version .* re-collect it"):
        wb.open_run(run.path)


def test_negative_layers_count_from_the_end_everywhere(run, tmp_path):
    from workbench.layer_selection import READOUT, select_layers

    assert select_layers(-1, len(run.readouts), READOUT) == (len(run.readouts) - 1,)  # probes, lens: read-outs
    assert select_layers(-1, run.n_blocks) == (run.n_blocks - 1,)  # patching: blocks
    assert wb.hook_name(-1, "resid_pre", run.n_blocks) == f"blocks.{run.n_blocks - 1}.hook_resid_pre"
    assert wb.Patch.from_run(run, 0, run, 1, layer=-1).hook == f"blocks.{run.n_blocks - 1}.hook_resid_pre"
    for bad in (True, "1", 1.0):
        with pytest.raises(WorkbenchError, match=f"block must be an integer index, got {bad!r}"):
            select_layers([bad], run.n_blocks)
        with pytest.raises(WorkbenchError, match=f"read-out must be an integer index, got {bad!r}"):
            select_layers([bad], len(run.readouts), READOUT)
