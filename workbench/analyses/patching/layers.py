"""The model's own modules, called block by block with explicit masks, positions and key/value prefixes.

The fast patching path and attribution patching need what a backend's ``run`` hides: start at layer L,
feed a residual stream that was patched, attend to another run's cached keys, read ``attn_out`` inside a
block. ``Stack`` calls the very modules the backend's forward calls (for TransformerLens, the bridge's
wrapped modules; for nnsight, plain transformers), so the numbers are those of the same backend's forward.

A block of a llama-like decoder, as transformers writes it:
``mid = resid_pre + attn(ln1(resid_pre))`` and ``resid_post = mid + mlp(ln2(mid))``.
Architectures whose block differs (Gemma 3 normalises the sub-layer outputs) are not in ``PARTS``; callers
fall back to the reference path for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange
from torch import Tensor
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from workbench.backends.base import Backend


@dataclass(frozen=True)
class BlockParts:
    """Attribute names of a decoder block's sub-modules and of the model's shared pieces."""

    ln1: str = "input_layernorm"
    attn: str = "self_attn"
    ln2: str = "post_attention_layernorm"
    mlp: str = "mlp"


LLAMA_LIKE = BlockParts()
# Architectures whose decoder block is exactly pre-norm attention then pre-norm MLP, each added to the stream.
PARTS: dict[str, BlockParts] = {"llama": LLAMA_LIKE, "mistral": LLAMA_LIKE, "qwen2": LLAMA_LIKE}


def supports(backend: Backend) -> bool:
    """Whether ``Stack`` can run this backend's model block by block."""
    return backend.architecture in PARTS


class PrefixKV:
    """A one-layer stand-in for a transformers ``Cache``: keys/values of a prefix that new tokens attend to.

    The attention module calls ``update(k, v, layer_idx)`` with the new tokens' keys/values; we return the
    prefix joined with them (and keep the new ones, for callers that build a prefix from them).
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


def additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """allowed [batch, query, key] bool -> additive mask [batch, 1, query, key] (0 or the dtype's minimum)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)[:, None]


class Stack:
    """A backend's model as pieces: embed, rotary, block halves, final norm and unembedding."""

    def __init__(self, backend: Backend):
        if not supports(backend):
            raise NotImplementedError(f"no block table for architecture {backend.architecture!r}")
        self.backend = backend
        hf = backend.hf_model
        self.parts = PARTS[backend.architecture]
        self.embed_tokens = hf.model.embed_tokens
        self.rotary_emb = hf.model.rotary_emb
        self.norm = hf.model.norm
        self.lm_head = hf.lm_head
        # Under TransformerLens, layers[i] is a BlockBridge around the decoder layer, whose sub-modules are
        # the bridge's components; calling those sub-modules is what the bridge's forward does.
        self.blocks = [getattr(layer, "_original_component", layer) for layer in hf.model.layers]
        self.n_layers = len(self.blocks)
        self.dtype = backend.dtype
        self.device = backend.device

    def _part(self, layer: int, name: str) -> torch.nn.Module:
        return getattr(self.blocks[layer], getattr(self.parts, name))

    def embed(self, ids: Tensor) -> Tensor:
        """ids [batch, pos] -> resid_pre of block 0 [batch, pos, d_model]."""
        return self.embed_tokens(ids.to(self.device))

    def rotary(self, hidden: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        """cos, sin for explicit positions [batch, pos] (each row's own positions, keys already rotated)."""
        return self.rotary_emb(hidden, position_ids=position_ids.to(self.device))

    def attn_out(self, layer: int, resid_pre: Tensor, rotary: tuple[Tensor, Tensor], mask: Tensor,
                 kv: PrefixKV) -> Tensor:
        """The attention sub-layer's output [batch, pos, d_model] (TransformerLens ``hook_attn_out``)."""
        out, _ = self._part(layer, "attn")(
            hidden_states=self._part(layer, "ln1")(resid_pre), position_embeddings=rotary,
            attention_mask=mask, past_key_values=kv)
        return out

    def attn_out_split(self, layer: int, resid_pre: Tensor, rotary: tuple[Tensor, Tensor], mask: Tensor,
                       prefix_keys: Tensor, prefix_values: Tensor) -> Tensor:
        """``attn_out`` of tokens that attend to a cached prefix and to each other, without copying the prefix.

        resid_pre [R, M, d_model]; prefix keys/values [R, kv_heads, P, head_dim] (rotated, as cached); mask
        [R, 1, M, P + M] additive over [prefix | own tokens]. The same computation as the attention module
        (projections are the module's own; rotary is transformers' llama rotation), but the query heads that
        share a key/value head are stacked instead of repeating the prefix's keys and values per query head.
        """
        attn = self._part(layer, "attn")
        hf = getattr(attn, "original_component", None) or attn  # the transformers module (bridge: wrapped)
        x = self._part(layer, "ln1")(resid_pre)
        n_runs, n_tok, _ = x.shape
        kv_heads, head_dim = prefix_keys.shape[1], hf.head_dim
        q = rearrange(hf.q_proj(x), "r m (h d) -> r h m d", d=head_dim)
        k = rearrange(hf.k_proj(x), "r m (h d) -> r h m d", d=head_dim)
        v = rearrange(hf.v_proj(x), "r m (h d) -> r h m d", d=head_dim)
        q, k = apply_rotary_pos_emb(q, k, *rotary)
        q = rearrange(q, "r (g s) m d -> r g (s m) d", g=kv_heads)  # query heads g*s.. share key head g
        scores = torch.cat([q @ prefix_keys.transpose(-1, -2), q @ k.transpose(-1, -2)], dim=-1) * hf.scaling
        scores = rearrange(scores, "r g (s m) k -> r g s m k", m=n_tok) + mask[:, :, None]
        probs = scores.softmax(-1, dtype=torch.float32).to(q.dtype)
        probs = rearrange(probs, "r g s m k -> r g (s m) k")
        prefix = prefix_keys.shape[2]
        out = probs[..., :prefix] @ prefix_values + probs[..., prefix:] @ v  # [R, kv_heads, s * M, head_dim]
        return hf.o_proj(rearrange(out, "r g (s m) d -> r m (g s d)", m=n_tok))

    def mlp_out(self, layer: int, resid_mid: Tensor) -> Tensor:
        """The MLP sub-layer's output [batch, pos, d_model] (``hook_mlp_out``)."""
        return self._part(layer, "mlp")(self._part(layer, "ln2")(resid_mid))

    def finish_block(self, layer: int, resid_mid: Tensor) -> Tensor:
        """resid_post from resid_mid: the second half of a block."""
        return resid_mid + self.mlp_out(layer, resid_mid)

    def block(self, layer: int, resid_pre: Tensor, rotary: tuple[Tensor, Tensor], mask: Tensor,
              kv: PrefixKV) -> Tensor:
        """resid_pre [batch, pos, d_model] -> resid_post [batch, pos, d_model]."""
        return self.finish_block(layer, resid_pre + self.attn_out(layer, resid_pre, rotary, mask, kv))

    def log_probs(self, resid_final: Tensor, columns: Tensor | None = None) -> Tensor:
        """Last block's resid_post [..., d_model] -> next-token log-probs [..., d_vocab] in float32.

        With ``columns`` [k], only those tokens' log-probs [..., k] (the normaliser still spans the vocabulary).
        """
        # log_softmax as the reference scoring computes it (its float32 normaliser is off by ~2e-5 in log space;
        # computing it differently here would put that difference between the fast path and the reference).
        log_probs = self.lm_head(self.norm(resid_final)).float().log_softmax(-1)
        return log_probs if columns is None else log_probs[..., columns.to(log_probs.device)]
