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


@pytest.mark.parametrize("site", ["resid_pre", "mlp_out"])
def test_refined_attribution_is_exact_when_it_never_converges_and_linear_first(smollm2, smollm2_run, site, monkeypatch):
    """With ``tolerance``, a patch that never converges runs every block from its layer and is the exact effect;
    a patch at the last block is always exact; a patch that converges at once keeps the estimate after one block."""
    from workbench.analyses.patching.sources import source_activations

    pairs = random_pairs(smollm2_run, n_pairs=3, seed=2)
    layers, vocab = (0, 9, 29), smollm2_run.vocabulary
    trie = VocabularyTrie.build(smollm2.tokenizer, vocab)
    values, _ = source_activations(pairs, site, layers, "confidence_slot", smollm2)
    job = make_job(pairs, site, layers, "confidence_slot", values, trie)
    exact = fast.run_fast(smollm2, job)
    shift = expected(exact.patched, vocab) - expected(exact.clean, vocab)[list(job.target_of_pair)][:, None]
    spec = MetricSpec.resolve("shift", vocab)
    linear = attribution.attribute(smollm2, job, spec, vocab)
    assert np.abs(shift).max() > 1e-3 and not np.allclose(linear[:, :2], shift[:, :2], atol=1e-4)
    loose = attribution.attribute(smollm2, job, spec, vocab, tolerance=1e9)  # every patch stops after one block
    assert np.allclose(loose[:, 2], shift[:, 2], atol=1e-5)  # the last block: exact
    assert not np.allclose(loose[:, :2], linear[:, :2], atol=1e-6)  # one block exact, then linear
    monkeypatch.setattr(attribution, "ATOL", 0.0)
    refined = attribution.attribute(smollm2, job, spec, vocab, tolerance=0.0)
    assert np.allclose(refined, shift, atol=1e-5)
