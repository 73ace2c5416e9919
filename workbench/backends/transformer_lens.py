"""TransformerLens 4 backend: the model wrapped by ``TransformerBridge``, hooked by hook-point name."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from workbench.backends.base import Backend, Patch, RunOutput, gather_positions


class TransformerLensBackend(Backend):
    """Runs through the bridge's hook points; ``bridge`` is the ``TransformerBridge``."""

    name = "transformer_lens"

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, info: dict[str, Any]):
        from transformer_lens.model_bridge import TransformerBridge

        # boot_transformers wraps hf_model in place and makes no hub call when given the model.
        self.bridge = TransformerBridge.boot_transformers(
            info.get("hf_name") or info["name"], hf_model=hf_model, tokenizer=tokenizer,
            device=str(next(hf_model.parameters()).device),
        )
        super().__init__(hf_model, tokenizer, info)

    def _run(self, input_ids: Tensor, kwargs: dict[str, Any], cache: list[str],
             cache_positions: Tensor | None, patches: list[Patch]) -> RunOutput:
        activations: dict[str, Tensor] = {}

        def patch_hook(patch: Patch):
            return lambda act, hook: patch.apply(act)

        def cache_hook(name: str):
            def hook(act: Tensor, hook: Any) -> None:
                picked = gather_positions(act, cache_positions)
                activations[name] = picked if torch.is_grad_enabled() else picked.detach().clone()
            return hook

        hooks = [(p.hook, patch_hook(p)) for p in patches] + [(name, cache_hook(name)) for name in cache]
        with self.bridge.hooks(fwd_hooks=hooks):
            out = self.hf_model(input_ids=input_ids, **kwargs)
        return RunOutput(out.logits, activations, out.past_key_values)
