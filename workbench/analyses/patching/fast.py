"""The exact fast path: clean target states once, then only what a patch changes, batched across runs.

A patch at layer L and position p changes nothing before p, and nothing at p or after below L. So:

1. ``clean_targets``: one clean forward per target (batched, right-padded; the template prefix that every
   target shares is computed once). It keeps each layer's keys/values of the tokens before the patched
   position, and each layer's residual stream at the patched position and after, including the tokens
   of the confidence vocabulary's trie, appended as a tree (each node sees the sequence and its ancestors).
2. ``patch_step``: every (pair, layer) run restarts at its layer with its suffix (patched position ..
   confidence slot, then the trie nodes), attending to its target's cached prefix. Runs are sorted by start
   layer; at layer l the batch holds every run that started at or before l, so all runs finish in
   n_layers block calls. ``resid_pre`` at L restarts block L; ``attn_out``/``mlp_out``/``resid_post`` at L
   finish block L at the patched token only (the other tokens of block L do not see it) and restart at L + 1.

Exact: the blocks are the backend's own modules (``Stack``), with explicit positions and masks; it differs
from the reference forward only in the order of floating-point sums (~1e-6 on probabilities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from workbench.analyses.patching.job import PatchJob, PatchOutcome, tree_layout
from workbench.analyses.patching.layers import PrefixKV, Stack, additive_mask
from workbench.backends.base import Backend
from workbench.elicit.decoding import pad_rows

TOKEN_BUDGET = 12_288  # suffix tokens per patch-step batch (bounds memory; ~1 GB for a 135M model)
LOGIT_ROWS = 2_048  # rows per unembedding call (a row of logits is d_vocab floats)


@dataclass
class CleanTargets:
    """Clean states of each target, laid out as the runs that restart from them.

    Run columns: the target's tokens from the patched position to the confidence slot (left-aligned, padded
    to ``width``), then the trie nodes. ``resid[l]`` is block l's resid_pre there (l = n_layers: the last
    resid_post); ``keys[l]``/``values[l]`` cover positions 0..prefix-1 (a target uses those before its own
    patched position).
    """

    positions: Tensor  # [T] patched position
    lengths: Tensor  # [T] tokens in the sequence
    width: int  # sequence columns of a run (max over targets of length - position)
    resid: Tensor  # [n_layers + 1, T, width + n_nodes, d_model]
    resid_mid: Tensor  # [n_layers, T, d_model] resid_mid at the patched position
    keys: list[Tensor]  # per layer [T, kv_heads, prefix, head_dim]
    values: list[Tensor]
    vocab_probs: Tensor  # [T, n_strings]
    greedy: list[Tensor]  # per target, greedy next tokens at its answer span


def _common_prefix(rows: list[tuple[int, ...]]) -> int:
    first, n = rows[0], min(len(r) for r in rows)
    for i in range(n):
        if any(r[i] != first[i] for r in rows):
            return i
    return n


def vocab_probs(stack: Stack, job: PatchJob, final: Tensor, slot: Tensor, tree_cols: Tensor) -> Tensor:
    """Vocabulary probabilities [R, n_strings] from final resid_post [R, cols, d] at slot [R] and tree cols."""
    out = []
    rows = torch.arange(final.shape[0])
    step = max(1, LOGIT_ROWS // (1 + len(tree_cols)))
    for start in range(0, final.shape[0], step):
        r = rows[start:start + step]
        slot_lp = stack.log_probs(final[r, slot[r]]).cpu()  # [r, d_vocab]
        node_lp = stack.log_probs(final[r][:, tree_cols]).cpu() if len(tree_cols) else slot_lp[:, None, :0]
        out.append(job.trie.log_probs(slot_lp, node_lp).exp())
    return torch.cat(out)


@torch.no_grad()
def clean_targets(stack: Stack, job: PatchJob) -> CleanTargets:
    """One clean forward of every target and its trie tree, keeping what the runs restart from."""
    tree_tokens, depth, ancestors = tree_layout(job.trie)
    n_nodes, targets = len(tree_tokens), [list(t) for t in job.targets]
    positions = torch.tensor(job.positions)
    lengths = torch.tensor([len(t) for t in targets])
    shared = min(_common_prefix(job.targets), int(positions.min()), min(s for s, _ in job.answer_spans))
    prefix_keys = prefix_values = None
    if shared > 0:  # the template prefix every target starts with, computed once
        ids = torch.tensor([targets[0][:shared]])
        h = stack.embed(ids)
        rotary = stack.rotary(h, torch.arange(shared)[None])
        mask = additive_mask(torch.ones(shared, shared, dtype=torch.bool).tril()[None], stack.dtype)
        prefix_keys, prefix_values = [], []
        for layer in range(stack.n_layers):
            kv = PrefixKV(None, None)
            h = stack.block(layer, h, rotary, mask.to(stack.device), kv)
            prefix_keys.append(kv.new_keys)
            prefix_values.append(kv.new_values)
    n_targets = len(targets)
    rest, real = pad_rows([t[shared:] for t in targets], pad_id=0, left=False)  # [T, N - shared]
    n_rest = rest.shape[1]
    ids = torch.cat([rest, tree_tokens.expand(n_targets, -1)], dim=1)  # [T, Q]
    pos = torch.cat([shared + torch.arange(n_rest).expand(n_targets, -1), lengths[:, None] + depth], dim=1)
    q = torch.arange(n_rest)
    seq_seq = (q[None, :] <= q[:, None]).expand(n_targets, -1, -1)  # causal among the rest
    tree_seq = real.bool()[:, None, :].expand(-1, n_nodes, -1)  # trie nodes see every real token
    allowed = torch.cat([torch.cat([seq_seq, torch.zeros(n_targets, n_rest, n_nodes, dtype=torch.bool)], 2),
                         torch.cat([tree_seq, ancestors.expand(n_targets, -1, -1)], 2)], 1)
    allowed = torch.cat([torch.ones(n_targets, ids.shape[1], shared, dtype=torch.bool), allowed], 2)
    mask = additive_mask(allowed, stack.dtype).to(stack.device)
    # Gather index of each target's run columns among the rest columns.
    width = int((lengths - positions).max())
    seq_cols = (positions[:, None] - shared + torch.arange(width)).minimum(lengths[:, None] - shared - 1)
    cols = torch.cat([seq_cols, n_rest + torch.arange(n_nodes).expand(n_targets, -1)], dim=1)  # [T, width+nodes]
    gather = cols[:, :, None].expand(-1, -1, stack.backend.d_model).to(stack.device)
    prefix = int(positions.max())
    h = stack.embed(ids)
    rotary = stack.rotary(h, pos)
    resid, resid_mid, keys, values = [], [], [], []
    at_patch = (positions - shared).to(stack.device)
    rows = torch.arange(n_targets, device=stack.device)
    for layer in range(stack.n_layers):
        resid.append(h.gather(1, gather))
        kv = PrefixKV(None if prefix_keys is None else prefix_keys[layer].expand(n_targets, -1, -1, -1),
                      None if prefix_values is None else prefix_values[layer].expand(n_targets, -1, -1, -1))
        mid = h + stack.attn_out(layer, h, rotary, mask, kv)
        resid_mid.append(mid[rows, at_patch])
        h = stack.finish_block(layer, mid)
        full_k = kv.new_keys if prefix_keys is None else torch.cat([kv.keys, kv.new_keys], dim=2)
        full_v = kv.new_values if prefix_values is None else torch.cat([kv.values, kv.new_values], dim=2)
        keys.append(full_k[:, :, :prefix].contiguous())
        values.append(full_v[:, :, :prefix].contiguous())
    resid.append(h.gather(1, gather))
    final = resid[-1]
    tree_cols = width + torch.arange(n_nodes)
    probs = vocab_probs(stack, job, final, (lengths - positions - 1), tree_cols)
    greedy = []
    for t, (start, stop) in enumerate(job.answer_spans):
        cols_t = torch.arange(start, stop) - shared
        greedy.append(stack.log_probs(h[t, cols_t.to(stack.device)]).argmax(-1).cpu())
    return CleanTargets(positions, lengths, width, torch.stack(resid), torch.stack(resid_mid), keys, values,
                        probs, greedy)


def _start(stack: Stack, job: PatchJob, clean: CleanTargets, target: Tensor, layer_index: Tensor,
           values: Tensor) -> tuple[Tensor, Tensor]:
    """Start layer [R] and suffix [R, cols, d_model] of each run, with the patch written at column 0."""
    layers = torch.tensor(job.layers)[layer_index]
    start = layers if job.site == "resid_pre" else layers + 1
    h = clean.resid[start, target].clone()  # [R, cols, d_model]
    if job.site == "attn_out":  # finish block L at the patched token from the patched attention output
        patched = torch.empty_like(values)
        for layer in layers.unique().tolist():
            rows = torch.nonzero(layers == layer).flatten()
            mid = clean.resid[layer, target[rows], 0] + values[rows]
            patched[rows] = stack.finish_block(layer, mid[:, None])[:, 0]
        values = patched
    elif job.site == "mlp_out":
        values = clean.resid_mid[layers, target] + values
    h[:, 0] = values
    return start, h


@torch.no_grad()
def patch_step(stack: Stack, job: PatchJob, clean: CleanTargets, pair: Tensor,
               layer_index: Tensor) -> tuple[Tensor, Tensor]:
    """Runs (pair[r], layer_index[r]), batched by layer: vocabulary probabilities [R, n_strings] and whether
    the greedy answer is unchanged [R] (trivially so when the patched token follows the answer)."""
    target = torch.tensor(job.target_of_pair)[pair]
    start, h = _start(stack, job, clean, target, layer_index, job.values[pair, layer_index].to(stack.dtype))
    order = torch.argsort(start, stable=True)
    target, start, h = target[order], start[order], h[order].to(stack.device)
    _, depth, ancestors = tree_layout(job.trie)
    n_runs, n_cols = h.shape[:2]
    width, n_nodes = clean.width, n_cols - clean.width
    p, n = clean.positions[target], clean.lengths[target]  # [R]
    col = torch.arange(width)
    pos = torch.cat([p[:, None] + col, n[:, None] + depth], dim=1)  # [R, cols]
    real = col[None, :] < (n - p)[:, None]  # [R, width] real sequence columns
    prefix = clean.keys[0].shape[2]
    see_prefix = (torch.arange(prefix)[None, :] < p[:, None])[:, None, :].expand(-1, n_cols, -1)
    seq_seq = (col[None, :] <= col[:, None])[None] & real[:, None, :]
    allowed = torch.cat([
        see_prefix,
        torch.cat([torch.cat([seq_seq, torch.zeros(n_runs, width, n_nodes, dtype=torch.bool)], 2),
                   torch.cat([real[:, None, :].expand(-1, n_nodes, -1), ancestors.expand(n_runs, -1, -1)], 2)], 1),
    ], dim=2)  # [R, cols, prefix + cols]
    mask = additive_mask(allowed, stack.dtype).to(stack.device)
    cos, sin = stack.rotary(h, pos)
    counts = torch.searchsorted(start, torch.arange(stack.n_layers), right=True)  # runs started by layer l
    target_dev = target.to(stack.device)
    for layer in range(int(start.min()), stack.n_layers):
        c = int(counts[layer])
        kv = PrefixKV(clean.keys[layer].index_select(0, target_dev[:c]),
                      clean.values[layer].index_select(0, target_dev[:c]))
        h[:c] = stack.block(layer, h[:c], (cos[:c], sin[:c]), mask[:c], kv)
    probs = vocab_probs(stack, job, h, n - p - 1, width + torch.arange(n_nodes))
    unchanged = _answer_unchanged(stack, job, clean, h, target, p)
    back = torch.argsort(order)
    return probs[back], unchanged[back]


def _answer_unchanged(stack: Stack, job: PatchJob, clean: CleanTargets, final: Tensor, target: Tensor,
                      p: Tensor) -> Tensor:
    """[R] whether greedy tokens at the answer span's patched positions match the clean target's."""
    rows, cols, expected = [], [], []
    for r, (t, pr) in enumerate(zip(target.tolist(), p.tolist())):
        start, stop = job.answer_spans[t]
        for q in range(max(start, pr), stop):
            rows.append(r), cols.append(q - pr), expected.append(int(clean.greedy[t][q - start]))
    unchanged = torch.ones(final.shape[0], dtype=torch.bool)
    for lo in range(0, len(rows), LOGIT_ROWS):
        r = torch.tensor(rows[lo:lo + LOGIT_ROWS])
        greedy = stack.log_probs(final[r, torch.tensor(cols[lo:lo + LOGIT_ROWS])]).argmax(-1).cpu()
        differs = greedy != torch.tensor(expected[lo:lo + LOGIT_ROWS])
        unchanged[r[differs]] = False
    return unchanged


def run_fast(backend: Backend, job: PatchJob, *, progress: Callable[[int], None] | None = None) -> PatchOutcome:
    """Patched probabilities for every (pair, layer) of ``job``, exact, batched across runs."""
    stack = Stack(backend)
    clean = clean_targets(stack, job)
    n_layers = len(job.layers)
    pair, layer_index = (rearrange(g, "p l -> (p l)") for g in torch.meshgrid(
        torch.arange(job.n_pairs), torch.arange(n_layers), indexing="ij"))
    per_batch = max(1, TOKEN_BUDGET // clean.resid.shape[2])
    patched = torch.empty(len(pair), len(job.trie.token_ids))
    unchanged = torch.ones(len(pair), dtype=torch.bool)
    for lo in range(0, len(pair), per_batch):
        chunk = slice(lo, lo + per_batch)
        patched[chunk], unchanged[chunk] = patch_step(stack, job, clean, pair[chunk], layer_index[chunk])
        if progress is not None:
            progress(len(pair[chunk]))
    return PatchOutcome(patched=rearrange(patched.double().numpy(), "(p l) v -> p l v", l=n_layers),
                        clean=clean.vocab_probs.double().numpy(),
                        answer_unchanged=rearrange(unchanged.numpy(), "(p l) -> p l", l=n_layers), method="fast")
