"""Batched incremental decoding over a backend: a left-padded batch that grows one chunk at a time.

Rows are left-padded, tokens a row does not use are masked out (holes), and each row's rotary position
counts only its own real tokens, so a batch gives the same numbers as one row at a time. The attention mask is
built here from those positions, not left to transformers: its sliding windows count cache slots, holes
included, so a row with a hole (a finished answer, the padding after a shared prefix) would see fewer tokens.

Two exact shortcuts (``fast=True``, the default; ``fast=False`` runs the plain path they are tested against):
the token prefix that every row of a batch shares (the few-shot template) is run once and its keys/values
are repeated for every row, and a forward whose caller reads only the last position unembeds only that
position (on a 152k vocabulary the unembedding of a 100-token prompt costs ~14 GFLOP a row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from transformers import DynamicCache

from workbench.architectures import architecture
from workbench.token_tree import TokenTree, common_prefix


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, left: bool) -> tuple[Tensor, Tensor]:
    """ids [batch, width] padded on the left or right, and the mask of real tokens."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    real = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(list(row), dtype=torch.long)
        real[i, span] = 1
    return ids, real


class DecodeState:
    """The key/value cache of a batch and its mask of real (not padding, not hole) cached tokens; ``backend`` is a
    ``Backend`` (not imported here: ``Backend.confidence`` runs on this module)."""

    def __init__(self, backend: Any, pad_id: int, *, fast: bool = True):
        self.backend = backend
        self.pad_id = pad_id
        self.fast = fast
        self.cache = None
        self.mask = torch.zeros(0, 0, dtype=torch.long)  # [batch, cached]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    def prefill(self, rows: Sequence[Sequence[int]], *, cache: Sequence[str] = (),
                positions: Sequence[Sequence[int]] | None = None) -> Any:
        """Start from ``rows``; ``cache`` hook points are read at ``positions`` (indices in each row). Only the last
        position's logits are kept when ``fast`` (callers read ``logits[:, -1]``)."""
        self.cache, self.mask = None, torch.zeros(len(rows), 0, dtype=torch.long)
        shared = shared_prefix_length(rows, positions) if self.fast else 0
        if shared:  # the rows' common prefix once, its keys/values repeated for every row
            prefix = torch.tensor([list(rows[0][:shared])], dtype=torch.long)
            self.cache = self.backend.run(prefix, past_key_values=DynamicCache(), logits_to_keep=1).past_key_values
            self.cache.batch_repeat_interleave(len(rows))
            self.mask = torch.ones(len(rows), shared, dtype=torch.long)
            rows = [r[shared:] for r in rows]
            positions = None if positions is None else [[p - shared for p in pos] for pos in positions]
        ids, real = pad_rows(rows, self.pad_id, left=True)
        padded = None
        if positions is not None:
            padded = torch.tensor([[ids.shape[1] - len(r) + p for p in pos] for r, pos in zip(rows, positions)])
        return self.extend(ids, real, cache=cache, cache_positions=padded, last_logits_only=True)

    def extend(self, ids: Tensor, real: Tensor, *, cache: Sequence[str] = (),
               cache_positions: Tensor | None = None, last_logits_only: bool = False,
               patches: Sequence[Any] = ()) -> Any:
        """Append ids [batch, n] whose ``real`` [batch, n] entries are 1 (0 = hole, masked for later tokens);
        ``last_logits_only``: the caller reads ``logits[:, -1]`` only (unembedded alone when ``fast``); ``patches``
        index positions within the appended ids, and what they change stays in the cache."""
        if self.cache is None:  # full-length layers, also for sliding-window models (their masks keep the window)
            self.cache, self.mask = DynamicCache(), torch.zeros(len(ids), 0, dtype=torch.long)
        real = real.long()
        position_ids = (self.mask.sum(1, keepdim=True) + real.cumsum(1) - 1).clamp(min=0)
        mask = torch.cat([self.mask, real], dim=1)
        n, past = ids.shape[1], self.length
        # Query j sees the real keys up to itself, and itself (a padding query then stays finite, and unread).
        causal = torch.ones(n, past + n, dtype=torch.bool).tril(past)
        itself = torch.cat([torch.zeros(n, past, dtype=torch.bool), torch.eye(n, dtype=torch.bool)], dim=1)
        allowed = (causal & mask.bool()[:, None, :]) | itself
        key_pos = (mask.cumsum(1) - 1).clamp(min=0)  # holes take their neighbour's position (masked)
        out = self.backend.run(ids, attention_mask=self._additive(allowed, position_ids, key_pos),
                               position_ids=position_ids.to(self.backend.device), past_key_values=self.cache,
                               cache=cache, cache_positions=cache_positions, patches=patches,
                               logits_to_keep=1 if self.fast and last_logits_only else None)
        self.cache, self.mask = out.past_key_values, mask
        return out

    def repeat(self, k: int) -> None:
        """Repeat every row ``k`` times in place (row i becomes rows i*k .. i*k+k-1), cache and mask alike."""
        self.cache.batch_repeat_interleave(k)
        self.mask = self.mask.repeat_interleave(k, dim=0)

    def truncate(self, length: int) -> None:
        """Forget every cached token after the first ``length``."""
        extra = self.length - length
        if extra > 0:
            self.cache.crop(-extra)  # transformers 5 takes the number of tokens to remove, as a negative count
            self.mask = self.mask[:, :length]

    def score_tree(self, tree: TokenTree) -> Tensor:
        """Log-probs [batch, n_nodes, d_vocab] after each node of ``tree`` appended to every row (attending to the
        cache's real tokens and its ancestors only), leaving the cache as it was."""
        # Key positions: each row's real cached tokens count from 0 (holes take their neighbour's; masked).
        query_pos = tree.positions(self.mask.sum(1))  # [batch, n_nodes]
        key_pos = torch.cat([(self.mask.cumsum(1) - 1).clamp(min=0), query_pos], 1)
        out = self.backend.run(tree.tokens.expand(len(self.mask), -1),
                               attention_mask=self._additive(tree.sees(self.mask), query_pos, key_pos),
                               position_ids=query_pos.to(self.backend.device), past_key_values=self.cache)
        self.cache = out.past_key_values
        self.cache.crop(-len(tree))
        return out.logits.float().log_softmax(-1)

    def _additive(self, allowed: Tensor, query_pos: Tensor, key_pos: Tensor) -> Tensor | dict[str, Tensor]:
        """The model's attention mask from allowed [batch, query, key] and positions (sliding windows by position)."""
        hf = self.backend.hf_model
        additive = architecture(hf).forward_mask(hf.config, allowed, query_pos, key_pos, self.backend.dtype)
        if isinstance(additive, Tensor):
            return additive.to(self.backend.device)
        return {kind: m.to(self.backend.device) for kind, m in additive.items()}


def shared_prefix_length(rows: Sequence[Sequence[int]], positions: Sequence[Sequence[int]] | None = None,
                         minimum: int = 8) -> int:
    """Length of the token prefix common to every row, ending before any position to read and before each
    row's last token (every row keeps a token to run); 0 when shorter than ``minimum`` (not worth a call)."""
    if len(rows) < 2:
        return 0
    reads = [p for pos in positions for p in pos] if positions is not None else []
    length = common_prefix(rows, min([len(r) - 1 for r in rows] + reads))
    return length if length >= minimum else 0


def greedy_decode(state: DecodeState, first_logits: Tensor, max_new_tokens: int, is_stop: Callable[[int], bool],
                  *, cache: Sequence[str] = (), pick: Callable[[Tensor], Tensor] | None = None,
                  ) -> tuple[list[list[int]], list[list[float]], dict[str, Tensor]]:
    """Greedy tokens per row from first_logits [batch, d_vocab] until ``is_stop(token)`` (stop tokens are neither
    fed nor returned); ``pick`` replaces the argmax (log-probs [batch, d_vocab] -> ids [batch], e.g. sampling).
    Returns the tokens, their log-probs and, for hook points in ``cache``, the activation [batch, d_model] at each
    row's last fed token (absent when no row fed a token)."""
    batch = first_logits.shape[0]
    tokens: list[list[int]] = [[] for _ in range(batch)]
    logprobs: list[list[float]] = [[] for _ in range(batch)]
    last: dict[str, Tensor] = {}
    active = torch.ones(batch, dtype=torch.bool)
    logits = first_logits
    for _ in range(max_new_tokens):
        logp = logits.float().log_softmax(-1).cpu()
        choice = logp.argmax(-1) if pick is None else pick(logp)
        active &= torch.tensor([not is_stop(int(c)) for c in choice])
        if not active.any():
            break
        for i in torch.nonzero(active).flatten().tolist():
            tokens[i].append(int(choice[i]))
            logprobs[i].append(float(logp[i, choice[i]]))
        ids = torch.where(active, choice, torch.full_like(choice, state.pad_id))[:, None]
        out = state.extend(ids, active[:, None], cache=cache, cache_positions=torch.zeros(batch, 1, dtype=torch.long))
        for name, act in out.activations.items():
            act = act[:, 0].cpu()
            last[name] = torch.where(active[:, None], act, last.get(name, act))
        logits = out.logits[:, -1]
    return tokens, logprobs, last
