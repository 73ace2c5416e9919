"""Exact probabilities of the confidence vocabulary, including strings that span several tokens.

P(s) = product of s's token probabilities x P(no longer vocabulary string continues s), so that the
vocabulary is read as prefix-free ("8" means "8" and not the start of "87"). Only the trie's internal nodes
need a forward pass, all in one batched call with a tree attention mask over the key/value cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.elicit.decoding import DecodeState
from workbench.errors import WorkbenchError
from workbench.prompts.render import encode
from workbench.prompts.vocabulary import ConfidenceVocabulary
from workbench.token_tree import TokenTree


@dataclass(frozen=True)
class VocabularyTrie:
    """Token ids of each vocabulary string, and the internal trie nodes that need a forward pass."""

    token_ids: tuple[tuple[int, ...], ...]  # per string
    nodes: tuple[tuple[int, ...], ...]  # token prefixes that a longer string continues (forward-pass inputs)
    parents: tuple[int, ...]  # index of each node's parent in nodes, -1 for a root

    @classmethod
    def build(cls, tokenizer: Any, vocabulary: ConfidenceVocabulary) -> "VocabularyTrie":
        token_ids = tuple(tuple(encode(tokenizer, s)) for s in vocabulary.strings)
        if any(not ids for ids in token_ids) or len(set(token_ids)) != len(token_ids):
            raise WorkbenchError(f"vocabulary {vocabulary.name!r} does not tokenize to distinct non-empty ids")
        prefixes = {ids[:k] for ids in token_ids for k in range(1, len(ids))}
        # A node needs a pass when a longer string continues it (for its children and its end probability).
        nodes = sorted(p for p in prefixes | set(token_ids) if any(len(o) > len(p) and o[: len(p)] == p for o in token_ids))
        nodes = sorted(set(nodes) | {n[:k] for n in nodes for k in range(1, len(n))}, key=lambda n: (len(n), n))
        index = {n: i for i, n in enumerate(nodes)}
        parents = tuple(index[n[:-1]] if len(n) > 1 else -1 for n in nodes)
        return cls(token_ids, tuple(nodes), parents)

    def log_probs(self, slot_logp: Tensor, node_logp: Tensor) -> Tensor:
        """Vocabulary log-probs [batch, n_strings] from the slot's [batch, d_vocab] and nodes' [batch, n_nodes, d_vocab]."""
        index = {n: i for i, n in enumerate(self.nodes)}
        out = []
        for ids in self.token_ids:
            total = slot_logp[:, ids[0]].clone()
            for k in range(1, len(ids)):
                total += node_logp[:, index[ids[:k]], ids[k]]
            if ids in index:  # the probability that the string ends here rather than growing into a longer one
                children = sorted({o[len(ids)] for o in self.token_ids if len(o) > len(ids) and o[: len(ids)] == ids})
                p_continue = node_logp[:, index[ids], children].exp().sum(-1).clamp(max=1.0)
                total += torch.log1p(-p_continue + 1e-12)
            out.append(total)
        return torch.stack(out, dim=1)


def score_vocabulary(state: DecodeState, trie: VocabularyTrie, slot_logits: Tensor) -> np.ndarray:
    """Probabilities [batch, n_strings] of each vocabulary string at the confidence slot."""
    slot_logp = slot_logits.float().log_softmax(-1).cpu()
    batch = slot_logp.shape[0]
    if trie.nodes:
        node_logp = state.score_tree(TokenTree.of(trie)).cpu()
    else:
        node_logp = torch.zeros(batch, 0, slot_logp.shape[-1])
    return trie.log_probs(slot_logp, node_logp).exp().numpy()
