"""The one model interface: a backend runs token ids, caching and patching TransformerLens hook points.

Every layer above the backend speaks in hook names such as ``blocks.3.hook_resid_pre``; a backend
translates them to its own mechanism (TransformerLens hooks or an nnsight trace).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from workbench.architectures import SITE_NAMES as SITES  # in the order the forward pass reaches them
from workbench.architectures import text_config
from workbench.errors import WorkbenchError, did_you_mean
from workbench.layer_selection import is_index, layer_index

if TYPE_CHECKING:
    from workbench.elicit.confidence import Confidence

_HOOK = re.compile(r"^blocks\.(\d+)\.hook_(\w+)$")


def hook_name(layer: int, site: str, n_layers: int | None = None) -> str:
    """``blocks.{layer}.hook_{site}``, the TransformerLens name of a residual-stream site (one of ``SITES``); a
    negative ``layer`` counts from the end and needs ``n_layers``: ``hook_name(-1, "resid_post", model.n_layers)``."""
    if site not in SITES:
        raise WorkbenchError(f"unknown site {site!r}.{did_you_mean(str(site), SITES)} Choose one of {', '.join(SITES)}")
    if n_layers is not None:
        layer = layer_index(layer, n_layers, "layer", "blocks")
    elif not is_index(layer) or layer < 0:
        raise WorkbenchError(f"layer must be an integer >= 0, got {layer!r}; a negative layer counts from the end "
                             "only with n_layers=, e.g. hook_name(-1, site, model.n_layers)")
    return f"blocks.{int(layer)}.hook_{site}"


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


def _fail(field_name: str, problem: str, fix: str) -> WorkbenchError:
    return WorkbenchError(f"Patch.{field_name}: {problem}; {fix}")


def _check_indices(value: Any, field_name: str) -> None:
    """A 1-d integer tensor of indices >= 0, or one clear error."""
    if not isinstance(value, Tensor):
        raise _fail(field_name, f"must be a torch tensor, got {type(value).__name__}",
                    "pass torch.tensor([...]) of integer indices")
    if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
        raise _fail(field_name, f"must hold integers, got dtype {value.dtype}",
                    "pass integer indices, e.g. torch.tensor([41])")
    if value.ndim != 1:
        raise _fail(field_name, f"must be 1-d (one index per patched row), got shape {tuple(value.shape)}",
                    "give one index per row of values, e.g. torch.tensor([41])")
    if len(value) and int(value.min()) < 0:
        raise _fail(field_name, f"holds a negative index ({int(value.min())})",
                    "count positions and rows from the start (0-based); a negative index is not read from the end")


@dataclass(frozen=True)
class Patch:
    """Write ``act[rows[i], positions[i]] = values[i]`` into a hook point's activation (``mode="add"``: ``+=``,
    steering). Checked on construction and, by ``check``, against the model's input; each problem is one
    ``WorkbenchError``."""

    hook: str
    positions: Tensor  # [n] long
    values: Tensor  # [n, d_model]
    rows: Tensor | None = None  # [n] long; None means rows 0..n-1
    mode: str = "set"

    def __post_init__(self) -> None:
        if not isinstance(self.hook, str) or not _HOOK.match(self.hook) or _HOOK.match(self.hook).group(2) not in SITES:
            raise _fail("hook", f"unknown hook point {self.hook!r}",
                        f"use wb.hook_name(layer, site) with site one of {', '.join(SITES)}")
        if self.mode not in ("set", "add"):
            raise _fail("mode", f"unknown mode {self.mode!r}", "use 'set' (overwrite) or 'add' (add the values)")
        _check_indices(self.positions, "positions")
        if not isinstance(self.values, Tensor) or not self.values.dtype.is_floating_point:
            got = self.values.dtype if isinstance(self.values, Tensor) else type(self.values).__name__
            raise _fail("values", f"must be a floating-point torch tensor, got {got}", "pass activations as floats")
        if self.values.ndim != 2:
            raise _fail("values", f"must be 2-d [n_positions, d_model], got shape {tuple(self.values.shape)}",
                        "use values[None] for a single position")
        if len(self.values) != len(self.positions):
            raise _fail("values", f"has {len(self.values)} rows but positions has {len(self.positions)}",
                        "give one row of values per position")
        if self.rows is not None:
            _check_indices(self.rows, "rows")
            if len(self.rows) != len(self.positions):
                raise _fail("rows", f"has {len(self.rows)} entries but positions has {len(self.positions)}",
                            "give one batch row per position, or rows=None for rows 0..n-1")

    def check(self, batch: int, length: int, d_model: int) -> None:
        """A clear error when this patch does not fit a [batch, length] input of a d_model model."""
        if self.values.shape[1] != d_model:
            raise _fail("values", f"has d_model {self.values.shape[1]} but the model's is {d_model}",
                        "take the values from this model (or a model of the same width)")
        rows = torch.arange(len(self.positions)) if self.rows is None else self.rows
        if len(rows) and int(rows.max()) >= batch:
            where = "rows" if self.rows is not None else "values"
            raise _fail(where, f"patches batch row {int(rows.max())} but the input has {batch} rows",
                        "pass rows= within the batch (rows=None patches rows 0..n-1)")
        if len(self.positions) and int(self.positions.max()) >= length:
            raise _fail("positions", f"holds position {int(self.positions.max())} but the input has {length} tokens",
                        f"use positions 0..{length - 1}")

    def apply(self, act: Tensor) -> Tensor:
        """A patched copy of ``act`` [batch, pos, d_model]."""
        rows = torch.arange(len(self.positions), device=act.device) if self.rows is None else self.rows.to(act.device)
        index = (rows, self.positions.to(act.device))
        values = self.values.to(device=act.device, dtype=act.dtype)
        out = act.clone()
        if self.mode == "add":
            out.index_put_(index, values, accumulate=True)
        else:
            out[index] = values
        return out

    @classmethod
    def from_run(cls, source_run: Any, source_example: int, target_run: Any, target_example: int, *,
                 layer: int, role: str = "confidence_slot", site: str = "resid_pre", model: "Backend | None" = None,
                 mode: str = "set") -> "Patch":
        """The patch writing ``source_run``'s activation at ``role`` of ``source_example`` into ``target_example``
        of ``target_run`` at ``blocks.{layer}.hook_{site}`` (``layer`` -1 is the last block; sites other than
        ``resid_pre``/``resid_post`` need the source ``model``, see ``stored_activation``). Apply it to
        ``target_run.prompt_ids(target_example)``, e.g. ``model.confidence(ids, patches=[patch])``."""
        n_blocks = source_run.n_blocks
        layer = layer_index(layer, n_blocks, "layer", "blocks")
        if target_run.n_blocks != n_blocks or target_run.d_model != source_run.d_model:
            raise WorkbenchError(f"Patch.from_run: the source run has {n_blocks} blocks of d_model "
                                 f"{source_run.d_model} but the target run {target_run.n_blocks} of "
                                 f"{target_run.d_model}; patch between runs of the same architecture")
        value = stored_activation(source_run, source_example, layer=layer, role=role, site=site, model=model)
        position = target_run.example(target_example).positions[role]
        return cls(hook_name(layer, site), positions=torch.tensor([position]), values=value[None], mode=mode)


def stored_activation(run: Any, example: int, *, layer: int, role: str, site: str,
                      model: "Backend | None" = None) -> Tensor:
    """[d_model] float32 activation of ``example`` at ``role`` and ``blocks.{layer}.hook_{site}``: from the run store
    (it keeps every block's ``resid_pre`` and the last ``resid_post``), else one forward through ``model``."""
    hook = hook_name(layer, site, run.n_blocks)
    if site in ("resid_pre", "resid_post") and role in run.roles:  # a read-out: stored
        return torch.from_numpy(run.residuals(hook, role)[run.example(example).row])
    if model is None:
        raise WorkbenchError(f"the run store holds no {site!r} activations (it keeps resid_pre and the last "
                             f"resid_post); pass model= to compute {hook} with one forward pass")
    ex = run.example(example)
    position = ex.positions[role]
    out = model.run(torch.tensor([ex.input_ids]), cache=[hook], cache_positions=torch.tensor([[position]]),
                    logits_to_keep=1)  # (logits are not read)
    return out.activations[hook][0, 0].float().cpu()


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
    """A causal language model that runs token ids with cached and patched hook points: ``hf_model`` is the
    transformers model (under TransformerLens, wrapped in place), ``info`` what the loader knows (name, checksum)."""

    name: ClassVar[str]

    def __init__(self, hf_model: torch.nn.Module, tokenizer: Any, info: dict[str, Any]):
        self.hf_model = hf_model
        self.tokenizer = tokenizer
        self.info = info
        config = text_config(hf_model.config)
        self.n_layers: int = config.num_hidden_layers
        self.d_model: int = config.hidden_size
        self.d_vocab: int = config.vocab_size
        self.architecture: str = config.model_type

    def __repr__(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        return (f"Backend({self.info.get('name')!r}, backend={self.name!r}, dtype={dtype!r}, "
                f"device={str(self.device)!r}, blocks={self.n_layers}, d_model={self.d_model})")

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    def hook_names(self, site: str = "resid_pre") -> list[str]:
        """The hook name of ``site`` at every layer."""
        return [hook_name(layer, site) for layer in range(self.n_layers)]

    def token_ids(self, input_ids: Any) -> Tensor:
        """``input_ids`` as checked token ids [batch, pos] (long): a tensor, an array or a list (``run.prompt_ids(i)``),
        of one sequence [pos] (one row) or of rows of equal length [batch, pos]. Each problem is one
        ``WorkbenchError``: not integers, another shape, no tokens, an id outside the model's vocabulary."""
        try:
            ids = torch.as_tensor(input_ids)
        except (TypeError, ValueError, RuntimeError):
            raise WorkbenchError("input_ids must be token ids of one shape: a list of ints [pos] or of equal-length "
                                 "rows [batch, pos]; pad shorter rows on the left and pass attention_mask "
                                 "(1 = real token)") from None
        if ids.numel() == 0:
            raise WorkbenchError(f"input_ids holds no tokens (shape {tuple(ids.shape)}); pass at least one token id, "
                                 "e.g. run.prompt_ids(0)")
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise WorkbenchError(f"input_ids must be integer token ids, got dtype {ids.dtype}; tokenize the text, "
                                 "e.g. model.tokenizer(text)['input_ids']")
        if ids.ndim not in (1, 2):
            raise WorkbenchError(f"input_ids must be one sequence [pos] or a batch [batch, pos], got shape "
                                 f"{tuple(ids.shape)}")
        outside = (ids < 0) | (ids >= self.d_vocab)
        if bool(outside.any()):  # one device sync per forward
            raise WorkbenchError(f"input_ids holds token id {int(ids[outside][0])}, outside this model's vocabulary of "
                                 f"{self.d_vocab} (ids 0..{self.d_vocab - 1}); tokenize with this model's tokenizer")
        return (ids[None] if ids.ndim == 1 else ids).long()

    def run(
        self,
        input_ids: Tensor,  # [batch, pos], or [pos], or a list of ids
        *,
        attention_mask: Tensor | None = None,  # [batch, past + pos] (padding) or [batch, 1, pos, past + pos] (additive)
        position_ids: Tensor | None = None,  # [batch, pos]
        past_key_values: Any = None,
        cache: Sequence[str] = (),
        cache_positions: Tensor | None = None,  # [batch, k]
        patches: Sequence[Patch] = (),
        grad: bool = False,
        logits_to_keep: int | None = None,
    ) -> RunOutput:
        """One forward pass; ``cache`` hook points are returned at ``cache_positions``, ``patches`` applied first.

        ``grad=True`` runs with autograd on: the logits and the cached activations stay in the graph (cached
        activations are then the hook point's own tensors, so ``torch.autograd.grad(metric, act)`` works).
        ``logits_to_keep=k`` unembeds only the last k positions (``logits`` is then [batch, k, d_vocab]): on a
        big vocabulary the unembedding of every position costs as much as a large part of the decoder body.
        ``input_ids`` may be one sequence [pos] or a list (``run.prompt_ids(i)``); it is checked (``token_ids``).
        """
        input_ids = self.token_ids(input_ids)
        if isinstance(patches, Patch):
            raise WorkbenchError("patches must be a list of Patch objects; pass patches=[patch]")
        for patch in patches:
            if not isinstance(patch, Patch):
                raise WorkbenchError(f"patches must hold wb.Patch objects, got {type(patch).__name__}")
            patch.check(batch=input_ids.shape[0], length=input_ids.shape[-1], d_model=self.d_model)
        for name in [*cache, *(p.hook for p in patches)]:
            parse_hook_name(name, self.n_layers)
        kwargs = {"attention_mask": attention_mask, "position_ids": position_ids,
                  "past_key_values": past_key_values, "use_cache": True, "logits_to_keep": logits_to_keep}
        with torch.set_grad_enabled(grad):
            return self._run(input_ids.to(self.device), {k: v for k, v in kwargs.items() if v is not None},
                             list(cache), cache_positions, list(patches))

    def confidence(self, input_ids: Tensor, *, vocabulary: Any = "percent", patches: Sequence[Patch] = (),
                   attention_mask: Tensor | None = None) -> "Confidence":
        """The exact ``Confidence`` (``.probs`` [batch, n_strings]) after ``input_ids`` [batch, pos], each row ending at
        its confidence slot, scored as collect scores it, with ``patches`` applied; a left-padded batch needs
        ``attention_mask`` [batch, pos] (1 = real token). ``vocabulary``: a name or a ``ConfidenceVocabulary``."""
        from workbench.elicit.confidence import confidence_of

        return confidence_of(self, input_ids, vocabulary=vocabulary, patches=patches, attention_mask=attention_mask)

    @abstractmethod
    def _run(self, input_ids: Tensor, kwargs: dict[str, Any], cache: list[str],
             cache_positions: Tensor | None, patches: list[Patch]) -> RunOutput:
        """Backend-specific forward with hooks; names are already validated."""
