"""A model's shape from its config.json alone: where that file is, and the numbers a plan needs from it.

``ModelShape.read(model)`` takes a registry name (the config of its converted checkpoint in the cache), a
directory holding config.json (weights are never read), a config.json file, or a Hugging Face id whose config is
in the local cache. The file must name its ``model_type`` and hold ``hidden_size``, ``num_hidden_layers``,
``num_attention_heads`` and ``intermediate_size`` (in ``text_config`` for multimodal configs such as Gemma 3's);
anything else (key/value heads, head size, vocabulary, sliding windows) is read as transformers reads it, its
class's defaults included (Gemma 3's configs leave ``head_dim`` and ``vocab_size`` to them). The parameter count
is exact: transformers builds the model on the meta device (no memory, no weights), so a multimodal model's
vision tower, which loading also builds, is counted too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.architectures import ARCHITECTURES, SLIDING, Architecture
from workbench.errors import WorkbenchError

REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of one decoder: ``layers`` blocks, ``d_model``, attention ``heads`` x ``head_dim`` (``kv_heads``
    key/value heads), a gated MLP of width ``d_mlp``, ``d_vocab``; ``window`` [layer] is each block's sliding
    window (None: full attention); ``parameters``: every parameter of the model as loading builds it."""

    name: str
    source: str
    model_type: str
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    d_mlp: int
    d_vocab: int
    tied: bool
    window: tuple[int | None, ...]
    parameters: int

    @property
    def block_matmul(self) -> int:
        """Weights one token multiplies in one block: q, o [d_model, heads x head_dim], k, v [d_model, kv_heads x
        head_dim], and the gated MLP's gate, up and down [d_model, d_mlp]."""
        q = self.heads * self.head_dim
        return 2 * self.d_model * q + 2 * self.d_model * self.kv_heads * self.head_dim + 3 * self.d_model * self.d_mlp

    @property
    def unembed(self) -> int:
        return self.d_model * self.d_vocab

    @property
    def text_parameters(self) -> int:
        """The decoder's matmul weights and embeddings (norms and biases, < 0.1%, left out)."""
        return self.layers * self.block_matmul + self.unembed * (1 if self.tied else 2)

    @property
    def kv_width(self) -> int:
        """Keys and values of one token in one block (2 x kv_heads x head_dim numbers)."""
        return 2 * self.kv_heads * self.head_dim

    def attended(self, keys: float) -> float:
        """Keys a query sees, averaged over blocks, when ``keys`` precede it (sliding blocks see their window)."""
        return sum(keys if w is None else min(keys, w) for w in self.window) / self.layers

    def describe(self) -> str:
        heads = f"{self.heads} heads ({self.kv_heads} key/value) x {self.head_dim}"
        sliding = sum(w is not None for w in self.window)
        windows = f", {sliding} sliding-window blocks" if sliding else ""
        return (f"{self.model_type}, {self.layers} blocks, d_model {self.d_model}, {heads}, MLP {self.d_mlp}, "
                f"vocabulary {self.d_vocab}{windows}; {self.parameters / 1e9:.2f}B parameters")

    @classmethod
    def read(cls, model: str) -> "ModelShape":
        """The shape of a registry model, checkpoint or config directory, config.json file or cached hub id."""
        path = config_path(model)
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise WorkbenchError(f"{path}: cannot read it as JSON ({error})") from None
        return cls.from_config(raw, name=model, source=str(path))

    @classmethod
    def from_config(cls, raw: dict[str, Any], *, name: str = "model", source: str = "config.json") -> "ModelShape":
        """The shape described by the contents of a config.json; one error naming the first field it lacks."""
        if not isinstance(raw, dict):
            raise WorkbenchError(f"{source}: a config.json holds one JSON object, not {type(raw).__name__}")
        text = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else raw
        where = "text_config." if text is not raw else ""
        if not isinstance(raw.get("model_type"), str):
            raise WorkbenchError(f"{source} has no 'model_type': plan needs it to read the config as transformers "
                                 "does (e.g. \"llama\", \"qwen2\", \"gemma3\")")
        for field in REQUIRED:
            value = text.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problem = "has no" if field not in text else f"has {value!r} for"
                raise WorkbenchError(f"{source} {problem} '{where}{field}': plan needs it (a positive integer), as "
                                     f"every field of {', '.join(REQUIRED)}")
        config = transformers_config(raw, source)
        text_config = config.get_text_config()
        heads = text_config.num_attention_heads
        row = ARCHITECTURES.get(raw["model_type"], Architecture(raw["model_type"]))
        window = row.sliding_window(config)
        tied = bool(getattr(text_config, "tie_word_embeddings", False) or getattr(config, "tie_word_embeddings", False))
        return cls(name=name, source=source, model_type=raw["model_type"], layers=text_config.num_hidden_layers,
                   d_model=text_config.hidden_size, heads=heads,
                   kv_heads=getattr(text_config, "num_key_value_heads", None) or heads,
                   head_dim=getattr(text_config, "head_dim", None) or text_config.hidden_size // heads,
                   d_mlp=text_config.intermediate_size, d_vocab=text_config.vocab_size, tied=tied,
                   window=tuple(window if kind == SLIDING else None for kind in row.layer_types(config)),
                   parameters=meta_parameters(config, source))


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def transformers_config(raw: dict[str, Any], source: str) -> Any:
    """The config object transformers builds from this config.json (its class's defaults filled in)."""
    from transformers import AutoConfig

    fields = {k: v for k, v in raw.items() if k != "model_type"}
    try:
        with _quiet_transformers():
            return AutoConfig.for_model(raw["model_type"], **fields)
    except (ValueError, TypeError, KeyError) as error:
        raise WorkbenchError(f"{source}: transformers cannot read model_type {raw['model_type']!r} ({error}); the "
                             "workbench loads models through transformers, so plan needs a type it knows") from None


def meta_parameters(config: Any, source: str) -> int:
    """Every parameter of the model loading would build from ``config``, counted on the meta device."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with _quiet_transformers(), torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise WorkbenchError(f"{source}: transformers cannot build a causal language model from this config "
                             f"({error})") from None
    return sum(p.numel() for p in model.parameters())


def config_path(model: str) -> Path:
    """The config.json that ``model`` names; one error saying what would be read otherwise."""
    from workbench.backends.loading import HUB_ID, MODELS, cache_dir

    if model in MODELS:
        spec = MODELS[model]
        found = sorted(cache_dir().glob(f"{spec.name}-*/workbench-conversion.json"))
        exact = [p for p in found if spec.sha256 and p.parent.name.endswith(spec.sha256[:16])]
        if exact or found:
            return (exact or found)[0].parent / "config.json"
        raise WorkbenchError(f"registry model {model!r} has not been converted yet, so {cache_dir()} holds no "
                             f"config.json of it: install its weights (`workbench models --install {model}`) and load "
                             f"it once (`wb.load_model({model!r})` converts it), or pass a directory holding its "
                             "config.json")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WorkbenchError(f"{path} holds no config.json: point at a checkpoint or config directory")
        return path / "config.json"
    if path.is_file():
        return path
    if HUB_ID.fullmatch(model) and not model.startswith((".", "~")):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
        if isinstance(cached, str):
            return Path(cached)
        raise WorkbenchError(f"{model!r}: no such directory, and no config.json of that Hugging Face id in the local "
                             "cache (plan never downloads): pass a directory holding its config.json")
    raise WorkbenchError(f"unknown model {model!r}: pass a registry name ({', '.join(MODELS)}), a directory holding "
                         "config.json, a config.json file, or a cached Hugging Face id")
