"""Token trees appended after rows of tokens, and the token prefix that rows share.

Decoding, the fast patch and the fine-tuning loss score the confidence vocabulary's trie in one forward: its
internal nodes follow each row as a tree, each node at position (row length + depth), attending to the row's real
tokens and its own ancestors only. Each also runs the prefix every row starts with (the chat template) once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


def common_prefix(rows: Sequence[Sequence[int]], limit: int | None = None) -> int:
    """Length of the token prefix every row starts with, at most ``limit`` (never below 0)."""
    n = max(0, min([len(r) for r in rows] + ([] if limit is None else [limit])))
    first = rows[0]
    for i in range(n):
        if any(r[i] != first[i] for r in rows):
            return i
    return n


@dataclass(frozen=True)
class TokenTree:
    """Nodes appended after a row: a root follows the row's last real token, a child its parent."""

    tokens: Tensor  # [n_nodes] long
    depth: Tensor  # [n_nodes] long, 0 for a root
    ancestors: Tensor  # [n_nodes, n_nodes] bool: [i, j] when node j is node i or one of its ancestors

    @classmethod
    def of(cls, trie: Any) -> "TokenTree":
        """The internal nodes of a ``VocabularyTrie`` (its ``nodes`` and ``parents``); None: no nodes."""
        nodes, parents = (trie.nodes, trie.parents) if trie is not None else ((), ())
        depth = torch.zeros(len(nodes), dtype=torch.long)
        ancestors = torch.eye(len(nodes), dtype=torch.bool)
        for i, parent in enumerate(parents):  # parents come before their children
            if parent >= 0:
                depth[i] = depth[parent] + 1
                ancestors[i] |= ancestors[parent]
        return cls(torch.tensor([n[-1] for n in nodes], dtype=torch.long), depth, ancestors)

    def __len__(self) -> int:
        return len(self.depth)

    def positions(self, lengths: Tensor) -> Tensor:
        """[batch, n_nodes] the nodes' positions after rows of ``lengths`` [batch] real tokens."""
        return lengths.reshape(-1, 1) + self.depth

    def sees(self, real: Tensor) -> Tensor:
        """[batch, n_nodes, keys + n_nodes] what the nodes attend to, appended after keys [batch, keys] whose
        real entries are nonzero: every real key, and the nodes that are their ancestors or themselves."""
        n = len(self)
        return torch.cat([real.bool()[:, None, :].expand(-1, n, -1), self.ancestors.expand(len(real), -1, -1)], 2)

    def after(self, seq: Tensor, real: Tensor) -> Tensor:
        """[batch, n + n_nodes, n + n_nodes] the pattern of n columns, ``seq`` [batch, n, n] among themselves (they
        see no node), followed by the tree (``sees(real)``, real [batch, n])."""
        unseen = torch.zeros(*seq.shape[:2], len(self), dtype=torch.bool)
        return torch.cat([torch.cat([seq, unseen], 2), self.sees(real)], 1)
