"""Steer a batch of stored examples: add vectors to the residual at the confidence slot, read the confidence.

Each example's prompt (everything before its confidence slot) is run once into a key/value cache; each
condition then runs only the slot token with an additive patch at one hook point, scores the confidence
vocabulary exactly over that cache (the trie, as collect does) and greedily decodes the confidence text,
then forgets the slot again. What the patch changed stays in the cache for the scoring and the decode.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from workbench.backends.base import Backend, Patch
from workbench.elicit.decoding import DecodeState, greedy_decode
from workbench.elicit.readout import ElicitSettings
from workbench.elicit.scoring import VocabularyTrie, score_vocabulary
from workbench.prompts.vocabulary import ConfidenceVocabulary

CONFIDENCE_TOKENS = ElicitSettings.__dataclass_fields__["max_confidence_tokens"].default  # as collect decodes


@dataclass(frozen=True)
class Readout:
    """The confidence read-out of a batch under one condition."""

    probs: np.ndarray  # [batch, n_strings] exact probability of each vocabulary string
    texts: list[str]  # greedy confidence text per row


class SlotSteerer:
    """Holds the prompt cache of a batch of examples and reads the confidence under added vectors, running
    ``rows_per_forward // batch`` conditions (layer, direction, alpha) per forward on copies of that cache."""

    def __init__(self, backend: Backend, vocabulary: ConfidenceVocabulary, input_ids: Sequence[Sequence[int]], *,
                 rows_per_forward: int = 64):
        tok = backend.tokenizer
        self.backend, self.vocabulary, self.rows_per_forward = backend, vocabulary, rows_per_forward
        self.trie = VocabularyTrie.build(tok, vocabulary)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.prefix = DecodeState(backend, self.pad_id)
        self.prefix.prefill([list(ids)[:-1] for ids in input_ids])  # the slot token is fed per condition
        self.slot = torch.tensor([int(ids[-1]) for ids in input_ids])[:, None]  # [batch, 1]

    def read(self, hook: str | None = None, vectors: torch.Tensor | None = None) -> Readout:
        """The read-out with ``vectors`` [batch, d_model] added at ``hook`` on the slot (none: unsteered)."""
        return self.read_many([(hook, vectors)])[0]

    def read_many(self, conditions: Sequence[tuple[str | None, torch.Tensor | None]]) -> list[Readout]:
        """One read-out per (hook, vectors [batch, d_model]) condition; (None, None) is the unsteered one."""
        per_forward = max(1, self.rows_per_forward // self.slot.shape[0])
        out: list[Readout] = []
        for lo in range(0, len(conditions), per_forward):
            out.extend(self._read_group(conditions[lo:lo + per_forward]))
        return out

    def _read_group(self, group: Sequence[tuple[str | None, torch.Tensor | None]]) -> list[Readout]:
        n, batch = len(group), self.slot.shape[0]
        state = DecodeState(self.backend, self.pad_id)
        state.cache, state.mask = copy.deepcopy(self.prefix.cache), self.prefix.mask.clone()
        state.repeat(n)  # row i * n + j: example i under condition j
        by_hook: dict[str, list[tuple[int, torch.Tensor]]] = {}
        for j, (hook, vectors) in enumerate(group):
            if hook is not None:
                by_hook.setdefault(hook, []).append((j, vectors))
        patches = []
        for hook, items in by_hook.items():
            rows = torch.tensor([i * n + j for j, _ in items for i in range(batch)])
            values = torch.cat([vectors for _, vectors in items])  # [len(items) * batch, d_model], same order
            patches.append(Patch(hook, torch.zeros(len(rows), dtype=torch.long), values, rows=rows, mode="add"))
        slot = self.slot.repeat_interleave(n, dim=0)
        logits = state.extend(slot, torch.ones_like(slot), patches=patches).logits[:, -1]
        probs = score_vocabulary(state, self.trie, logits)  # [batch * n, n_strings]
        tokens, _, _ = greedy_decode(state, logits, CONFIDENCE_TOKENS, lambda t: False)
        texts = [self.backend.tokenizer.decode(t) for t in tokens]
        return [Readout(probs[j::n], texts[j::n]) for j in range(n)]
