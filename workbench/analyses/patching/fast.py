"""The exact fast path: clean target states once, then only what a patch changes, batched across runs.

A patch at layer L and position p changes nothing before p, and nothing at p or after below L. So:

1. ``clean_targets``: one clean forward per target (batched, right-padded; the template prefix that every
   target shares is computed once). It keeps each layer's keys/values of the tokens before the patched
   position, and each layer's residual stream at the patched position and after, including the tokens
   of the confidence vocabulary's trie, appended as a tree (each node sees the sequence and its ancestors).
2. ``run_layers``: every (pair, layer) run restarts at its layer L from the clean resid_pre of its suffix
   (patched position .. confidence slot, then the trie nodes), attending to its target's cached prefix, and
   the source value is written at the site of layer L (a hook on the site's module, from the architecture
   table: the same mechanism for every site and every architecture). A pair's runs ride side by side in one
   batch row, each joining it at its start layer and masked from the others, so the runs share their target's
   prefix keys (no copy per run) and all of them finish in n_layers layer calls.

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
from einops import rearrange, repeat
from torch import Tensor

from workbench.analyses.patching.job import PatchJob, PatchOutcome, compact_trie
from workbench.analyses.patching.layers import Decoder, PrefixKV
from workbench.backends.base import Backend
from workbench.elicit.decoding import pad_rows
from workbench.token_tree import TokenTree, common_prefix

TOKEN_BUDGET = 12_288  # suffix tokens per patch-step batch (bounds memory; ~1 GB for a 135M model)
LOGIT_ROWS = 2_048  # rows per unembedding call on an accelerator (a row of logits is d_vocab floats)
CPU_LOGIT_BYTES = 24 * 2**20  # on CPU, float32 logits per unembedding call (see ``logit_rows``)
ROW_COLUMNS = 128  # run columns per batch row: fewer runs share a prefix copy, less masked attention (best on CPU)
CLEAN_BATCH = 16  # targets per clean forward, grouped by length
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


def logit_rows(d_vocab: int, on_cpu: bool) -> int:
    """Rows per unembedding call. On CPU a block of logits (and its log-softmax) stays under glibc's largest mmap
    threshold (32 MiB), so its memory is reused from the heap instead of being mapped and page-faulted afresh on
    every call: 5% of the fast path on SmolLM2 (49,152 tokens: 128 rows), bit for bit the same numbers."""
    return max(1, min(LOGIT_ROWS, CPU_LOGIT_BYTES // (4 * d_vocab))) if on_cpu else LOGIT_ROWS


def vocab_probs(dec: Decoder, job: PatchJob, final: Tensor, slot: Tensor, tree_cols: Tensor) -> Tensor:
    """Vocabulary probabilities [R, n_strings] from final resid_post [R, cols, d] at slot [R] and tree cols."""
    columns, trie = compact_trie(job.trie)
    out = []
    rows = torch.arange(final.shape[0])
    step = max(1, logit_rows(dec.backend.d_vocab, dec.device.type == "cpu") // (1 + len(tree_cols)))
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


def suffix_allowed(job: PatchJob, clean: CleanTargets, target: Tensor) -> tuple[Tensor, Tensor]:
    """Positions [R, cols] and what each column may see [R, cols, prefix + cols] (bool) of runs on targets [R].

    A run's sequence columns see their target's prefix before the patched position and the earlier columns;
    the trie nodes see the prefix, every real sequence column and their ancestors.
    """
    tree = TokenTree.of(job.trie)
    width, n_nodes = clean.width, len(tree)
    p, n = clean.positions[target], clean.lengths[target]  # [R]
    col = torch.arange(width)
    pos = torch.cat([p[:, None] + col, tree.positions(n)], dim=1)
    real = col[None, :] < (n - p)[:, None]  # [R, width] real sequence columns
    prefix = clean.keys[0].shape[2]
    see_prefix = (torch.arange(prefix)[None, :] < p[:, None])[:, None, :].expand(-1, width + n_nodes, -1)
    seq_seq = (col[None, :] <= col[:, None])[None] & real[:, None, :]
    return pos, torch.cat([see_prefix, tree.after(seq_seq, real)], dim=2)


def row_layout(dec: Decoder, job: PatchJob, clean: CleanTargets, target: Tensor,
               n_runs: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Positions [P, n_runs * cols] and masks [P, 1, n_runs * cols, prefix + n_runs * cols] of rows holding
    ``n_runs`` runs of targets [P] side by side: each run sees what one run sees (``suffix_allowed``) and no other
    run, so the runs of a row share their target's prefix keys instead of each holding a copy."""
    pos, allowed = suffix_allowed(job, clean, target)  # [P, cols], [P, cols, prefix + cols]
    prefix = allowed.shape[2] - pos.shape[1]
    own = allowed[:, None, :, None, prefix:] & torch.eye(n_runs, dtype=torch.bool)[None, :, None, :, None]
    allowed = torch.cat([repeat(allowed[:, :, :prefix], "p c k -> p (n c) k", n=n_runs),
                         rearrange(own, "p n c m d -> p (n c) (m d)")], dim=2)
    pos = repeat(pos, "p c -> p (n c)", n=n_runs)
    return pos, dec.masks(allowed, pos, torch.cat([torch.arange(prefix).expand(len(target), -1), pos], 1))


def run_layers(dec: Decoder, job: PatchJob, clean: CleanTargets, target: Tensor, starts: Tensor,
               values: Tensor | None = None, capture: bool = False) -> tuple[Tensor, dict[int, Tensor]]:
    """Runs side by side, one row per pair: final resid_post [P, n, cols, d_model].

    Row p holds n runs on target[p] (``starts`` [n], ascending): run k joins its row at layer starts[k] from the
    clean suffix there, and ``values`` [P, n, d_model] is written at the site of that layer, column 0 (the
    patched position). So every layer call holds every run that has started, and all runs finish in one pass.
    With ``capture``, the site's tensor [P, width, d_model] at every layer is returned too (for gradients).
    """
    n_runs, cols, prefix = len(starts), clean.resid.shape[2], clean.keys[0].shape[2]
    pos, masks = row_layout(dec, job, clean, target, n_runs)
    h = clean.resid[0, target, :0].to(dec.device)  # [P, 0, d_model]: no run has started
    rotary = dec.rotary(h, pos)
    captured: dict[int, Tensor] = {}
    for layer in range(int(starts[0]), dec.n_layers):
        joining = torch.nonzero(starts == layer).flatten()
        if len(joining):  # (a fresh leaf: with gradients enabled, the graph starts here)
            suffix = clean.resid[layer, target].to(h.device).requires_grad_(torch.is_grad_enabled())
            h = torch.cat([h, *[suffix] * len(joining)], dim=1)
        width = h.shape[1]
        rows = target.to(clean.keys[layer].device)  # the prefix cache lives on the block's device
        kv = PrefixKV(clean.keys[layer].index_select(0, rows), clean.values[layer].index_select(0, rows))
        with ExitStack() as hooks:
            if values is not None and len(joining):
                hooks.enter_context(dec.at_site(layer, job.site, partial(
                    _write_columns, columns=joining * cols, values=values[:, joining])))
            if capture:
                hooks.enter_context(dec.at_site(layer, job.site, partial(captured.__setitem__, layer)))
            h = dec.layer(layer, h, {k: (cos[:, :width], sin[:, :width]) for k, (cos, sin) in rotary.items()},
                          {k: m[..., :width, :prefix + width] for k, m in masks.items()}, kv)
    return rearrange(h, "p (n c) d -> p n c d", c=cols), captured


def _write_columns(act: Tensor, columns: Tensor, values: Tensor) -> Tensor:
    """A copy of a site's tensor [P, width, d_model] with ``values`` [P, k, d_model] at ``columns`` [k]."""
    out = act.clone()
    out[:, columns.to(act.device)] = values.to(device=act.device, dtype=act.dtype)
    return out


@torch.no_grad()
def patch_rows(dec: Decoder, job: PatchJob, clean: CleanTargets, pair: Tensor,
               runs: Tensor) -> tuple[Tensor, Tensor]:
    """Pairs [P] patched at layer indices ``runs`` [n] (start layers ascending): vocabulary probabilities
    [P, n, n_strings] and whether the greedy answer is unchanged [P, n] (trivially so when the patched token
    follows the answer). A patch that leaves a resid site as it was is the clean target and is not recomputed."""
    target = torch.tensor(job.target_of_pair)[pair]
    starts = torch.tensor(job.layers)[runs]
    values = job.values[pair][:, runs].to(dec.dtype)  # [P, n, d_model]
    probs = clean.vocab_probs[target][:, None].repeat(1, len(runs), 1)
    unchanged = torch.ones(len(pair), len(runs), dtype=torch.bool)
    offset = RESID_OFFSET.get(job.site)
    noop = (torch.zeros(len(pair), len(runs), dtype=torch.bool) if offset is None else
            (clean.resid[starts + offset][:, target, 0].transpose(0, 1) == values).all(-1))
    todo = torch.nonzero(~noop.all(0)).flatten()  # runs that change some pair's stream
    if len(todo):
        final, _ = run_layers(dec, job, clean, target, starts[todo], values[:, todo].to(dec.device))
        flat = rearrange(final, "p n c d -> (p n) c d")
        run_target = target.repeat_interleave(len(todo))
        p, n = clean.positions[run_target], clean.lengths[run_target]
        got = vocab_probs(dec, job, flat, n - p - 1, clean.width + torch.arange(final.shape[2] - clean.width))
        same = _answer_unchanged(dec, job, clean, flat, run_target, p)
        changed = ~noop[:, todo]
        probs[:, todo] = torch.where(changed[..., None], got.view(len(pair), len(todo), -1), probs[:, todo])
        unchanged[:, todo] = same.view(len(pair), len(todo)) | ~changed
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
    step = logit_rows(dec.backend.d_vocab, dec.device.type == "cpu")
    for lo in range(0, len(rows), step):
        r = torch.tensor(rows[lo:lo + step])
        greedy = dec.log_probs(final[r, torch.tensor(cols[lo:lo + step])]).argmax(-1).cpu()
        differs = greedy != torch.tensor(expected[lo:lo + step])
        unchanged[r[differs]] = False
    return unchanged


def run_fast(backend: Backend, job: PatchJob, *, progress: Callable[[int], None] | None = None) -> PatchOutcome:
    """Patched probabilities for every (pair, layer) of ``job``, exact, batched across runs."""
    dec = Decoder(backend)
    clean = clean_targets(dec, job)
    cols = clean.resid.shape[2]
    patched = torch.empty(job.n_pairs, len(job.layers), len(job.trie.token_ids))
    unchanged = torch.ones(job.n_pairs, len(job.layers), dtype=torch.bool)
    by_start = torch.argsort(torch.tensor(job.layers), stable=True)
    for runs in by_start.split(max(1, ROW_COLUMNS // cols)):  # a row's runs (attention is quadratic in a row)
        for pair in torch.arange(job.n_pairs).split(max(1, TOKEN_BUDGET // (len(runs) * cols))):
            patched[pair[:, None], runs], unchanged[pair[:, None], runs] = patch_rows(dec, job, clean, pair, runs)
            if progress is not None:
                progress(len(pair) * len(runs))
    return PatchOutcome(patched=patched.double().numpy(), clean=clean.vocab_probs.double().numpy(),
                        answer_unchanged=unchanged.numpy(), method="fast")
