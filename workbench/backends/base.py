"""The one model interface: a backend runs token ids, caching and patching TransformerLens hook points.

Every layer above the backend speaks in hook names such as ``blocks.3.hook_resid_pre``; a backend
translates them to its own mechanism (TransformerLens hooks or an nnsight trace).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from workbench.errors import WorkbenchError

# Sites inside one block, in the order the forward pass reaches them.
SITES: tuple[str, ...] = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")
_HOOK = re.compile(r"^blocks\.(\d+)\.hook_(\w+)$")


def hook_name(layer: int, site: str) -> str:
    """``blocks.{layer}.hook_{site}``, the TransformerLens name of a residual-stream site."""
    return f"blocks.{layer}.hook_{site}"


def parse_hook_name(name: str, n_layers: int) -> tuple[int, str]:
    """(layer, site) of a hook name, with a clear error for a malformed name or a layer out of range."""
    match = _HOOK.match(name)
    if not match or match.group(2) not in SITES:
        raise WorkbenchError(
            f"unknown hook point {name!r}: use 'blocks.{{L}}.hook_{{site}}' with site one of {', '.join(SITES)}"
        )
    layer = int(match.group(1))
    if not 0 <= layer < n_layers:
        raise WorkbenchError(f"layer {layer} out of range in {name!r}: this model has layers 0..{n_layers - 1}")
    return layer, match.group(2)


def execution_order(names: Sequence[str], n_layers: int) -> list[str]:
    """Hook names sorted in the order the forward pass reaches them (nnsight needs this order)."""
    def key(name: str) -> tuple[int, int]:
        layer, site = parse_hook_name(name, n_layers)
        return layer, SITES.index(site)

    return sorted(set(names), key=key)


PATCH_MODES: tuple[str, ...] = ("set", "add")


@dataclass(frozen=True)
class Patch:
    """Change a hook point's activation at one position per row.

    ``mode="set"`` overwrites, ``act[rows[i], positions[i]] = values[i]`` (activation patching);
    ``mode="add"`` adds, ``act[rows[i], positions[i]] += values[i]`` (steering along a direction).
    """

    hook: str
    positions: Tensor  # [n] long
    values: Tensor  # [n, d_model]
    rows: Tensor | None = None  # [n] long; None means rows 0..n-1
    mode: str = "set"

    def apply(self, act: Tensor) -> Tensor:
        """A patched copy of ``act`` [batch, pos, d_model]."""
        if self.mode not in PATCH_MODES:
            raise WorkbenchError(f"unknown patch mode {self.mode!r}: use 'set' (overwrite) or 'add' (add the values)")
        rows = torch.arange(len(self.positions), device=act.device) if self.rows is None else self.rows.to(act.device)
        index = (rows, self.positions.to(act.device))
        values = self.values.to(device=act.device, dtype=act.dtype)
        out = act.clone()
        if self.mode == "add":
            out.index_put_(index, values, accumulate=True)
        else:
            out[index] = values
        return out


@dataclass
class RunOutput:
    """What one forward pass returns: logits, the cached activations, and the key/value cache."""

    logits: Tensor  # [batch, pos, d_vocab]
    activations: dict[str, Tensor] = field(default_factory=dict)  # hook -> [batch, n_positions, d_model]
    past_key_values: Any = None


def gather_positions(act: Tensor, positions: Tensor | None) -> Tensor:
    """act [batch, pos, d_model] at positions [batch, k] -> [batch, k, d_model]; all positions when None."""
    if positions is None:
        return act
    index = positions.to(act.device).unsqueeze(-1).expand(-1, -1, act.shape[-1])
    return act.gather(1, index)


class Backend(ABC):
    """A causal language model that runs token ids with cached and patched hook points.

    ``hf_model`` is the transformers model underneath (for TransformerLens, wrapped in place by the
    bridge), ``tokenizer`` its tokenizer, ``info`` what the loader knows (name, checksum, source).
    """

    name: ClassVar[str]

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, info: dict[str, Any]):
        self.hf_model = hf_model
        self.tokenizer = tokenizer
        self.info = info
        config = hf_model.config.get_text_config() if hasattr(hf_model.config, "get_text_config") else hf_model.config
        self.n_layers: int = config.num_hidden_layers
        self.d_model: int = config.hidden_size
        self.architecture: str = config.model_type

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    def hook_names(self, site: str = "resid_pre") -> list[str]:
        """The hook name of ``site`` at every layer."""
        return [hook_name(layer, site) for layer in range(self.n_layers)]

    def run(
        self,
        input_ids: Tensor,  # [batch, pos]
        *,
        attention_mask: Tensor | None = None,  # [batch, past + pos] (padding) or [batch, 1, pos, past + pos] (additive)
        position_ids: Tensor | None = None,  # [batch, pos]
        past_key_values: Any = None,
        cache: Sequence[str] = (),
        cache_positions: Tensor | None = None,  # [batch, k]
        patches: Sequence[Patch] = (),
        grad: bool = False,
    ) -> RunOutput:
        """One forward pass; ``cache`` hook points are returned at ``cache_positions``, ``patches`` applied first.

        ``grad=True`` runs with autograd on: the logits and the cached activations stay in the graph (cached
        activations are then the hook point's own tensors, so ``torch.autograd.grad(metric, act)`` works).
        """
        for name in [*cache, *(p.hook for p in patches)]:
            parse_hook_name(name, self.n_layers)
        kwargs = {"attention_mask": attention_mask, "position_ids": position_ids,
                  "past_key_values": past_key_values, "use_cache": True}
        with torch.set_grad_enabled(grad):
            return self._run(input_ids.to(self.device), {k: v for k, v in kwargs.items() if v is not None},
                             list(cache), cache_positions, list(patches))

    @abstractmethod
    def _run(self, input_ids: Tensor, kwargs: dict[str, Any], cache: list[str],
             cache_positions: Tensor | None, patches: list[Patch]) -> RunOutput:
        """Backend-specific forward with hooks; names are already validated."""
