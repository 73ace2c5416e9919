"""Attribution patching: a linear estimate of every layer's patching effect from one backward pass.

effect(pair, L) ~ (a_source(L) - a_target(L)) . d metric / d a_target(L), at the patched position, for every
layer L at once. Per pair: the source forward (or the run store), one target forward with gradients, one
backward. The metric is read exactly (confidence vocabulary via the trie, tree tokens in the same forward),
so the gradient is that of the metric the exact sweep reports. ``agreement`` compares the estimate with the
exact effects: Spearman over each pair's layer profile, and over the mean profile.

KL from the target is flat at the target (zero gradient), so it has no linear estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor

from workbench.analyses.patching.job import PatchJob, tree_layout
from workbench.analyses.patching.layers import PrefixKV, Stack, additive_mask, supports
from workbench.analyses.patching.metrics import MetricSpec
from workbench.backends.base import Backend
from workbench.elicit.decoding import pad_rows
from workbench.errors import WorkbenchError
from workbench.prompts.vocabulary import ConfidenceVocabulary

LINEAR_METRICS = ("shift", "normalised_shift", "expected", "logit_diff")
BATCH = 4


def _metric(log_probs: Tensor, spec: MetricSpec, vocabulary: ConfidenceVocabulary) -> Tensor:
    """[batch] expected confidence / 100 or log p(high) - log p(low), from vocabulary log-probs [batch, V]."""
    if spec.name == "logit_diff":
        hi, lo = (vocabulary.strings.index(s) for s in spec.levels)
        return log_probs[:, hi] - log_probs[:, lo]
    probs = log_probs.exp()
    values = torch.tensor(vocabulary.values, dtype=probs.dtype) / 100.0
    return (probs @ values) / probs.sum(-1)


def _target_gradients(stack: Stack, job: PatchJob, targets: list[int], spec: MetricSpec,
                      vocabulary: ConfidenceVocabulary) -> tuple[Tensor, Tensor]:
    """Clean activation and metric gradient at each target's patched position: [B, n_layers_selected, d_model] x2."""
    tree_tokens, depth, ancestors = tree_layout(job.trie)
    n_nodes = len(tree_tokens)
    rows = [list(job.targets[t]) for t in targets]
    ids, real = pad_rows(rows, pad_id=0, left=False)
    batch, width = ids.shape
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.cat([ids, tree_tokens.expand(batch, -1)], dim=1)
    pos = torch.cat([torch.arange(width).expand(batch, -1), lengths[:, None] + depth], dim=1)
    q = torch.arange(width)
    allowed = torch.cat([
        torch.cat([(q[None, :] <= q[:, None]).expand(batch, -1, -1), torch.zeros(batch, width, n_nodes, dtype=torch.bool)], 2),
        torch.cat([real.bool()[:, None, :].expand(-1, n_nodes, -1), ancestors.expand(batch, -1, -1)], 2)], 1)
    mask = additive_mask(allowed, stack.dtype).to(stack.device)
    at = torch.tensor([job.positions[t] for t in targets], device=stack.device)
    rows_i = torch.arange(batch, device=stack.device)
    h = stack.embed(ids)
    rotary = stack.rotary(h, pos)
    sites: dict[str, list[Tensor]] = {"resid_pre": [], "attn_out": [], "mlp_out": []}
    for layer in range(stack.n_layers):
        sites["resid_pre"].append(h)
        a = stack.attn_out(layer, h, rotary, mask, PrefixKV(None, None))
        m = stack.mlp_out(layer, h + a)
        sites["attn_out"].append(a)
        sites["mlp_out"].append(m)
        h = h + a + m
    sites["resid_pre"].append(h)  # resid_post of block L is resid_pre of L + 1; the last is the final stream
    slot = stack.log_probs(h[rows_i, (lengths - 1).to(stack.device)]).cpu()
    nodes = stack.log_probs(h[:, width:]).cpu() if n_nodes else slot[:, None, :0]
    metric = _metric(job.trie.log_probs(slot, nodes), spec, vocabulary)
    offset = 1 if job.site == "resid_post" else 0
    chosen = [sites["resid_pre" if job.site in ("resid_pre", "resid_post") else job.site][layer + offset]
              for layer in job.layers]
    grads = torch.autograd.grad(metric.sum(), chosen)
    acts = torch.stack([c[rows_i, at].detach() for c in chosen], dim=1)
    return acts.float().cpu(), torch.stack([g[rows_i, at] for g in grads], dim=1).float().cpu()


def attribute(backend: Backend, job: PatchJob, spec: MetricSpec, vocabulary: ConfidenceVocabulary,
              gap: np.ndarray | None = None) -> np.ndarray:
    """Linear estimates [n_pairs, n_layers_selected] of each patch's effect, in the units of ``spec.name``.

    ``gap`` [n_pairs]: source minus target expected confidence, needed for ``normalised_shift``.
    """
    if spec.name not in LINEAR_METRICS:
        raise WorkbenchError(f"attribution patching has no linear estimate of {spec.name!r} (KL is flat at the "
                             f"target); use one of {', '.join(LINEAR_METRICS)}")
    if not supports(backend):
        raise WorkbenchError(f"attribution patching needs the block table, which architecture "
                             f"{backend.architecture!r} lacks")
    stack = Stack(backend)
    acts, grads = [], []
    for lo in range(0, len(job.targets), BATCH):
        with torch.enable_grad():
            a, g = _target_gradients(stack, job, list(range(lo, min(lo + BATCH, len(job.targets)))), spec, vocabulary)
        acts.append(a)
        grads.append(g)
    acts_t, grads_t = torch.cat(acts), torch.cat(grads)  # [n_targets, n_layers, d_model]
    index = torch.tensor(job.target_of_pair)
    estimate = ((job.values.float() - acts_t[index]) * grads_t[index]).sum(-1).numpy()  # [n_pairs, n_layers]
    if spec.name == "normalised_shift":
        if gap is None:
            raise ValueError("normalised_shift estimates need the source - target gap")
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = np.where(np.abs(gap[:, None]) > 1e-6, estimate / gap[:, None], np.nan)
        estimate = np.clip(estimate, -5, 5)
    return estimate


def agreement(table: pd.DataFrame, estimate: str = "estimate", exact: str = "exact") -> dict[str, float]:
    """Spearman of estimate against exact: per pair over layers (mean and median), and of the mean profiles."""
    per_pair = []
    for _, group in table.groupby("pair_id"):
        group = group.dropna(subset=[estimate, exact])
        if len(group) >= 3 and group[exact].nunique() > 1 and group[estimate].nunique() > 1:
            per_pair.append(stats.spearmanr(group[estimate], group[exact])[0])
    profile = table.groupby("layer")[[estimate, exact]].mean().dropna()
    rho_profile = float(stats.spearmanr(profile[estimate], profile[exact])[0]) if len(profile) >= 3 else float("nan")
    return {"spearman_per_pair_mean": float(np.mean(per_pair)) if per_pair else float("nan"),
            "spearman_per_pair_median": float(np.median(per_pair)) if per_pair else float("nan"),
            "spearman_profile": rho_profile, "n_pairs_compared": len(per_pair)}
