"""The exact fast path gives the reference hook loop's numbers on SmolLM2 (both backends), roles and sites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.analyses.patching import patch_sweep, random_pairs
from workbench.analyses.patching.pairs import PairSet
from workbench.errors import WorkbenchError

LAYERS = (0, 13, 29)  # first, middle, last block: the reference is one full forward per (pair, layer)
TOL = 1e-4


@pytest.fixture(scope="module")
def pairs(smollm2_run):
    return random_pairs(smollm2_run, n_pairs=2, seed=0)


def assert_same(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert (fast["method"] == "fast").all() and (ref["method"] == "reference").all()
    assert fast[["pair_id", "layer", "role"]].equals(ref[["pair_id", "layer", "role"]])
    probs_fast, probs_ref = np.stack(fast["patched_probs"]), np.stack(ref["patched_probs"])
    assert np.abs(probs_fast - probs_ref).max() <= TOL  # every vocabulary probability
    assert np.abs(fast["patched_expected"] - ref["patched_expected"]).max() <= TOL  # expected confidence / 100
    assert np.abs(fast["target_expected"] - ref["target_expected"]).max() <= TOL
    assert (fast["answer_unchanged"] == ref["answer_unchanged"]).all()


@pytest.mark.parametrize("role", ["confidence_slot", "post_answer"])
@pytest.mark.parametrize("site", ["resid_pre", "resid_post", "attn_out", "mlp_out"])
def test_fast_equals_reference_transformer_lens(smollm2, pairs, role, site):
    fast = patch_sweep(smollm2, pairs, site, LAYERS, (role,), method="fast")
    ref = patch_sweep(smollm2, pairs, site, LAYERS, (role,), method="reference")
    assert_same(fast, ref)
    assert np.abs(ref["shift"]).max() > TOL  # the patch moves the read-out, so agreement is not vacuous


@pytest.mark.parametrize(("role", "site"), [("confidence_slot", "resid_pre"), ("post_answer", "attn_out")])
def test_fast_equals_reference_nnsight(smollm2_nnsight, pairs, role, site):
    fast = patch_sweep(smollm2_nnsight, pairs, site, LAYERS, (role,), method="fast")
    ref = patch_sweep(smollm2_nnsight, pairs, site, LAYERS, (role,), method="reference")
    assert_same(fast, ref)


def test_answer_role_patches_can_change_the_answer_and_both_paths_agree(smollm2, pairs):
    fast = patch_sweep(smollm2, pairs, "resid_pre", (8, 20), ("pre_answer",), method="fast")
    ref = patch_sweep(smollm2, pairs, "resid_pre", (8, 20), ("pre_answer",), method="reference")
    assert_same(fast, ref)  # the suffix here spans the answer; answer_unchanged is computed, not assumed


@pytest.mark.parametrize("role", ["pre_answer", "mid_prompt"])
def test_reading_at_pre_answer_fast_equals_reference(smollm2, pairs, role):
    """The seed study reads the confidence at the last prompt token: the target is cut there, both paths agree,
    and the read-out is the distribution after the prompt, not after the confidence slot."""
    fast = patch_sweep(smollm2, pairs, "resid_post", LAYERS, (role,), method="fast", read="pre_answer")
    ref = patch_sweep(smollm2, pairs, "resid_post", LAYERS, (role,), method="reference", read="pre_answer")
    assert_same(fast, ref)
    assert (fast["read"] == "pre_answer").all()
    slot = patch_sweep(smollm2, pairs, "resid_post", LAYERS, (role,), method="fast")
    assert np.abs(slot["target_expected"].to_numpy() - fast["target_expected"].to_numpy()).max() > 1e-3
    prompt = [smollm2_ids[: pos + 1] for smollm2_ids, pos in zip(pairs.target.records.set_index("example_id").loc[
        pairs.table["target_id"], "input_ids"], pairs.positions("pre_answer")[1])]
    clean = smollm2.confidence(torch.tensor([prompt[0]])).expected[0] / 100
    assert abs(fast["target_expected"].iloc[0] - clean) <= TOL


def test_a_patch_after_the_read_position_is_refused(smollm2, pairs):
    with pytest.raises(WorkbenchError, match="after the read position"):
        patch_sweep(smollm2, pairs, "resid_pre", LAYERS, ("confidence_slot",), read="pre_answer")


def test_patching_a_run_into_itself_changes_nothing(smollm2, smollm2_run):
    ids = smollm2_run.records["example_id"].to_numpy()[:2]
    items = smollm2_run.records["item_id"].to_numpy()[:2]
    table = pd.DataFrame({"pair_id": [0, 1], "source_id": ids, "target_id": ids, "source_item": items,
                          "target_item": items})
    itself = PairSet(kind="identity", source=smollm2_run, target=smollm2_run, table=table, seed=0)
    for site in ("mlp_out", "resid_post"):  # activations from a fresh forward: the patch writes what was there
        effects = patch_sweep(smollm2, itself, site, "all", ("confidence_slot", "post_answer"), method="fast")
        assert np.abs(effects["shift"]).max() < 1e-5
        assert effects["answer_unchanged"].all() and effects["argmax_unchanged"].all()


def test_cross_model_pairs_run_end_to_end(smollm2, smollm2_run, tmp_path, correct_copy):
    """A copy of the run stands in for a fine-tuned model (same weights): the same item patched across the two
    runs writes back what was there, so every effect is zero; a site the store lacks needs the source model."""
    from workbench.analyses.patching import cross_model_pairs
    from workbench.errors import WorkbenchError

    tuned = correct_copy(smollm2_run, tmp_path / "tuned", [])
    pairs = cross_model_pairs(tuned, smollm2_run, n_pairs=2, seed=0)
    assert pairs.cross_model and (pairs.table["source_item"] == pairs.table["target_item"]).all()
    effects = patch_sweep(smollm2, pairs, "resid_pre", (3, 17), ("confidence_slot",), source_model=smollm2)
    assert (effects["source_from"] == "store").all()
    assert np.abs(effects["shift"]).max() < 1e-3  # stored states (batched collect) vs a fresh forward: ~1e-5
    with pytest.raises(WorkbenchError, match="need the source model"):
        patch_sweep(smollm2, pairs, "attn_out", (3,), ("confidence_slot",))
