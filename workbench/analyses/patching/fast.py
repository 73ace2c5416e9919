"""The exact fast path: clean target states once, then only what a patch changes, batched across runs.

A patch at layer L and position p changes nothing before p, and nothing at p or after below L. So:

1. ``clean_targets``: one clean forward per target (batched, right-padded; the template prefix that every
   target shares is computed once). It keeps each layer's keys/values of the tokens before the patched
   position, and each layer's residual stream at the patched position and after, including the tokens
   of the confidence vocabulary's trie, appended as a tree (each node sees the sequence and its ancestors).
2. ``patch_step``: every (pair, layer) run restarts at its layer L from the clean resid_pre of its suffix
   (patched position .. confidence slot, then the trie nodes), attending to its target's cached prefix, and
   the source value is written at the site of layer L (a hook on the site's module, from the architecture
   table: the same mechanism for every site and every architecture). Runs are sorted by start layer; at
   layer l the batch holds every run that started at or before l, so all runs finish in n_layers layer calls.

Exact: every layer is the model's own decoder layer (``Decoder``: its attention implementation, norms, MLP,
rotary module), given explicit positions, masks (sliding windows included) and a cache holding the prefix.
The vocabulary is scored as the reference scores it (logits with softcap, ``log_softmax``, the same trie).
Only the order of floating-point sums differs: ~1e-6 on probabilities against the reference of the same
backend (tested for every architecture row, both backends, in tests/engine/test_parity.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

import torch
from einops import rearrange
from torch import Tensor

from workbench.analyses.patching.job import PatchJob, PatchOutcome, compact_trie
from workbench.analyses.patching.layers import Decoder, PrefixKV
from workbench.backends.base import Backend
from workbench.elicit.decoding import pad_rows
from workbench.token_tree import TokenTree, common_prefix

TOKEN_BUDGET = 12_288  # suffix tokens per patch-step batch (bounds memory; ~1 GB for a 135M model)
LOGIT_ROWS = 2_048  # rows per unembedding call (a row of logits is d_vocab floats)
CLEAN_BATCH = 8  # targets per clean forward, grouped by length
RESID_OFFSET = {"resid_pre": 0, "resid_post": 1}  # the clean stream at layer L + offset holds the site's value


@dataclass
class CleanTargets:
    """Clean states of each target, laid out as the runs that restart from them.

    Run columns: the target's tokens from the patched position to the confidence slot (left-aligned, padded
    to ``width``), then the trie nodes. ``resid[l]`` is layer l's resid_pre there (l = n_layers: the last
    resid_post); ``keys[l]``/``values[l]`` cover positions 0..prefix-1 (a target uses those before its own
    patched position).
    """

    positions: Tensor  # [T] patched position
    lengths: Tensor  # [T] tokens in the sequence
    width: int  # sequence columns of a run (max over targets of length - position)
    resid: Tensor  # [n_layers + 1, T, width + n_nodes, d_model]
    keys: list[Tensor]  # per block [T, kv_heads, prefix, head_dim], on that block's device
    values: list[Tensor]
    vocab_probs: Tensor  # [T, n_strings]
    greedy: list[Tensor]  # per target, greedy next tokens at its answer span


def vocab_probs(dec: Decoder, job: PatchJob, final: Tensor, slot: Tensor, tree_cols: Tensor) -> Tensor:
    """Vocabulary probabilities [R, n_strings] from final resid_post [R, cols, d] at slot [R] and tree cols."""
    columns, trie = compact_trie(job.trie)
    out = []
    rows = torch.arange(final.shape[0])
    step = max(1, LOGIT_ROWS // (1 + len(tree_cols)))
    for start in range(0, final.shape[0], step):
        r = rows[start:start + step]
        at = torch.cat([final[r, slot[r]][:, None], final[r][:, tree_cols]], dim=1)  # [r, 1 + n_nodes, d_model]
        lp = dec.log_probs(at, columns).cpu()  # [r, 1 + n_nodes, n_columns]
        out.append(trie.log_probs(lp[:, 0], lp[:, 1:]).exp())
    return torch.cat(out)


def _shared_prefix(dec: Decoder, ids: list[int]) -> list[tuple[Tensor, Tensor]]:
    """Keys and values [1, kv_heads, len(ids), head_dim] per layer of the prefix that every target starts with."""
    n = len(ids)
    h = dec.embed(torch.tensor([ids]))
    pos = torch.arange(n)[None]
    rotary, masks = dec.rotary(h, pos), dec.masks(torch.ones(n, n, dtype=torch.bool).tril()[None], pos, pos)
    cached = []
    for layer in range(dec.n_layers):
        kv = PrefixKV(None, None)
        h = dec.layer(layer, h, rotary, masks, kv)
        cached.append((kv.new_keys, kv.new_values))
    return cached


def _clean_group(dec: Decoder, job: PatchJob, group: list[int], shared: list[tuple[Tensor, Tensor]] | None,
                 n_shared: int, width: int, prefix: int) -> dict[str, Tensor]:
    """The clean forward of some targets (rest of the sequence + trie tree) on top of the shared prefix."""
    tree = TokenTree.of(job.trie)
    n_targets, n_nodes = len(group), len(tree)
    positions = torch.tensor([job.positions[t] for t in group])
    lengths = torch.tensor([len(job.targets[t]) for t in group])
    rest, real = pad_rows([job.targets[t][n_shared:] for t in group], pad_id=0, left=False)  # [G, N - shared]
    n_rest = rest.shape[1]
    ids = torch.cat([rest, tree.tokens.expand(n_targets, -1)], dim=1)  # [G, Q]
    pos = torch.cat([n_shared + torch.arange(n_rest).expand(n_targets, -1), tree.positions(lengths)], dim=1)
    allowed = tree.after(torch.ones(n_rest, n_rest, dtype=torch.bool).tril().expand(n_targets, -1, -1), real)
    allowed = torch.cat([torch.ones(n_targets, ids.shape[1], n_shared, dtype=torch.bool), allowed], 2)
    masks = dec.masks(allowed, pos, torch.cat([torch.arange(n_shared).expand(n_targets, -1), pos], 1))
    # Each target's run columns (patched position .. slot, padded by repeating the slot; then the trie nodes).
    seq_cols = (positions[:, None] - n_shared + torch.arange(width)).minimum(lengths[:, None] - n_shared - 1)
    cols = torch.cat([seq_cols, n_rest + torch.arange(n_nodes).expand(n_targets, -1)], dim=1)
    gather = cols[:, :, None].expand(-1, -1, dec.backend.d_model).to(dec.device)
    h = dec.embed(ids)
    rotary = dec.rotary(h, pos)
    resid, keys, values = [], [], []
    for layer in range(dec.n_layers):  # h is on the block's device (one device unless a device_map splits the model)
        resid.append(h.gather(1, gather.to(h.device)).to(dec.device))
        cached = shared[layer] if shared else (None, None)
        kv = PrefixKV(*(None if c is None else c.expand(n_targets, -1, -1, -1) for c in cached))
        h = dec.layer(layer, h, rotary, masks, kv)
        k, v = (new if old is None else torch.cat([old, new], dim=2)
                for old, new in ((kv.keys, kv.new_keys), (kv.values, kv.new_values)))
        pad = max(0, prefix - k.shape[2])  # other groups' targets may be longer: zero keys, always masked
        keys.append(torch.nn.functional.pad(k[:, :, :prefix], (0, 0, 0, pad)))
        values.append(torch.nn.functional.pad(v[:, :, :prefix], (0, 0, 0, pad)))
    resid.append(h.gather(1, gather.to(h.device)).to(dec.device))
    spans = [(g, torch.arange(*job.answer_spans[t]) - n_shared) for g, t in enumerate(group)]
    span_rows = torch.cat([torch.full((len(c),), g) for g, c in spans]).long()
    span_cols = torch.cat([c for _, c in spans]).long()
    greedy = dec.log_probs(h[span_rows, span_cols]).argmax(-1).cpu() if len(span_rows) else span_rows
    return {"resid": torch.stack(resid, 1), "keys": keys, "values": values,
            "greedy": list(greedy.split([len(c) for _, c in spans])),
            "lengths": lengths, "positions": positions}


@torch.no_grad()
def clean_targets(dec: Decoder, job: PatchJob) -> CleanTargets:
    """One clean forward of every target and its trie tree, keeping what the runs restart from.

    Targets run in groups of similar length (less padding); the prefix they all share runs once.
    """
    positions = torch.tensor(job.positions)
    lengths = torch.tensor([len(t) for t in job.targets])
    n_shared = common_prefix(job.targets, min(int(positions.min()), *(s for s, _ in job.answer_spans)))
    shared = _shared_prefix(dec, list(job.targets[0][:n_shared])) if n_shared > 0 else None
    width, prefix = int((lengths - positions).max()), int(positions.max())
    order = sorted(range(len(job.targets)), key=lambda t: len(job.targets[t]))
    parts = [_clean_group(dec, job, order[lo:lo + CLEAN_BATCH], shared, n_shared, width, prefix)
             for lo in range(0, len(order), CLEAN_BATCH)]
    back = torch.argsort(torch.tensor(order))

    def per_block(name: str) -> list[Tensor]:  # each block's keys or values stay on that block's device
        return [torch.cat([part[name][b] for part in parts])[back.to(parts[0][name][b].device)]
                for b in range(dec.n_layers)]

    greedy = [g for part in parts for g in part["greedy"]]
    resid = torch.cat([part["resid"] for part in parts])[back.to(dec.device)].transpose(0, 1)  # [n_layers + 1, T, ...]
    n_nodes = resid.shape[2] - width
    probs = vocab_probs(dec, job, resid[-1], lengths - positions - 1, width + torch.arange(n_nodes))
    return CleanTargets(positions, lengths, width, resid, per_block("keys"), per_block("values"), probs,
                        [greedy[i] for i in back.tolist()])


def _start(job: PatchJob, clean: CleanTargets, target: Tensor, layer_index: Tensor,
           values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Start layer [R], the clean suffix [R, cols, d_model] there, and whether the patch leaves the stream
    exactly as it was [R] (such runs are the clean target and are not recomputed; known for resid sites)."""
    start = torch.tensor(job.layers)[layer_index]
    h = clean.resid[start, target].clone()  # [R, cols, d_model]
    offset = RESID_OFFSET.get(job.site)
    if offset is None:
        return start, h, torch.zeros(len(target), dtype=torch.bool)
    return start, h, (clean.resid[start + offset, target, 0] == values).all(-1)


def suffix_layout(dec: Decoder, job: PatchJob, clean: CleanTargets,
                  target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Positions [R, cols] and additive masks per layer type [R, 1, cols, prefix + cols] of runs on targets [R].

    A run's sequence columns see their target's prefix before the patched position and the earlier columns;
    the trie nodes see the prefix, every real sequence column and their ancestors.
    """
    tree = TokenTree.of(job.trie)
    n_runs, width, n_nodes = len(target), clean.width, len(tree)
    p, n = clean.positions[target], clean.lengths[target]  # [R]
    col = torch.arange(width)
    pos = torch.cat([p[:, None] + col, tree.positions(n)], dim=1)
    real = col[None, :] < (n - p)[:, None]  # [R, width] real sequence columns
    prefix = clean.keys[0].shape[2]
    see_prefix = (torch.arange(prefix)[None, :] < p[:, None])[:, None, :].expand(-1, width + n_nodes, -1)
    seq_seq = (col[None, :] <= col[:, None])[None] & real[:, None, :]
    allowed = torch.cat([see_prefix, tree.after(seq_seq, real)], dim=2)
    return pos, dec.masks(allowed, pos, torch.cat([torch.arange(prefix).expand(n_runs, -1), pos], 1))


def run_layers(dec: Decoder, clean: CleanTargets, h: Tensor, start: Tensor, target: Tensor, pos: Tensor,
               masks: dict[str, Tensor], site: str, values: Tensor | None = None,
               capture: bool = False) -> tuple[Tensor, dict[int, Tensor]]:
    """Layers from each run's start on: h [R, cols, d_model] (runs sorted by start) -> final resid_post.

    At layer l the batch holds the runs that started at or before l (a prefix of the sorted runs). ``values``
    [R, d_model] are written at ``site`` of each run's start layer, column 0 (the patched position). With
    ``capture``, the site's tensor [c, cols, d_model] at every layer is returned too (for gradients).
    """
    rotary = dec.rotary(h, pos)
    layers = torch.arange(dec.n_layers)
    first, upto = torch.searchsorted(start, layers), torch.searchsorted(start, layers, right=True)
    target = target.to(dec.device)
    captured: dict[int, Tensor] = {}
    for layer in range(int(start.min()), dec.n_layers):
        lo, c = int(first[layer]), int(upto[layer])  # runs lo..c-1 start here
        rows = target[:c].to(clean.keys[layer].device)  # the prefix cache lives on the block's device
        kv = PrefixKV(clean.keys[layer].index_select(0, rows), clean.values[layer].index_select(0, rows))
        with ExitStack() as hooks:
            if values is not None and lo < c:
                hooks.enter_context(dec.at_site(layer, site, partial(_write, rows=slice(lo, c), values=values)))
            if capture:
                hooks.enter_context(dec.at_site(layer, site, partial(captured.__setitem__, layer)))
            out = dec.layer(layer, h[:c], {k: (cos[:c], sin[:c]) for k, (cos, sin) in rotary.items()},
                            {k: m[:c] for k, m in masks.items()}, kv)
        if c == len(h) or torch.is_grad_enabled():  # (a new tensor keeps autograd's graph intact)
            h = torch.cat([out, h[c:].to(out.device)]) if c < len(h) else out
        else:
            h[:c] = out.to(h.device)
    return h, captured


def _write(act: Tensor, rows: slice, values: Tensor) -> Tensor:
    """A copy of a site's tensor [c, cols, d_model] with ``values[rows]`` at column 0 of ``rows``."""
    out = act.clone()
    out[rows, 0] = values[rows].to(device=act.device, dtype=act.dtype)
    return out


@torch.no_grad()
def patch_step(dec: Decoder, job: PatchJob, clean: CleanTargets, pair: Tensor,
               layer_index: Tensor) -> tuple[Tensor, Tensor]:
    """Runs (pair[r], layer_index[r]), batched by layer: vocabulary probabilities [R, n_strings] and whether
    the greedy answer is unchanged [R] (trivially so when the patched token follows the answer)."""
    target = torch.tensor(job.target_of_pair)[pair]
    values = job.values[pair, layer_index].to(dec.dtype)  # [R, d_model]
    start, h, noop = _start(job, clean, target, layer_index, values)
    probs, unchanged = clean.vocab_probs[target].clone(), torch.ones(len(pair), dtype=torch.bool)
    todo = torch.nonzero(~noop).flatten()
    if len(todo):
        order = todo[torch.argsort(start[todo], stable=True)]
        run_target, run_start = target[order], start[order]
        pos, masks = suffix_layout(dec, job, clean, run_target)
        final, _ = run_layers(dec, clean, h[order].to(dec.device), run_start, run_target, pos, masks, job.site,
                              values[order].to(dec.device))
        p, n = clean.positions[run_target], clean.lengths[run_target]
        probs[order] = vocab_probs(dec, job, final, n - p - 1, clean.width + torch.arange(h.shape[1] - clean.width))
        unchanged[order] = _answer_unchanged(dec, job, clean, final, run_target, p)
    return probs, unchanged


def _answer_unchanged(dec: Decoder, job: PatchJob, clean: CleanTargets, final: Tensor, target: Tensor,
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
        greedy = dec.log_probs(final[r, torch.tensor(cols[lo:lo + LOGIT_ROWS])]).argmax(-1).cpu()
        differs = greedy != torch.tensor(expected[lo:lo + LOGIT_ROWS])
        unchanged[r[differs]] = False
    return unchanged


def run_fast(backend: Backend, job: PatchJob, *, progress: Callable[[int], None] | None = None) -> PatchOutcome:
    """Patched probabilities for every (pair, layer) of ``job``, exact, batched across runs."""
    dec = Decoder(backend)
    clean = clean_targets(dec, job)
    n_layers = len(job.layers)
    pair, layer_index = (rearrange(g, "p l -> (p l)") for g in torch.meshgrid(
        torch.arange(job.n_pairs), torch.arange(n_layers), indexing="ij"))
    per_batch = max(1, TOKEN_BUDGET // clean.resid.shape[2])
    patched = torch.empty(len(pair), len(job.trie.token_ids))
    unchanged = torch.ones(len(pair), dtype=torch.bool)
    for lo in range(0, len(pair), per_batch):
        chunk = slice(lo, lo + per_batch)
        patched[chunk], unchanged[chunk] = patch_step(dec, job, clean, pair[chunk], layer_index[chunk])
        if progress is not None:
            progress(len(pair[chunk]))
    return PatchOutcome(patched=rearrange(patched.double().numpy(), "(p l) v -> p l v", l=n_layers),
                        clean=clean.vocab_probs.double().numpy(),
                        answer_unchanged=rearrange(unchanged.numpy(), "(p l) -> p l", l=n_layers), method="fast")
