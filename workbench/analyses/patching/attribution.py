"""Attribution patching: a linear estimate of every layer's patching effect from one backward pass.

effect(pair, L) ~ (a_source(L) - a_target(L)) . d metric / d a_target(L), at the patched position, for every
layer L at once. Per pair: the source forward (or the run store), one target forward with gradients, one
backward. The metric is read exactly (confidence vocabulary via the trie, tree tokens in the same forward),
so the gradient is that of the metric the exact sweep reports. Positions before the patched one cannot pass
gradient to it, so they run without gradients (the fast path's clean prefix) and only the suffix is
differentiated. ``agreement`` compares the estimate with the exact effects: Spearman over each pair's layer
profile, and over the mean profile.

KL from the target is flat at the target (zero gradient), so it has no linear estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor

from workbench.analyses.patching import fast
from workbench.analyses.patching.job import PatchJob, compact_trie
from workbench.analyses.patching.layers import Decoder
from workbench.analyses.patching.metrics import MetricSpec
from workbench.backends.base import Backend
from workbench.errors import WorkbenchError
from workbench.prompts.vocabulary import ConfidenceVocabulary

LINEAR_METRICS = ("shift", "normalised_shift", "expected", "logit_diff")


def _metric(log_probs: Tensor, spec: MetricSpec, vocabulary: ConfidenceVocabulary) -> Tensor:
    """[batch] expected confidence / 100 or log p(high) - log p(low), from vocabulary log-probs [batch, V]."""
    if spec.name == "logit_diff":
        hi, lo = (vocabulary.strings.index(s) for s in spec.levels)
        return log_probs[:, hi] - log_probs[:, lo]
    probs = log_probs.exp()
    values = torch.tensor(vocabulary.values, dtype=probs.dtype) / 100.0
    return (probs @ values) / probs.sum(-1)


def _target_gradients(dec: Decoder, job: PatchJob, spec: MetricSpec,
                      vocabulary: ConfidenceVocabulary) -> tuple[Tensor, Tensor]:
    """Clean activation and metric gradient at each target's patched position: [T, n_layers_selected, d_model] x2.

    The tokens before the patched position cannot carry gradient to it, so they run once without gradients
    (``clean_targets``: their keys and values); only the suffix (patched position .. slot, then the trie nodes)
    runs again with gradients, through the model's own decoder layers (``fast.run_layers``, the loop the exact
    path runs, with the site captured by a hook at every layer), like a patch run from layer 0 with no patch.
    """
    clean = fast.clean_targets(dec, job)
    target = torch.arange(len(job.targets))
    with torch.enable_grad():
        final, captured = fast.run_layers(dec, job, clean, target, torch.zeros(1, dtype=torch.long), capture=True)
        final = final[:, 0]  # [T, cols, d_model]: one run per target, from layer 0, patching nothing
        columns, trie = compact_trie(job.trie)
        slot = (clean.lengths - clean.positions - 1).to(dec.device)
        slot_lp = dec.log_probs(final[target.to(dec.device), slot], columns).cpu()  # [T, k]
        node_lp = dec.log_probs(final[:, clean.width:], columns).cpu()  # [T, n_nodes, k]
        metric = _metric(trie.log_probs(slot_lp, node_lp), spec, vocabulary)
        chosen = [captured[layer] for layer in job.layers]
        grads = torch.autograd.grad(metric.sum(), chosen)
    acts = torch.stack([c[:, 0].detach() for c in chosen], dim=1)  # column 0 is the patched position
    return acts.float().cpu(), torch.stack([g[:, 0] for g in grads], dim=1).float().cpu()


def attribute(backend: Backend, job: PatchJob, spec: MetricSpec, vocabulary: ConfidenceVocabulary,
              gap: np.ndarray | None = None) -> np.ndarray:
    """Linear estimates [n_pairs, n_layers_selected] of each patch's effect, in the units of ``spec.name``.

    ``gap`` [n_pairs]: source minus target expected confidence, needed for ``normalised_shift``.
    """
    if spec.name not in LINEAR_METRICS:
        raise WorkbenchError(f"attribution patching has no linear estimate of {spec.name!r} (KL is flat at the "
                             f"target); use one of {', '.join(LINEAR_METRICS)}")
    with torch.no_grad():
        acts_t, grads_t = _target_gradients(Decoder(backend), job, spec, vocabulary)  # [T, n_layers, d_model]
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
