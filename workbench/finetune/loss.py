"""The differentiable read-outs fine-tuning optimises, each in one forward pass of a transformers model.

``vocabulary_logprobs``: the exact log-probability of every confidence string at the confidence slot,
multi-token strings included, as the workbench reads it (``workbench.elicit.scoring``): the trie's
internal nodes ("1", "10", ... for SmolLM2's digit tokens) are appended after each row's slot as a token
tree, each node attending to the prompt and its own ancestors only (a 4-d attention mask, positions by
depth). So one forward gives the slot's and every node's next-token distribution, and
``VocabularyTrie.log_probs`` turns them into P(string), prefix-free ("8" ends there, it is not "87"). For
the percent vocabulary on SmolLM2 this costs 10 extra tokens on a ~130-token row: exactness is nearly free,
so no single-token or first-digit approximation is needed.

``span_logprobs``: full next-token log-probabilities at the positions that predict the answer (for the
KL that keeps the answer).

Logits are computed only at the positions a loss reads (hidden states, then the output head on the
gathered rows), which keeps a batch's memory at [batch, pos, d_model] instead of [batch, pos, d_vocab].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from workbench.architectures import architecture, module_at
from workbench.elicit.scoring import VocabularyTrie
from workbench.token_tree import TokenTree, common_prefix


@dataclass(frozen=True)
class TreeBatch:
    """Rows that share a token prefix, each followed by the trie's node tokens, with the tree attention mask.

    The shared prefix (the chat template and few-shot instructions, most of every row) is run once per
    batch and its keys/values broadcast to every row, so a batch costs prefix + rows x suffix tokens, not
    rows x (prefix + suffix). Positions in ``lengths`` and in the spans passed to the read-outs are
    positions in the full rows; ``offset`` (the prefix length) converts them to suffix columns.
    """

    prefix: Tensor  # [offset] long, shared by every row
    ids: Tensor  # [batch, width] long, right-padded suffixes then nodes
    mask: Tensor  # [batch, 1, width, offset + width] additive (0 = attend)
    position_ids: Tensor  # [batch, width]
    lengths: Tensor  # [batch] tokens of each full row before its nodes; the slot is at lengths - 1
    n_nodes: int
    offset: int


def tree_batch(rows: Sequence[Sequence[int]], trie: VocabularyTrie | None, pad_id: int, *, read_from: int | None = None,
               dtype: torch.dtype = torch.float32) -> TreeBatch:
    """Rows followed by the trie's nodes (``trie=None`` appends nothing). The shared prefix stops before
    position ``read_from`` (the first position any loss reads) and before each row's last token."""
    tree = TokenTree.of(trie)
    k = len(tree)
    offset = common_prefix(rows, min([len(r) - 1 for r in rows] + ([] if read_from is None else [read_from])))
    lengths = torch.tensor([len(r) for r in rows])
    width = int(lengths.max()) - offset + k
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros(len(rows), width, dtype=torch.long)
    keep = torch.zeros(len(rows), width, offset + width, dtype=torch.bool)  # [batch, query, key]
    keep[:, :, :offset] = True
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    for i, row in enumerate(rows):
        n = len(row) - offset  # this row's suffix tokens
        ids[i, :n] = torch.tensor(list(row[offset:]), dtype=torch.long)
        ids[i, n:n + k] = tree.tokens
        position_ids[i, :n] = offset + torch.arange(n)
        position_ids[i, n:n + k] = len(row) + tree.depth
        cols = slice(offset, offset + width)
        keep[i, :n, cols] = causal[:n]
        keep[i, n:n + k, offset:offset + n + k] = tree.sees(torch.ones(1, n))[0]
        pad = torch.arange(n + k, width)
        keep[i, pad, offset + pad] = True  # padding attends to itself only, so no row of the mask is empty
    mask = torch.zeros(keep.shape, dtype=dtype).masked_fill(~keep, torch.finfo(dtype).min)[:, None]
    return TreeBatch(prefix=torch.tensor(list(rows[0][:offset]), dtype=torch.long), ids=ids, mask=mask,
                     position_ids=position_ids, lengths=lengths, n_nodes=k, offset=offset)


def _parts(model: Any) -> tuple[Any, Any, float | None, Any]:
    """(decoder stack, output head, final logit soft-cap, architecture row) of a causal LM, peft-wrapped or not,
    from the architecture table."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    row = architecture(base)
    stack = module_at(base, row.layers.rpartition(".")[0])
    return stack, module_at(base, row.unembed), row.final_softcap(base.config), row


def hidden_states(model: Any, batch: TreeBatch) -> Tensor:
    """[batch, width, d_model] last hidden states (after the final norm) of the suffix columns."""
    from transformers import DynamicCache

    decoder, _, _, row = _parts(model)
    first = next(model.parameters())
    device, n = first.device, len(batch.ids)
    # The tree mask, with sliding windows on the layers that have them (keys: the prefix, then the suffix).
    key_pos = torch.cat([torch.arange(batch.offset).expand(n, -1), batch.position_ids], 1)
    mask = row.forward_mask(decoder.config, batch.mask[:, 0] == 0, batch.position_ids, key_pos, first.dtype)
    mask = mask.to(device) if isinstance(mask, Tensor) else {kind: m.to(device) for kind, m in mask.items()}
    cache = None
    if batch.offset:  # a full-length cache (no sliding layers that drop keys: the masks keep the windows)
        out = decoder(input_ids=batch.prefix[None].to(device), use_cache=True, past_key_values=DynamicCache())
        layers = [(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
                  for layer in out.past_key_values.layers]
        cache = DynamicCache(layers)  # the prefix's keys/values, broadcast to every row (gradients flow back)
    out = decoder(input_ids=batch.ids.to(device), attention_mask=mask,
                  position_ids=batch.position_ids.to(device), past_key_values=cache, use_cache=cache is not None)
    return out.last_hidden_state


def head_logprobs(model: Any, hidden: Tensor) -> Tensor:
    """[..., d_vocab] float32 next-token log-probabilities of hidden states [..., d_model]."""
    _, head, cap, _ = _parts(model)
    logits = head(hidden).float()
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.log_softmax(-1)


def vocabulary_logprobs(model: Any, batch: TreeBatch, trie: VocabularyTrie, hidden: Tensor | None = None) -> Tensor:
    """[batch, n_strings] exact log P(string) at each row's confidence slot (differentiable)."""
    hidden = hidden_states(model, batch) if hidden is None else hidden
    rows = torch.arange(len(batch.lengths), device=hidden.device)
    ends = batch.lengths - batch.offset  # suffix column after each row's slot
    slot = head_logprobs(model, hidden[rows, (ends - 1).to(hidden.device)])  # [batch, d_vocab]
    if batch.n_nodes:
        cols = ends[:, None] + torch.arange(batch.n_nodes)  # [batch, K]
        nodes = head_logprobs(model, hidden[rows[:, None], cols.to(hidden.device)])  # [batch, K, d_vocab]
    else:
        nodes = slot.new_zeros(len(rows), 0, slot.shape[-1])
    return trie.log_probs(slot, nodes)


def span_logprobs(model: Any, batch: TreeBatch, hidden: Tensor, spans: Sequence[tuple[int, int]]) -> Tensor:
    """[sum of span lengths, d_vocab] next-token log-probs at full-row positions start..stop-1 of each row."""
    if min(a for a, _ in spans) < batch.offset:
        raise ValueError("a span starts inside the shared prefix; build the batch with read_from=")
    rows = torch.cat([torch.full((b - a,), i) for i, (a, b) in enumerate(spans)]).to(hidden.device)
    cols = torch.cat([torch.arange(a, b) for a, b in spans]).to(hidden.device) - batch.offset
    return head_logprobs(model, hidden[rows, cols])


def soft_cross_entropy(logp: Tensor, target: Tensor) -> Tensor:
    """[batch] cross-entropy -sum_s target(s) log P(s) of each row (unnormalised log P: it also pays for the
    probability of saying no vocabulary string at all)."""
    return -(target.to(logp.device) * logp.clamp(min=-1e4)).sum(-1)


def kl_divergence(base_logp: Tensor, logp: Tensor) -> Tensor:
    """[rows] KL(base || model) of next-token distributions [rows, d_vocab]."""
    base_logp = base_logp.float().to(logp.device)
    return (base_logp.exp() * (base_logp - logp)).sum(-1)
