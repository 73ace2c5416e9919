"""One table of decoder architectures: where every site, module and setting the workbench uses lives.

Everything that walks a model by hand (the nnsight backend, fast patching and attribution, the logit lens, the
fine-tuning loss) reads a row of ``ARCHITECTURES``. A new family costs a row, not new code: the generic loop calls
the model's *own* decoder layers, attention and norms, so a row only says where they are.

A site is ``(module, slot)``: ``module`` is a dotted path under one decoder layer ("" is the layer itself) and
``slot`` says which of its tensors the site is: ``input`` (the first positional input), ``output`` (the
output, or its first element when the module returns a tuple). The TransformerLens names follow:
``resid_pre`` is the layer's input, ``attn_out``/``mlp_out`` what the sub-layer adds to the residual stream
(Gemma 3 adds the *post-normalised* outputs, as TransformerLens's bridge also hooks them), ``resid_mid``
the stream between the two halves, ``resid_post`` the layer's output.

Sliding windows and layer types are read from the model's config (``config.layer_types``, else every layer
``sliding_attention`` when ``config.sliding_window`` is set — Mistral — else ``full_attention``); a sliding
layer lets position q see keys k with q - k < ``config.sliding_window`` (transformers' own rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from workbench.errors import WorkbenchError

SITE_NAMES: tuple[str, ...] = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")
FULL, SLIDING = "full_attention", "sliding_attention"


@dataclass(frozen=True)
class Site:
    """A residual-stream site: a module under the decoder layer ("" = the layer) and ``input`` | ``output``."""

    module: str
    slot: str


@dataclass(frozen=True)
class Sites:
    """Where the five TransformerLens sites of one decoder layer live."""

    resid_pre: Site = Site("", "input")
    attn_out: Site = Site("self_attn", "output")
    resid_mid: Site = Site("post_attention_layernorm", "input")
    mlp_out: Site = Site("mlp", "output")
    resid_post: Site = Site("", "output")


PRE_NORM_SITES = Sites()  # llama-like: x + attn(ln1 x), then + mlp(ln2 x)
# Gemma 3: x + post_attention_layernorm(attn(input_layernorm x)), then + post_feedforward_layernorm(mlp(...)).
SANDWICH_NORM_SITES = Sites(attn_out=Site("post_attention_layernorm", "output"),
                            resid_mid=Site("pre_feedforward_layernorm", "input"),
                            mlp_out=Site("post_feedforward_layernorm", "output"))


@dataclass(frozen=True)
class Architecture:
    """Where one decoder family keeps its parts (dotted paths from the ``*ForCausalLM`` model)."""

    model_type: str
    sites: Sites = PRE_NORM_SITES
    layers: str = "model.layers"
    embed: str = "model.embed_tokens"
    rotary: str = "model.rotary_emb"
    rotary_takes_layer_type: bool = False  # gemma3: rotary_emb(x, position_ids, layer_type) (local and global)
    final_norm: str = "model.norm"
    unembed: str = "lm_head"
    softcap: str = "final_logit_softcapping"  # config attribute; absent or None means no softcapping

    def site(self, name: str) -> Site:
        if name not in SITE_NAMES:
            raise WorkbenchError(f"unknown site {name!r}: choose one of {', '.join(SITE_NAMES)}")
        return getattr(self.sites, name)

    def layer_types(self, config: Any) -> tuple[str, ...]:
        """``full_attention`` | ``sliding_attention`` of every decoder layer."""
        config = text_config(config)
        types = getattr(config, "layer_types", None)
        if types:
            return tuple(types[:config.num_hidden_layers])
        return ((SLIDING if getattr(config, "sliding_window", None) else FULL),) * config.num_hidden_layers

    def sliding_window(self, config: Any) -> int | None:
        return getattr(text_config(config), "sliding_window", None)

    def final_softcap(self, config: Any) -> float | None:
        return getattr(text_config(config), self.softcap, None) or None

    def masks(self, config: Any, allowed: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor,
              dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Additive masks [batch, 1, query, key] per layer type, from allowed [batch, query, key] (bool) and the
        positions of the queries [batch, query] and keys [batch, key]: sliding layers also need q - k < window."""
        window = self.sliding_window(config)
        out = {}
        for kind in set(self.layer_types(config)):
            keep = allowed
            if kind == SLIDING and window:
                keep = allowed & ((query_pos[:, :, None] - key_pos[:, None, :]) < window)
            out[kind] = torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(
                ~keep, torch.finfo(dtype).min)[:, None]
        return out

    def forward_mask(self, config: Any, allowed: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor,
                     dtype: torch.dtype) -> torch.Tensor | dict[str, torch.Tensor]:
        """The ``attention_mask`` for the model's own forward: one mask when every layer has the same type,
        else transformers' mapping from layer type to mask (which such models accept as given)."""
        masks = self.masks(config, allowed, query_pos, key_pos, dtype)
        return next(iter(masks.values())) if len(masks) == 1 else masks


ARCHITECTURES: dict[str, Architecture] = {row.model_type: row for row in (
    Architecture("llama"),
    Architecture("mistral"),
    Architecture("qwen2"),
    Architecture("qwen3"),  # q/k norms live inside its attention module: nothing to say here
    Architecture("gemma3_text", sites=SANDWICH_NORM_SITES, rotary_takes_layer_type=True),
    Architecture("gemma3", sites=SANDWICH_NORM_SITES, rotary_takes_layer_type=True,  # multimodal: the text part
                 layers="model.language_model.layers", embed="model.language_model.embed_tokens",
                 rotary="model.language_model.rotary_emb", final_norm="model.language_model.norm"),
)}


def text_config(config: Any) -> Any:
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def architecture(model_type_or_model: str | torch.nn.Module) -> Architecture:
    """The row of a model (or of a ``config.model_type``); one error naming the row to add otherwise."""
    name = model_type_or_model if isinstance(model_type_or_model, str) else model_type_or_model.config.model_type
    row = ARCHITECTURES.get(name)
    if row is None:
        raise WorkbenchError(
            f"architecture {name!r} has no row in the architecture table (known: {', '.join(ARCHITECTURES)}): "
            f"add Architecture({name!r}, ...) to ARCHITECTURES in workbench/architectures.py, saying where its "
            "decoder layers, sites, rotary embedding, final norm and unembedding live")
    return row


def module_at(root: torch.nn.Module, path: str) -> Any:
    """The sub-module (or nnsight envoy) at a dotted path under ``root`` ("" is ``root`` itself)."""
    module = root
    for part in filter(None, path.split(".")):
        module = getattr(module, part)
    return module


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's decoder layers as called by its forward (under TransformerLens, the wrapped transformers
    layers, whose sub-modules are the bridge's components)."""
    row = architecture(model)
    return [getattr(layer, "_original_component", layer) for layer in module_at(model, row.layers)]
