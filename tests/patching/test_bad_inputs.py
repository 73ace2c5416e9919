"""Bad input fails early with one clear error each: roles, layers, sites, metrics, models, cross-model shapes."""

from __future__ import annotations

import pytest

from workbench.analyses.patching import check_same_architecture, patch_sweep, random_pairs
from workbench.analyses.patching.runner import PatchConfig
from workbench.errors import WorkbenchError



@pytest.fixture(scope="module")
def pairs(smollm2_run):
    return random_pairs(smollm2_run, n_pairs=2, seed=0)


def test_layers_out_of_range(smollm2, pairs):
    with pytest.raises(WorkbenchError, match=r"block 30 out of range: there are 30 blocks in this model \(0\.\.29"):
        patch_sweep(smollm2, pairs, "resid_pre", [0, 30])
    with pytest.raises(WorkbenchError, match="block -31 out of range"):
        patch_sweep(smollm2, pairs, "resid_pre", -31)
    with pytest.raises(WorkbenchError, match=r"block must be an integer index, got True \(bool\)"):
        patch_sweep(smollm2, pairs, "resid_pre", [True])
    with pytest.raises(WorkbenchError, match="blocks must be 'all', a block index or a list of indices, got 'every'"):
        patch_sweep(smollm2, pairs, "resid_pre", "every")


def test_unknown_site(smollm2, pairs):
    with pytest.raises(WorkbenchError, match="unknown patch site 'resid_mid'.*resid_pre, resid_post, attn_out"):
        patch_sweep(smollm2, pairs, "resid_mid", [3])
    with pytest.raises(WorkbenchError, match="Did you mean 'attn_out'"):
        PatchConfig(site="attn_ou")


def test_missing_role(smollm2, pairs):
    with pytest.raises(WorkbenchError, match="role 'answer_first' is missing in the source run"):
        patch_sweep(smollm2, pairs, "resid_pre", [3], roles=("confidence_slot", "answer_first"))


def test_metric_of_a_vocabulary_the_run_did_not_store(smollm2, pairs):
    assert pairs.target.vocabulary.name == "percent"
    with pytest.raises(WorkbenchError, match="vocabulary 'percent'.*'A', 'E' not in it"):
        patch_sweep(smollm2, pairs, "resid_pre", [3], metric="logit_diff", levels=("A", "E"))
    with pytest.raises(WorkbenchError, match="unknown metric 'entropy'"):
        patch_sweep(smollm2, pairs, "resid_pre", [3], metric="entropy")


def test_run_of_another_model(tiny_checkpoint, pairs):
    from workbench.backends import load_model

    tiny = load_model(str(tiny_checkpoint), backend="nnsight", device="cpu")
    with pytest.raises(WorkbenchError, match="collected with model 'smollm2-135m-instruct'.*given is 'tiny-llama'"):
        patch_sweep(tiny, pairs, "resid_pre", [0])


def test_cross_model_architectures_must_match(smollm2, tiny_checkpoint):
    from workbench.backends import load_model

    tiny = load_model(str(tiny_checkpoint), backend="nnsight", device="cpu")
    with pytest.raises(WorkbenchError, match="same architecture and tokenizer.*n_layers 2 vs 30.*d_model 64 vs 576"):
        check_same_architecture(tiny, smollm2)
    check_same_architecture(smollm2, smollm2)  # the same model passes
