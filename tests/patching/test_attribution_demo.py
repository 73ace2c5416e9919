"""Attribution patching is the exact effect's first-order term."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.analyses.patching import attribution, fast, random_pairs
from workbench.analyses.patching.metrics import MetricSpec, expected
from workbench.analyses.patching.sweep import make_job
from workbench.backends.base import hook_name
from workbench.elicit.scoring import VocabularyTrie
from workbench.errors import WorkbenchError



@pytest.mark.parametrize("site", ["resid_pre", "attn_out"])
def test_attribution_matches_exact_effect_of_a_small_patch(smollm2, smollm2_run, site):
    """A patch of 0.5% of the activation's norm is in the linear regime: estimate ~ exact shift."""
    pairs = random_pairs(smollm2_run, n_pairs=2, seed=1)
    layers = (4, 18)
    vocab = smollm2_run.vocabulary
    trie = VocabularyTrie.build(smollm2.tokenizer, vocab)
    _, target_pos = pairs.positions("confidence_slot")
    records = smollm2_run.records.set_index("example_id")
    clean = []
    for target, pos in zip(pairs.table["target_id"], target_pos):
        out = smollm2.run(torch.tensor([records.loc[target, "input_ids"]]), cache=[hook_name(l, site) for l in layers],
                          cache_positions=torch.tensor([[pos]]))
        clean.append(torch.stack([out.activations[hook_name(l, site)][0, 0] for l in layers]))
    clean = torch.stack(clean)  # [pairs, layers, d_model]
    direction = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    delta = 0.005 * direction / direction.norm(dim=-1, keepdim=True) * clean.norm(dim=-1, keepdim=True)
    job = make_job(pairs, site, layers, "confidence_slot", clean + delta, trie)
    exact = fast.run_fast(smollm2, job)
    shift = expected(exact.patched, vocab) - expected(exact.clean, vocab)[list(job.target_of_pair)][:, None]
    estimate = attribution.attribute(smollm2, job, MetricSpec.resolve("shift", vocab), vocab)
    assert estimate.shape == shift.shape == (2, 2)
    assert np.abs(shift).max() > 1e-4  # a measurable effect
    assert np.allclose(estimate, shift, rtol=0.1, atol=1e-5)


def test_attribution_refuses_kl(smollm2, smollm2_run):
    pairs = random_pairs(smollm2_run, n_pairs=1)
    trie = VocabularyTrie.build(smollm2.tokenizer, smollm2_run.vocabulary)
    job = make_job(pairs, "resid_pre", (0,), "confidence_slot", torch.zeros(1, 1, smollm2.d_model), trie)
    with pytest.raises(WorkbenchError, match="no linear estimate of 'kl'"):
        attribution.attribute(smollm2, job, MetricSpec.resolve("kl", smollm2_run.vocabulary), smollm2_run.vocabulary)
