"""Source activations: what each pair writes into its target, at every patched layer.

``resid_pre`` and ``resid_post`` at a stored role come from the source run's store (resid_post of block L
is resid_pre of block L + 1; the last block's resid_post is the store's last layer), when the store kept
them in float32. Anything else (``attn_out``, ``mlp_out``, the off-position role, a float16 store) is read
from one forward per distinct source example, caching every patched layer at the role position.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from workbench.analyses.patching.pairs import PairSet
from workbench.backends.base import Backend, hook_name
from workbench.elicit.decoding import pad_rows

FORWARD_BATCH = 8


def _stored_names(site: str, layers: tuple[int, ...], n_blocks: int) -> list[str]:
    """The run-store layer name holding each layer's activation (resid_post of L is resid_pre of L + 1)."""
    if site == "resid_pre":
        return [hook_name(layer, "resid_pre") for layer in layers]
    return [hook_name(layer + 1, "resid_pre") if layer + 1 < n_blocks else hook_name(layer, "resid_post")
            for layer in layers]


def from_store(pairs: PairSet, site: str, layers: tuple[int, ...], role: str) -> bool:
    """Whether the source run's store holds these activations exactly (float32, this role, these layers)."""
    run = pairs.source
    if site not in ("resid_pre", "resid_post") or role not in run.roles or run.manifest.get("dtype") != "float32":
        return False
    return set(_stored_names(site, layers, run.n_blocks)) <= {run.readouts[i] for i in run.stored_readouts}


def source_activations(pairs: PairSet, site: str, layers: tuple[int, ...], role: str,
                       backend: Backend) -> tuple[Tensor, str]:
    """[n_pairs, n_layers_selected, d_model] source activations, and where they came from ("store" | "forward").

    ``backend`` runs the source model (for cross-model pairs, the fine-tuned one).
    """
    source_ids = pairs.table["source_id"].to_numpy()
    if from_store(pairs, site, layers, role):
        rows = pairs.source.records.reset_index(drop=True)
        index = rows.reset_index().set_index("example_id").loc[source_ids, "index"].to_numpy()
        names = _stored_names(site, layers, pairs.source.n_blocks)
        stored = pairs.source.readouts
        stacked = np.stack([pairs.source.residuals(stored.index(name), role)[index] for name in names], axis=1)
        return torch.from_numpy(stacked), "store"
    positions, _ = pairs.positions(role)
    unique, inverse = np.unique(source_ids, return_inverse=True)
    pos_of = dict(zip(source_ids.tolist(), positions.tolist()))
    records = pairs.source.records.set_index("example_id")
    acts = activations_at(backend, [records.loc[e, "input_ids"] for e in unique], [pos_of[e] for e in unique],
                          site, layers)
    return acts[torch.from_numpy(inverse)], "forward"


def activations_at(backend: Backend, sequences: list, positions: list[int], site: str,
                   layers: tuple[int, ...]) -> Tensor:
    """[n_sequences, n_layers_selected, d_model] float32 activations at ``blocks.{layer}.hook_{site}``, at one
    position of each sequence, from forwards of ``FORWARD_BATCH`` sequences."""
    hooks = [hook_name(layer, site) for layer in layers]
    acts = []
    for lo in range(0, len(sequences), FORWARD_BATCH):
        # Right-padded: real tokens never see the padding, so no mask is needed and positions are exact.
        ids, _ = pad_rows(list(sequences[lo:lo + FORWARD_BATCH]), pad_id=0, left=False)
        at = torch.tensor([[p] for p in positions[lo:lo + FORWARD_BATCH]])
        out = backend.run(ids, cache=hooks, cache_positions=at, logits_to_keep=1)  # (logits are not read)
        acts.append(torch.stack([out.activations[h][:, 0].float().cpu() for h in hooks], dim=1))
    return torch.cat(acts)
