"""The read-out head read alone from a checkpoint, and the one layer selection (tiny local checkpoints)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.backends.readout import ReadoutHead
from workbench.errors import WorkbenchError
from workbench.layer_selection import parse_layers, select_layers


@pytest.mark.parametrize("row", ["llama", "gemma3_text"])
@pytest.mark.parametrize("tied", [True, False])
def test_head_from_checkpoint_equals_the_models_own(row, tied, make_tiny, tmp_path):
    model = make_tiny(row)
    model.config.tie_word_embeddings = tied
    if not tied:  # an untied head of its own
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    model.save_pretrained(tmp_path)
    resid = torch.randn(5, model.config.hidden_size)
    alone = ReadoutHead.from_checkpoint(tmp_path).log_probs(resid)
    with torch.no_grad():
        norm = model.model.norm(resid)
        logits = model.lm_head(norm)
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
    expected = logits.float().log_softmax(-1).numpy()
    assert np.abs(alone - expected).max() <= 1e-5
    assert np.abs(ReadoutHead.from_model(model).log_probs(resid) - expected).max() <= 1e-5


def test_head_needs_safetensors(tmp_path):
    with pytest.raises(WorkbenchError, match="no .safetensors"):
        ReadoutHead.from_checkpoint(tmp_path)


def test_layer_selection_counts_negatives_from_the_end_and_refuses_out_of_range():
    assert select_layers("all", 4) == (0, 1, 2, 3)
    assert select_layers([-1, 0, 3], 4) == (0, 3)
    assert select_layers(2, 4) == (2,)
    with pytest.raises(WorkbenchError, match=r"block 45 out of range: there are 30 blocks in this model \(0\.\.29"):
        select_layers([45], 30)
    with pytest.raises(WorkbenchError, match="out of range"):
        select_layers([-31], 30)
    with pytest.raises(WorkbenchError, match="no blocks"):
        select_layers([], 30)
    assert parse_layers("0,4,-1") == (0, 4, -1) and parse_layers("10-12") == (10, 11, 12)
    assert parse_layers("all") == "all"
    with pytest.raises(WorkbenchError, match="blocks or read-outs are 'all', an index"):
        parse_layers("x")


def test_patch_sweep_refuses_a_layer_beyond_the_model(row_backends):
    from workbench.analyses.patching.sweep import patch_sweep

    n = row_backends("llama")["nnsight"].n_layers
    with pytest.raises(WorkbenchError, match=f"blocks in this model \\(0..{n - 1}"):
        patch_sweep(row_backends("llama")["nnsight"], None, "resid_pre", [n + 43])
