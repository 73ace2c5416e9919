"""The model's own decoder layers, called one by one with explicit positions, masks and key/value prefixes.

The fast patching path and attribution patching need what a backend's ``run`` hides: start at layer L,
feed a residual stream that was patched, attend to another run's cached keys, write or read a site inside
a block. ``Decoder`` calls the very modules the backend's forward calls — each decoder layer's own
``forward``, with the model's own rotary module, attention implementation (sliding windows, q/k norms,
GQA), norms and MLP — and reads where they are from the architecture table (``workbench.architectures``).
Under TransformerLens those layers' sub-modules are the bridge's components, so the numbers are the bridge's.

What the generic loop supplies, being the only things a hand-driven layer needs:
- positions: each row's own (a patched token's position is its prefix length; cached keys carry rotary);
- masks: additive [batch, 1, query, key], built from an ``allowed`` pattern and, on sliding layers, the
  window rule q - k < sliding_window (transformers' sdpa would drop keys if given none, see NOTES-patching);
- a cache: ``PrefixKV`` answers the attention's ``update`` with [prefix | new] without storing into the
  prefix, so one target's prefix serves every run without being mutated across calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from workbench.architectures import architecture, decoder_layers, module_at
from workbench.backends.base import Backend
from workbench.backends.readout import ReadoutHead


class PrefixKV:
    """A one-layer stand-in for a transformers ``Cache``: keys/values of a prefix that new tokens attend to.

    The attention module calls ``update(k, v, layer_idx)`` with the new tokens' keys/values; we return the
    prefix joined with them and keep the new ones (for callers that build a prefix from them). The prefix
    itself is never written, so the same tensors serve any number of calls.
    """

    def __init__(self, keys: Tensor | None, values: Tensor | None):
        self.keys, self.values = keys, values  # [batch, kv_heads, prefix, head_dim] or None
        self.new_keys: Tensor | None = None
        self.new_values: Tensor | None = None

    def update(self, keys: Tensor, values: Tensor, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        self.new_keys, self.new_values = keys, values  # [batch, kv_heads, new, head_dim]
        if self.keys is None or self.keys.shape[2] == 0:
            return keys, values
        return torch.cat([self.keys, keys], dim=2), torch.cat([self.values, values], dim=2)


def _replace_first(value: Any, fn: Callable[[Tensor], Tensor | None]) -> Any:
    """Apply ``fn`` to a module's tensor (or a tuple's first element); None from ``fn`` keeps the value."""
    if isinstance(value, tuple):
        new = fn(value[0])
        return value if new is None else (new, *value[1:])
    new = fn(value)
    return value if new is None else new


class Decoder:
    """A backend's model as pieces: embed, rotary, decoder layers, site hooks, and the read-out head."""

    def __init__(self, backend: Backend):
        hf = backend.hf_model
        self.row = architecture(hf)
        self.backend = backend
        self.layers = decoder_layers(hf)
        self.n_layers = len(self.layers)
        self.embed_tokens = module_at(hf, self.row.embed)
        self.rotary_emb = module_at(hf, self.row.rotary)
        self.head = ReadoutHead.from_model(hf)
        self.layer_types = self.row.layer_types(hf.config)
        self.window = self.row.sliding_window(hf.config)
        self.dtype = backend.dtype
        self.device = backend.device

    def embed(self, ids: Tensor) -> Tensor:
        """ids [batch, pos] -> resid_pre of layer 0 [batch, pos, d_model] (the model's own embedding)."""
        return self.embed_tokens(ids.to(self.device))

    def rotary(self, hidden: Tensor, position_ids: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """cos, sin per layer type for explicit positions [batch, pos] (each row's own positions)."""
        position_ids = position_ids.to(self.device)
        return {kind: self.rotary_emb(hidden, position_ids, *((kind,) if self.row.rotary_takes_layer_type else ()))
                for kind in set(self.layer_types)}

    def masks(self, allowed: Tensor, query_pos: Tensor, key_pos: Tensor) -> dict[str, Tensor]:
        """Additive masks [batch, 1, query, key] per layer type (``Architecture.masks``), on the model's device."""
        return {kind: m.to(self.device) for kind, m in self.row.masks(
            self.backend.hf_model.config, allowed, query_pos, key_pos, self.dtype).items()}

    def layer(self, layer: int, hidden: Tensor, rotary: dict[str, tuple[Tensor, Tensor]],
              masks: dict[str, Tensor], kv: PrefixKV) -> Tensor:
        """resid_pre [batch, pos, d_model] -> resid_post [batch, pos, d_model]: the decoder layer's own forward."""
        kind = self.layer_types[layer]
        out = self.layers[layer](hidden, position_embeddings=rotary[kind], attention_mask=masks[kind],
                                 past_key_values=kv)
        return out[0] if isinstance(out, tuple) else out

    @contextmanager
    def at_site(self, layer: int, site: str, fn: Callable[[Tensor], Tensor | None]) -> Iterator[None]:
        """While open, ``fn`` sees (and may replace) the site's tensor [batch, pos, d_model] at ``layer``."""
        where = self.row.site(site)
        module = module_at(self.layers[layer], where.module)
        if where.slot == "input":
            def pre(_: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
                if args:
                    return (_replace_first(args[0], fn), *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": _replace_first(kwargs["hidden_states"], fn)}
            handle = module.register_forward_pre_hook(pre, with_kwargs=True)
        else:
            handle = module.register_forward_hook(lambda _, args, output: _replace_first(output, fn))
        try:
            yield
        finally:
            handle.remove()

    def log_probs(self, resid_final: Tensor, columns: Tensor | None = None) -> Tensor:
        """Last layer's resid_post [..., d_model] -> next-token log-probs [..., d_vocab] in float32.

        With ``columns`` [k], only those tokens' log-probs [..., k] (the normaliser still spans the vocabulary).
        """
        log_probs = self.head.logits(resid_final).log_softmax(-1)
        return log_probs if columns is None else log_probs[..., columns.to(log_probs.device)]
