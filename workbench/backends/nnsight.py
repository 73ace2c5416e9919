"""nnsight 0.8 backend: the model wrapped by ``LanguageModel``; hook names map to module inputs/outputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from workbench.backends.base import Backend, Patch, RunOutput, execution_order, gather_positions, parse_hook_name
from workbench.errors import WorkbenchError

# Where each TransformerLens site lives, per architecture: (module path under the layer, "input" | "output").
# Gemma 3 normalises the attention and MLP outputs before adding them to the residual stream.
SITE_MODULES: dict[str, dict[str, tuple[str, str]]] = {
    "llama": {
        "resid_pre": ("", "input"),
        "attn_out": ("self_attn", "output0"),
        "resid_mid": ("post_attention_layernorm", "input"),
        "mlp_out": ("mlp", "output"),
        "resid_post": ("", "output"),
    },
    "gemma3_text": {
        "resid_pre": ("", "input"),
        "attn_out": ("post_attention_layernorm", "output"),
        "resid_mid": ("pre_feedforward_layernorm", "input"),
        "mlp_out": ("post_feedforward_layernorm", "output"),
        "resid_post": ("", "output"),
    },
}
SITE_MODULES["qwen2"] = SITE_MODULES["mistral"] = SITE_MODULES["llama"]


class NNsightBackend(Backend):
    """Runs inside ``LanguageModel.trace``; reads and writes module inputs/outputs in execution order."""

    name = "nnsight"

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, info: dict[str, Any]):
        from nnsight import LanguageModel

        super().__init__(hf_model, tokenizer, info)
        if self.architecture not in SITE_MODULES:
            raise WorkbenchError(
                f"the nnsight backend has no site table for architecture {self.architecture!r} "
                f"(known: {', '.join(sorted(SITE_MODULES))}); use backend='transformer_lens' or add a row to "
                "workbench.backends.nnsight.SITE_MODULES"
            )
        self.lm = LanguageModel(hf_model, tokenizer=tokenizer)

    def _module(self, layer: int, path: str) -> Any:
        module = self.lm.model.layers[layer]
        for part in filter(None, path.split(".")):
            module = getattr(module, part)
        return module

    def _run(self, input_ids: Tensor, kwargs: dict[str, Any], cache: list[str],
             cache_positions: Tensor | None, patches: list[Patch]) -> RunOutput:
        table = SITE_MODULES[self.architecture]
        patch_by_hook: dict[str, list[Patch]] = {}
        for patch in patches:
            patch_by_hook.setdefault(patch.hook, []).append(patch)
        saved: dict[str, Any] = {}
        with self.lm.trace(input_ids, **kwargs):
            for name in execution_order([*cache, *patch_by_hook], self.n_layers):
                layer, site = parse_hook_name(name, self.n_layers)
                path, slot = table[site]
                module = self._module(layer, path)
                act = module.input if slot == "input" else module.output
                if slot == "output0":
                    act = act[0]
                for patch in patch_by_hook.get(name, []):
                    act[:] = patch.apply(act)
                if name in cache:
                    saved[name] = gather_positions(act, cache_positions).clone().save()
            out = self.lm.output.save()
        return RunOutput(out.logits, {name: saved[name] for name in cache}, out.past_key_values)
