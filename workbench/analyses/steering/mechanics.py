"""Steer a batch of stored examples: add vectors to the residual at the confidence slot, read the confidence.

Each example's prompt (everything before its confidence slot) is run once into a key/value cache; each
condition then runs only the slot token with an additive patch at one hook point, scores the confidence
vocabulary exactly over that cache (the trie, as collect does) and greedily decodes the confidence text,
then forgets the slot again. What the patch changed stays in the cache for the scoring and the decode.
"""

from __future__ import annotations

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
    """Holds the prompt cache of a batch of examples and reads the confidence under added vectors."""

    def __init__(self, backend: Backend, vocabulary: ConfidenceVocabulary, input_ids: Sequence[Sequence[int]]):
        tok = backend.tokenizer
        self.backend, self.vocabulary = backend, vocabulary
        self.trie = VocabularyTrie.build(tok, vocabulary)
        self.state = DecodeState(backend, tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        self.state.prefill([list(ids)[:-1] for ids in input_ids])  # the slot token is fed per condition
        self.prefix = self.state.length
        self.slot = torch.tensor([int(ids[-1]) for ids in input_ids])[:, None]  # [batch, 1]

    def read(self, hook: str | None = None, vectors: torch.Tensor | None = None) -> Readout:
        """The read-out with ``vectors`` [batch, d_model] added at ``hook`` on the slot (none: unsteered)."""
        batch = self.slot.shape[0]
        patches = () if hook is None else (Patch(hook, torch.zeros(batch, dtype=torch.long), vectors, mode="add"),)
        out = self.state.extend(self.slot, torch.ones_like(self.slot), patches=patches)
        logits = out.logits[:, -1]
        probs = score_vocabulary(self.state, self.trie, logits)
        tokens, _, _ = greedy_decode(self.state, logits, CONFIDENCE_TOKENS, lambda t: False)
        self.state.truncate(self.prefix)
        return Readout(probs, [self.backend.tokenizer.decode(t) for t in tokens])
