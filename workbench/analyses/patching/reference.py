"""The reference path: one full forward of the target per (pair, layer), with one hook that patches.

Simple on purpose: it is the ground truth the fast path is tested against. Each patched forward goes
through ``Backend.run`` (TransformerLens hooks or an nnsight trace); the confidence vocabulary is then
scored on that forward's key/value cache, so multi-token strings see the patched run's keys and values
(a full-length cache, also for sliding-window models: the scoring masks keep the window).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from transformers import DynamicCache

from workbench.analyses.patching.job import PatchJob, PatchOutcome
from workbench.backends.base import Backend, Patch, RunOutput, hook_name
from workbench.elicit.decoding import DecodeState
from workbench.elicit.scoring import score_vocabulary


def _score(backend: Backend, job: PatchJob, out: RunOutput, length: int) -> np.ndarray:
    """Vocabulary probabilities [n_strings] at the last position, scored on this forward's cache."""
    state = DecodeState(backend, pad_id=0)
    state.cache, state.mask = out.past_key_values, torch.ones(1, length, dtype=torch.long)
    return score_vocabulary(state, job.trie, out.logits[:, -1])[0]


def _greedy(out: RunOutput, span: tuple[int, int]) -> torch.Tensor:
    """Greedy next tokens at the answer-predicting positions [stop - start]."""
    return out.logits[0, span[0]:span[1]].argmax(-1).cpu()


@torch.no_grad()
def run_reference(backend: Backend, job: PatchJob, *, progress: Callable[[int], None] | None = None) -> PatchOutcome:
    """Patched probabilities for every (pair, layer) of ``job``, one hooked forward each."""
    n_strings = len(job.trie.token_ids)
    clean = np.zeros((len(job.targets), n_strings))
    clean_greedy = []
    for t, ids in enumerate(job.targets):
        out = backend.run(torch.tensor([ids]), past_key_values=DynamicCache())
        clean[t] = _score(backend, job, out, len(ids))
        clean_greedy.append(_greedy(out, job.answer_spans[t]))
    patched = np.zeros((job.n_pairs, len(job.layers), n_strings))
    unchanged = np.ones((job.n_pairs, len(job.layers)), dtype=bool)
    for i, t in enumerate(job.target_of_pair):
        ids = torch.tensor([job.targets[t]])
        for k, layer in enumerate(job.layers):
            patch = Patch(hook_name(layer, job.site), positions=torch.tensor([job.positions[t]]),
                          values=job.values[i, k][None])
            out = backend.run(ids, patches=[patch], past_key_values=DynamicCache())
            patched[i, k] = _score(backend, job, out, ids.shape[1])
            unchanged[i, k] = bool(torch.equal(_greedy(out, job.answer_spans[t]), clean_greedy[t]))
        if progress is not None:
            progress(len(job.layers))
    return PatchOutcome(patched=patched, clean=clean, answer_unchanged=unchanged, method="reference")
