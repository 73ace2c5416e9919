"""The exact confidence of any forward pass: the distribution over the confidence vocabulary at the last token.

``Confidence`` holds the probabilities [batch, n_strings] and derives every read-out from them the way a
run's records do (``softmax_expected``, ``argmax_confidence``, ``entropy``, ``vocab_mass``), so
``model.confidence(run.prompt_ids(i)).expected`` is the run's ``softmax_expected`` for example i.
``confidence_of`` scores exactly as collect does: the slot's next-token distribution, then one trie pass over
the key/value cache for the strings that span several tokens (``elicit.scoring``); patches apply to the
forward pass, so the trie sees the patched keys and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from transformers import DynamicCache

from workbench.elicit.decoding import DecodeState
from workbench.elicit.scoring import VocabularyTrie, score_vocabulary
from workbench.errors import WorkbenchError
from workbench.prompts.vocabulary import ConfidenceVocabulary, get_vocabulary


@dataclass(frozen=True)
class Confidence:
    """Exact probabilities of each confidence string (not renormalised: ``mass`` is the vocabulary's share of the
    next-token distribution); the other read-outs renormalise over the vocabulary, on its scale (0-100: percent)."""

    probs: np.ndarray  # [batch, n_strings]
    vocabulary: ConfidenceVocabulary

    def __repr__(self) -> str:
        shown = ", ".join(f"{e:.1f}" for e in self.expected[:4]) + (", ..." if len(self.expected) > 4 else "")
        return f"Confidence(vocabulary={self.vocabulary.name!r}, batch={len(self.probs)}, expected=[{shown}])"

    @property
    def values(self) -> np.ndarray:
        """[n_strings] the value each string stands for."""
        return np.asarray(self.vocabulary.values, dtype=float)

    @property
    def strings(self) -> tuple[str, ...]:
        return self.vocabulary.strings

    @property
    def mass(self) -> np.ndarray:
        """[batch] total probability of the vocabulary (the run's ``vocab_mass``)."""
        return self.probs.sum(axis=1)

    @property
    def normalised(self) -> np.ndarray:
        """[batch, n_strings] the distribution renormalised over the vocabulary (uniform where mass is 0)."""
        mass = self.mass[:, None]
        uniform = np.full_like(self.probs, 1 / self.probs.shape[1])
        return np.where(mass > 0, self.probs / np.where(mass > 0, mass, 1), uniform)

    @property
    def expected(self) -> np.ndarray:
        """[batch] expected value (the run's ``softmax_expected``)."""
        return self.normalised @ self.values

    @property
    def argmax(self) -> np.ndarray:
        """[batch] value of the most probable string (the run's ``argmax_confidence``)."""
        return self.values[self.probs.argmax(axis=1)]

    @property
    def entropy(self) -> np.ndarray:
        """[batch] entropy in nats of the renormalised distribution (the run's ``entropy``)."""
        q = self.normalised
        return -(q * np.log(np.clip(q, 1e-30, None))).sum(axis=1)


@torch.no_grad()
def confidence_of(backend: Any, input_ids: Any, *, vocabulary: str | ConfidenceVocabulary = "percent",
                  patches: Sequence[Any] = (), attention_mask: Tensor | None = None) -> Confidence:
    """The exact ``Confidence`` after each row of ``input_ids`` [batch, pos] (rows end at their confidence slot)."""
    vocab = get_vocabulary(vocabulary)
    ids = backend.token_ids(input_ids)  # [batch, pos] long, checked against the model's vocabulary
    trie = VocabularyTrie.build(backend.tokenizer, vocab)
    state = DecodeState(backend, pad_id=0)
    full = DynamicCache()  # full-length layers: a sliding-window model's own cache drops what the trie attends to
    if attention_mask is None:  # one plain forward, as the reference patching path runs it
        real = torch.ones_like(ids)
        out = backend.run(ids, patches=patches, past_key_values=full)
    else:
        real = torch.as_tensor(attention_mask).long()
        if real.shape != ids.shape:
            raise WorkbenchError(f"attention_mask must match input_ids {tuple(ids.shape)}, got {tuple(real.shape)}")
        if not bool(real[:, -1].all()):
            raise WorkbenchError("the confidence is read at each row's last token, so pad on the left "
                                 "(attention_mask must be 1 in the last column)")
        position_ids = (real.cumsum(1) - 1).clamp(min=0)
        out = backend.run(ids, attention_mask=real.to(backend.device), position_ids=position_ids.to(backend.device),
                          patches=patches, past_key_values=full)
    state.cache, state.mask = out.past_key_values, real
    return Confidence(score_vocabulary(state, trie, out.logits[:, -1]), vocab)
