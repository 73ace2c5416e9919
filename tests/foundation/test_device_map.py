"""A model split by a ``device_map`` (accelerate's hooks: blocks on the CPU and offloaded to disk) collects and
patches exactly as the same model in one piece; a map that leaves a block on no device is refused, naming it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import WorkbenchError

SPLIT = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "cpu",
         "model.layers.3": "disk", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}


def test_a_split_model_collects_and_fast_patches_as_the_whole_one(tiny4_checkpoint, tmp_path):
    from workbench.analyses.patching import fast
    from workbench.analyses.patching.pairs import PairSet
    from workbench.analyses.patching.sources import source_activations
    from workbench.analyses.patching.sweep import make_job
    from workbench.elicit.scoring import VocabularyTrie

    whole = wb.load_model(str(tiny4_checkpoint), device="cpu", progress=False)
    split = wb.load_model(str(tiny4_checkpoint), progress=False, device_map=SPLIT, offload_folder=str(tmp_path / "off"))
    offloaded = split.hf_model.model.layers[1]
    assert hasattr(offloaded, "_hf_hook") and offloaded.mlp.up_proj.weight.device.type == "meta"  # only hooks run it
    kwargs = dict(model=str(tiny4_checkpoint), dataset="capitals", limit=4, batch_size=2, max_answer_tokens=4,
                  progress=False)
    runs = [wb.collect(out=tmp_path / name, loaded=model, **kwargs) for name, model in (("a", whole), ("b", split))]
    for readout in range(5):
        np.testing.assert_array_equal(runs[0].residuals(readout), runs[1].residuals(readout))
    np.testing.assert_array_equal(runs[0].confidence_probs(), runs[1].confidence_probs())

    table = pd.DataFrame({"pair_id": [0, 1, 2], "source_id": [0, 1, 2], "target_id": [3, 2, 1],
                          "source_item": runs[0].records["item_id"][[0, 1, 2]].to_numpy(),
                          "target_item": runs[0].records["item_id"][[3, 2, 1]].to_numpy()})
    pairs = PairSet(kind="random", source=runs[0], target=runs[0], table=table, seed=0)
    trie = VocabularyTrie.build(whole.tokenizer, runs[0].vocabulary)
    values, _ = source_activations(pairs, "resid_pre", (0, 1, 2, 3), "confidence_slot", whole)
    job = make_job(pairs, "resid_pre", (0, 1, 2, 3), "confidence_slot", values, trie)
    a, b = fast.run_fast(whole, job), fast.run_fast(split, job)
    np.testing.assert_array_equal(a.patched, b.patched)
    np.testing.assert_array_equal(a.answer_unchanged, b.answer_unchanged)
    assert np.abs(a.patched - a.clean[list(job.target_of_pair)][:, None]).max() > 0  # the patches moved something


def test_a_block_on_no_device_is_refused_naming_it(tiny4_checkpoint, tmp_path):
    partial = {k: v for k, v in SPLIT.items() if k != "model.layers.2"}
    with pytest.raises(WorkbenchError, match=r"device_map places no device for block\(s\) model\.layers\.2: give"):
        wb.load_model(str(tiny4_checkpoint), progress=False, device_map=partial, offload_folder=str(tmp_path))
