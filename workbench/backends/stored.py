"""One stored example's activation at a hook point: from the run store when it holds it, else one forward.

The store keeps ``resid_pre`` of every block and the last block's ``resid_post`` (read-out ``L`` is
``blocks.L.hook_resid_pre``; ``resid_post`` of block L is read-out L + 1). Other sites (``attn_out``,
``resid_mid``, ``mlp_out``) are computed by running the example's stored ids through the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from workbench.backends.base import Backend, hook_name
from workbench.errors import WorkbenchError


def stored_activation(run: Any, example: int, *, layer: int, role: str, site: str,
                      model: Backend | None = None) -> Tensor:
    """[d_model] float32 activation of ``example`` at ``role`` and ``blocks.{layer}.hook_{site}``."""
    hook = hook_name(layer, site, run.n_blocks)
    readout = layer if site == "resid_pre" else layer + 1 if site == "resid_post" else None
    if readout is not None and role in run.roles:
        row = run.example(example).row
        return torch.from_numpy(run.residuals(readout, role)[row])
    if model is None:
        raise WorkbenchError(f"the run store holds no {site!r} activations (it keeps resid_pre and the last "
                             f"resid_post); pass model= to compute {hook} with one forward pass")
    ex = run.example(example)
    position = ex.positions[role]
    out = model.run(torch.tensor([ex.input_ids]), cache=[hook], cache_positions=torch.tensor([[position]]))
    return out.activations[hook][0, 0].float().cpu()
