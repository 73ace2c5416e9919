"""The read-out head alone: final norm, unembedding and final-logit softcap, without the decoder layers.

The logit lens needs only these modules. ``ReadoutHead.from_checkpoint`` builds the model's skeleton on the meta
device and fills only the two modules the architecture table names from the checkpoint's safetensors (the
unembedding from the embedding matrix when tied): the model's own modules and maths (Gemma 3's ``1 + weight``
norm included), at the cost of reading two tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.architectures import architecture, module_at, text_config
from workbench.errors import WorkbenchError


@dataclass
class ReadoutHead:
    """Residual [..., d_model] -> logits [..., d_vocab]: ``unembed(norm(x))``, then softcap if any."""

    norm: torch.nn.Module
    unembed: torch.nn.Module
    softcap: float | None

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> "ReadoutHead":
        """The head of a loaded transformers model (under TransformerLens, the bridge's wrapped modules)."""
        row = architecture(model)
        return cls(module_at(model, row.final_norm), module_at(model, row.unembed), row.final_softcap(model.config))

    @classmethod
    def from_checkpoint(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "ReadoutHead":
        """The head of a local transformers checkpoint, reading only its two modules' tensors."""
        from safetensors import safe_open
        from transformers import AutoConfig, AutoModelForCausalLM

        path = Path(path)
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise WorkbenchError(f"{path} holds no .safetensors files: the read-out head is read from them")
        config = AutoConfig.from_pretrained(path)
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
        row = architecture(skeleton)
        tied = bool(getattr(text_config(config), "tie_word_embeddings", False) or
                    getattr(config, "tie_word_embeddings", False))
        modules = {row.final_norm: module_at(skeleton, row.final_norm), row.unembed: module_at(skeleton, row.unembed)}
        wanted = {f"{prefix}.{name}": (prefix, name) for prefix, module in modules.items()
                  for name in module.state_dict()}
        if tied:
            wanted[f"{row.embed}.weight"] = (row.unembed, "weight")
        found: dict[str, dict[str, torch.Tensor]] = {prefix: {} for prefix in modules}
        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key in wanted:
                        prefix, name = wanted[key]
                        found[prefix].setdefault(name, handle.get_tensor(key))
        for prefix, module in modules.items():
            missing = set(module.state_dict()) - set(found[prefix])
            if missing:
                raise WorkbenchError(f"{path}: the checkpoint lacks {', '.join(f'{prefix}.{m}' for m in missing)}")
            module.to_empty(device="cpu").load_state_dict(found[prefix])
            module.to(dtype)
        return cls(modules[row.final_norm], modules[row.unembed], row.final_softcap(config))

    @property
    def device(self) -> torch.device:
        return next(self.unembed.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unembed.parameters()).dtype

    def logits(self, resid: torch.Tensor) -> torch.Tensor:
        """resid [..., d_model] -> logits [..., d_vocab] in float32 (softcap in the model's dtype, as its forward)."""
        logits = self.unembed(self.norm(resid))
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits.float()

    @torch.no_grad()
    def log_probs(self, resid: np.ndarray | torch.Tensor, token_ids: list[int] | None = None,
                  batch_size: int = 64) -> np.ndarray:
        """log q(t) [n, len(token_ids)] (all tokens when None) from residuals [n, d_model], full-vocabulary softmax."""
        out = []
        for start in range(0, len(resid), batch_size):
            x = torch.as_tensor(resid[start:start + batch_size]).to(device=self.device, dtype=self.dtype)
            lp = self.logits(x).log_softmax(-1)  # [batch, d_vocab]
            out.append((lp if token_ids is None else lp[:, token_ids]).cpu())
        return torch.cat(out).numpy().astype(np.float64)


def checkpoint_head(model_name: str, expected_checksum: str | None = None) -> tuple[ReadoutHead, Any]:
    """The head and tokenizer of a registry name or local checkpoint directory, checked against a checksum."""
    from transformers import AutoTokenizer

    from workbench.backends.loading import resolve

    path, info = resolve(model_name)
    if not Path(path).is_dir():
        raise WorkbenchError(f"{model_name!r} is not a local checkpoint: load the model and pass it instead")
    if expected_checksum and info.get("checksum") and info["checksum"] != expected_checksum:
        raise WorkbenchError(f"the checkpoint {path} has checksum {info['checksum'][:19]} but the run was collected "
                             f"with {expected_checksum[:19]}; the logit lens needs the run's own model")
    return ReadoutHead.from_checkpoint(path), AutoTokenizer.from_pretrained(path)
