"""Attribution patching: a linear estimate of every layer's patching effect from one backward pass.

effect(pair, L) ~ (a_source(L) - a_target(L)) . d metric / d a_target(L), at the patched position, for every
layer L at once. Per pair: the source forward (or the run store), one target forward with gradients, one
backward. The metric is read exactly (confidence vocabulary via the trie, tree tokens in the same forward),
so the gradient is that of the metric the exact sweep reports. Positions before the patched one cannot pass
gradient to it, so they run without gradients (the fast path's clean prefix) and only the suffix is
differentiated. ``agreement`` compares the estimate with the exact effects: Spearman over each pair's layer
profile, and over the mean profile.

``tolerance`` (an extension, off by default): a linear estimate can be far off where a block downstream of the
patch responds non-linearly to it (in SmolLM2, the early layers' estimates overshoot until block 9 runs exactly).
With a tolerance, each patch also runs exactly, block by block from its layer, and after each block j the linear
estimate from there, (h_patched(j+1) - h_clean(j+1)) . d metric / d h(j+1) over every column, is compared with the
one before; the patch stops at the first block where the two agree within ``tolerance`` (relative, with a floor of
``ATOL``) and that estimate is kept. A patch that never converges runs to the end and is exact. On SmolLM2's 16
pairs x 30 layers, tolerance 0.1 ran about 14% of the exact path's block-runs (README, Benchmarks).

KL from the target is flat at the target (zero gradient), so it has no linear estimate.
"""

from __future__ import annotations

from contextlib import ExitStack, nullcontext
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor

from workbench.analyses.patching import fast
from workbench.analyses.patching.job import PatchJob, compact_trie
from workbench.analyses.patching.layers import Decoder, PrefixKV
from workbench.analyses.patching.metrics import MetricSpec
from workbench.backends.base import Backend
from workbench.errors import WorkbenchError
from workbench.prompts.vocabulary import ConfidenceVocabulary

LINEAR_METRICS = ("shift", "normalised_shift", "expected", "logit_diff")
ATOL = 1e-4  # with a tolerance: two estimates this close (in the metric's units) agree, however small
# sites written at the end of their block: the estimate after that block is the linear one again, so the first
# comparison comes a block later (on an architecture that norms the block's output, that block is merely spent)
LINEAR_AFTER_START = ("mlp_out", "resid_post")


def _metric(log_probs: Tensor, spec: MetricSpec, vocabulary: ConfidenceVocabulary) -> Tensor:
    """[batch] expected confidence / 100 or log p(high) - log p(low), from vocabulary log-probs [batch, V]."""
    if spec.name == "logit_diff":
        hi, lo = (vocabulary.strings.index(s) for s in spec.levels)
        return log_probs[:, hi] - log_probs[:, lo]
    probs = log_probs.exp()
    values = torch.tensor(vocabulary.values, dtype=probs.dtype) / 100.0
    return (probs @ values) / probs.sum(-1)


def _vocabulary_metric(dec: Decoder, job: PatchJob, clean: fast.CleanTargets, final: Tensor, target: Tensor,
                       spec: MetricSpec, vocabulary: ConfidenceVocabulary) -> Tensor:
    """[R] the metric read from final resid_post [R, cols, d_model] of runs on targets [R] (trie tokens included)."""
    columns, trie = compact_trie(job.trie)
    slot = (clean.lengths[target] - clean.positions[target] - 1).to(final.device)
    slot_lp = dec.log_probs(final[torch.arange(len(target), device=final.device), slot], columns).cpu()  # [R, k]
    node_lp = dec.log_probs(final[:, clean.width:], columns).cpu()  # [R, n_nodes, k]
    return _metric(trie.log_probs(slot_lp, node_lp), spec, vocabulary)


def _target_gradients(dec: Decoder, job: PatchJob, clean: fast.CleanTargets, spec: MetricSpec,
                      vocabulary: ConfidenceVocabulary, blocks: range = range(0)) -> dict[str, Any]:
    """The clean targets' metric and its gradients, from one backward pass.

    ``acts``, ``grads``: the clean activation and the metric's gradient at each target's patched position
    [T, n_layers_selected, d_model]; ``metric`` [T]; ``resid``: block -> the gradient at that block's resid_pre
    over every run column [T, cols, d_model], for each of ``blocks`` (for ``tolerance``).

    The tokens before the patched position cannot carry gradient to it, so they run once without gradients
    (``clean_targets``: their keys and values); only the suffix (patched position .. slot, then the trie nodes)
    runs again with gradients, through the model's own decoder layers (``fast.run_layers``, the loop the exact
    path runs, with the site captured by a hook at every layer), like a patch run from layer 0 with no patch.
    """
    target = torch.arange(len(job.targets))
    resid: dict[int, Tensor] = {}
    with torch.enable_grad(), ExitStack() as hooks:
        for block in blocks:
            hooks.enter_context(dec.at_site(block, "resid_pre", partial(resid.__setitem__, block)))
        final, captured = fast.run_layers(dec, job, clean, target, torch.zeros(1, dtype=torch.long), capture=True)
        metric = _vocabulary_metric(dec, job, clean, final[:, 0], target, spec, vocabulary)
        chosen = [captured[layer] for layer in job.layers]
        grads = torch.autograd.grad(metric.sum(), chosen + [resid[b] for b in blocks])
    acts = torch.stack([c[:, 0].detach() for c in chosen], dim=1)  # column 0 is the patched position
    return {"acts": acts.float().cpu(), "grads": torch.stack([g[:, 0] for g in grads[:len(chosen)]], 1).float().cpu(),
            "metric": metric.detach(), "resid": dict(zip(blocks, grads[len(chosen):]))}


def _converged(dec: Decoder, job: PatchJob, clean: fast.CleanTargets, gradients: dict[str, Any], linear: np.ndarray,
               spec: MetricSpec, vocabulary: ConfidenceVocabulary, tolerance: float) -> np.ndarray:
    """Estimates [n_pairs, n_layers_selected] refined block by block until the linear tail converges (``tolerance``,
    module docstring). ``linear``: the plain estimates."""
    target_of = torch.tensor(job.target_of_pair)
    out = linear.copy()
    pos, masks = fast.row_layout(dec, job, clean, target_of, 1)  # one run a row: [P, cols], [P, 1, cols, keys]
    rotary = dec.rotary(clean.resid[0, target_of].to(dec.device), pos)
    for i, start in enumerate(job.layers):
        rows = torch.arange(job.n_pairs)  # pairs still refining
        h = clean.resid[start, target_of].to(dec.device)  # [rows, cols, d_model]
        before = torch.as_tensor(linear[:, i], dtype=torch.float32)
        write = partial(fast._write_columns, columns=torch.tensor([0]), values=job.values[:, [i]].to(dec.dtype))
        # (the value is written once, at the start block, before any pair stops)
        for block in range(start, dec.n_layers):
            on = target_of[rows]
            kv = PrefixKV(clean.keys[block][on.to(clean.keys[block].device)],
                          clean.values[block][on.to(clean.values[block].device)])
            with dec.at_site(block, job.site, write) if block == start else nullcontext():
                h = dec.layer(block, h, {k: (c[rows], s[rows]) for k, (c, s) in rotary.items()},
                              {k: m[rows] for k, m in masks.items()}, kv)
            if block + 1 == dec.n_layers:  # ran to the end: exact
                exact = _vocabulary_metric(dec, job, clean, h, on, spec, vocabulary) - gradients["metric"][on]
                out[rows.numpy(), i] = exact.float().numpy()
                break
            grad = gradients["resid"][block + 1][on.to(dec.device)]
            now = ((h - clean.resid[block + 1, on].to(h.device)).float() * grad.float()).sum((-1, -2)).cpu()  # [rows]
            done = (now - before).abs() <= ATOL + tolerance * now.abs()
            if block == start and job.site in LINEAR_AFTER_START:
                done[:] = False
            out[rows[done].numpy(), i] = now[done].numpy()
            keep = ~done
            if not keep.any():
                break
            rows, h, before = rows[keep], h[keep.to(h.device)], now[keep]
    return out


def attribute(backend: Backend, job: PatchJob, spec: MetricSpec, vocabulary: ConfidenceVocabulary,
              gap: np.ndarray | None = None, tolerance: float | None = None) -> np.ndarray:
    """Estimates [n_pairs, n_layers_selected] of each patch's effect, in the units of ``spec.name``: linear, or with
    ``tolerance`` refined block by block where the linear tail has not converged (module docstring).

    ``gap`` [n_pairs]: source minus target expected confidence, needed for ``normalised_shift``.
    """
    if spec.name not in LINEAR_METRICS:
        raise WorkbenchError(f"attribution patching has no linear estimate of {spec.name!r} (KL is flat at the "
                             f"target); use one of {', '.join(LINEAR_METRICS)}")
    dec = Decoder(backend)
    with torch.no_grad():
        clean = fast.clean_targets(dec, job)
        blocks = range(min(job.layers) + 1, dec.n_layers) if tolerance is not None else range(0)
        gradients = _target_gradients(dec, job, clean, spec, vocabulary, blocks)  # [T, n_layers, d_model] x2
        index = torch.tensor(job.target_of_pair)
        estimate = ((job.values.float() - gradients["acts"][index]) * gradients["grads"][index]).sum(-1).numpy()
        if tolerance is not None:
            estimate = _converged(dec, job, clean, gradients, estimate, spec, vocabulary, tolerance)
    if spec.name == "normalised_shift":
        if gap is None:
            raise ValueError("normalised_shift estimates need the source - target gap")
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = np.where(np.abs(gap[:, None]) > 1e-6, estimate / gap[:, None], np.nan)
        estimate = np.clip(estimate, -5, 5)
    return estimate


def agreement(table: pd.DataFrame, estimate: str = "estimate", exact: str = "exact") -> dict[str, float]:
    """Spearman of estimate against exact: per pair (and role) over layers (mean and median), and of the mean
    profiles over layers."""
    per_pair = []
    for _, group in table.groupby(["pair_id", "role"] if "role" in table.columns else "pair_id"):
        group = group.dropna(subset=[estimate, exact])
        if len(group) >= 3 and group[exact].nunique() > 1 and group[estimate].nunique() > 1:
            per_pair.append(stats.spearmanr(group[estimate], group[exact])[0])
    profile = table.groupby("layer")[[estimate, exact]].mean().dropna()
    rho_profile = float(stats.spearmanr(profile[estimate], profile[exact])[0]) if len(profile) >= 3 else float("nan")
    return {"spearman_per_pair_mean": float(np.mean(per_pair)) if per_pair else float("nan"),
            "spearman_per_pair_median": float(np.median(per_pair)) if per_pair else float("nan"),
            "spearman_profile": rho_profile, "n_pairs_compared": len(per_pair)}
