"""nnsight 0.8 backend: the model wrapped by ``LanguageModel``; hook names map to module inputs/outputs where the
architecture table (``workbench.architectures``) says each site lives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from workbench.architectures import architecture, module_at
from workbench.backends.base import Backend, Patch, RunOutput, execution_order, gather_positions, parse_hook_name


class NNsightBackend(Backend):
    """Runs inside ``LanguageModel.trace``; reads and writes module inputs/outputs in execution order."""

    name = "nnsight"

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, info: dict[str, Any]):
        from nnsight import LanguageModel

        super().__init__(hf_model, tokenizer, info)
        self.row = architecture(hf_model)  # an architecture without a row fails here, saying what to add
        self.lm = LanguageModel(hf_model, tokenizer=tokenizer)

    def _run(self, input_ids: Tensor, kwargs: dict[str, Any], cache: list[str],
             cache_positions: Tensor | None, patches: list[Patch]) -> RunOutput:
        layers = module_at(self.lm, self.row.layers)
        patch_by_hook: dict[str, list[Patch]] = {}
        for patch in patches:
            patch_by_hook.setdefault(patch.hook, []).append(patch)
        saved: dict[str, Any] = {}
        with self._masks_per_layer_type(kwargs), self.lm.trace(input_ids, **kwargs):
            for name in execution_order([*cache, *patch_by_hook], self.n_layers):
                layer, site = parse_hook_name(name, self.n_layers)
                where = self.row.site(site)
                module = module_at(layers[layer], where.module)
                act = module.input if where.slot == "input" else module.output
                if isinstance(act, tuple):
                    act = act[0]
                for patch in patch_by_hook.get(name, []):
                    act[:] = patch.apply(act)
                if name in cache:
                    saved[name] = gather_positions(act, cache_positions).clone().save()
            out = self.lm.output.save()
        return RunOutput(out.logits, {name: saved[name] for name in cache}, out.past_key_values)

    @contextmanager
    def _masks_per_layer_type(self, kwargs: dict[str, Any]) -> Iterator[None]:
        """transformers takes a mapping layer type -> mask as ``attention_mask``; nnsight batches that argument as
        a tensor, so a mapping is popped from ``kwargs`` and handed to the decoder stack's forward directly."""
        masks = kwargs.get("attention_mask")
        if not isinstance(masks, dict):
            yield
            return
        del kwargs["attention_mask"]
        stack = module_at(self.hf_model, self.row.layers.rpartition(".")[0])
        handle = stack.register_forward_pre_hook(lambda _, args, kw: (args, {**kw, "attention_mask": masks}),
                                                 with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
