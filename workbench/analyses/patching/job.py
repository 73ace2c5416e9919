"""What one patching computation is asked (``PatchJob``) and what it answers (``PatchOutcome``).

The reference path and the fast path take the same job and must give the same outcome: for every
(pair, layer), the exact probabilities of the confidence vocabulary at the target's confidence slot
when the source's activation is written at ``blocks.{layer}.hook_{site}`` at the target's patched position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.elicit.scoring import VocabularyTrie
from workbench.errors import WorkbenchError

PATCH_SITES: tuple[str, ...] = ("resid_pre", "resid_post", "attn_out", "mlp_out")


@dataclass(frozen=True)
class PatchJob:
    """Targets (each once), which target each pair patches, where, and the source values per layer.

    ``targets`` are full token sequences ending at the confidence slot; ``positions[t]`` is the patched token
    of target t; ``answer_spans[t] = (start, stop)``: positions start..stop-1 predict the answer's tokens
    (used to tell whether a patch would change the answer; empty when start == stop).
    """

    site: str
    layers: tuple[int, ...]
    targets: tuple[tuple[int, ...], ...]
    positions: tuple[int, ...]  # [n_targets]
    answer_spans: tuple[tuple[int, int], ...]  # [n_targets]
    target_of_pair: tuple[int, ...]  # [n_pairs] index into targets
    values: Tensor  # [n_pairs, n_layers_selected, d_model]
    trie: VocabularyTrie

    def __post_init__(self) -> None:
        if self.site not in PATCH_SITES:
            raise WorkbenchError(f"unknown patch site {self.site!r}: choose one of {', '.join(PATCH_SITES)}")
        n_pairs, n_layers = len(self.target_of_pair), len(self.layers)
        if tuple(self.values.shape[:2]) != (n_pairs, n_layers):
            raise ValueError(f"values {tuple(self.values.shape)} do not match {n_pairs} pairs x {n_layers} layers")
        for t, (ids, pos) in enumerate(zip(self.targets, self.positions)):
            if not 0 <= pos < len(ids):
                raise WorkbenchError(f"target {t}: patched position {pos} outside its {len(ids)} tokens")

    @property
    def n_pairs(self) -> int:
        return len(self.target_of_pair)


@dataclass(frozen=True)
class PatchOutcome:
    """Patched and clean vocabulary probabilities, and whether each patch left the greedy answer as it was."""

    patched: np.ndarray  # [n_pairs, n_layers_selected, n_strings]
    clean: np.ndarray  # [n_targets, n_strings] unpatched target
    answer_unchanged: np.ndarray  # [n_pairs, n_layers_selected] bool
    method: str  # "fast" | "reference"


def compact_trie(trie: VocabularyTrie) -> tuple[Tensor, VocabularyTrie]:
    """The token ids the trie reads [k], and the same trie over their indices 0..k-1.

    Scoring then needs each row's log-probs at k columns only (the normaliser still spans the vocabulary).
    """
    columns = sorted({t for ids in trie.token_ids for t in ids})
    index = {t: i for i, t in enumerate(columns)}

    def remap(rows: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(index[t] for t in ids) for ids in rows)

    return torch.tensor(columns), VocabularyTrie(remap(trie.token_ids), remap(trie.nodes), trie.parents)
