"""Adapters on disk: checkpoints, the final adapter, its manifest, the base-model check, and merging.

Layout of a fine-tuning directory::

    OUT/finetune.json                  config, config hash, base model, probe, run (written first)
    OUT/checkpoints/step-000050/       adapter (peft, safetensors), optimizer.safetensors, manifest
    OUT/adapter/                       the finished adapter + workbench-adapter.json (complete: true)
    OUT/merged/                        base + adapter merged: a plain checkpoint for ``load_model``

Every directory appears by an atomic rename of a finished temporary one, so a killed run leaves whole
checkpoints only. The optimiser state is stored as safetensors (tensors) plus JSON (the rest), not pickled.
The manifest records the base model's checksum; applying or merging an adapter onto any other model is
refused (``check_base``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from workbench.backends.loading import load_transformers as load_base  # the base model, loaded as load_model does
from workbench.errors import WorkbenchError
from workbench.store.provenance import honour_umask

ADAPTER_FORMAT = 1
MANIFEST = "workbench-adapter.json"
FINAL = "adapter"
CHECKPOINTS = "checkpoints"
MERGED_MARKER = "workbench-merged.json"
KEEP = 2  # checkpoints kept


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing an older one (modes as the umask says)."""
    honour_umask(tmp)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


@contextmanager
def _writing(final: Path, prefix: str = ".writing-") -> Iterator[Path]:
    """A temporary directory beside ``final`` to fill; published as ``final`` when the block ends, removed if it
    fails."""
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=prefix))
    try:
        yield tmp
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_adapter(directory: Path, model: Any, manifest: dict[str, Any]) -> None:
    model.save_pretrained(directory, safe_serialization=True)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().reshape(-1).contiguous()
                scalars[f"{index}.{key}"] = list(value.shape)
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "entries": scalars}


def write_checkpoint(out: Path, model: Any, optimizer: torch.optim.Optimizer, manifest: dict[str, Any]) -> Path:
    """OUT/checkpoints/step-NNNNNN with the adapter, optimiser state and manifest; older ones pruned."""
    root = Path(out) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{manifest['step']:06d}"
    with _writing(final) as tmp:
        _save_adapter(tmp, model, manifest)
        tensors, rest = _optimizer_state(optimizer)
        save_file(tensors, tmp / "optimizer.safetensors")
        (tmp / "optimizer.json").write_text(json.dumps(rest, default=float))
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: str | Path) -> Path | None:
    """The checkpoint with the most steps, or None."""
    found = sorted(p for p in (Path(out) / CHECKPOINTS).glob("step-*") if (p / MANIFEST).exists())
    return found[-1] if found else None


def restore(checkpoint: Path, model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Load a checkpoint's adapter weights and optimiser state into ``model`` and ``optimizer``; its manifest."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
    tensors = load_file(checkpoint / "optimizer.safetensors")
    rest = json.loads((checkpoint / "optimizer.json").read_text())
    state: dict[int, dict[str, Any]] = {}
    for key, value in rest["entries"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensors[key].reshape(value) if key in tensors else value
    optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})
    return read_manifest(checkpoint)


def write_final(out: Path, model: Any, manifest: dict[str, Any]) -> Path:
    """OUT/adapter: the finished adapter and its manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _writing(out / FINAL) as tmp:
        _save_adapter(tmp, model, manifest)
    return out / FINAL


def read_manifest(adapter_dir: str | Path) -> dict[str, Any]:
    """The workbench manifest of an adapter directory; a clear error when it is not one."""
    path = Path(adapter_dir) / MANIFEST
    if not path.exists():
        raise WorkbenchError(f"{adapter_dir} is not a workbench adapter (no {MANIFEST}); train one with "
                             "`workbench finetune`")
    manifest = read_json(path)
    if manifest.get("format") != ADAPTER_FORMAT:
        raise WorkbenchError(f"{adapter_dir} was written in adapter format {manifest.get('format')}; this version "
                             f"reads {ADAPTER_FORMAT}")
    return manifest


def check_base(manifest: dict[str, Any], checksum: str | None, name: str = "this model") -> None:
    """Refuse an adapter trained on another base model than the one (by checksum) it is applied to."""
    expected = manifest.get("base", {}).get("checksum")
    if expected is None or checksum is None:
        raise WorkbenchError("cannot check the adapter's base model: a checksum is missing")
    if expected != checksum:
        raise WorkbenchError(f"the adapter was trained on {manifest['base'].get('name')!r} (checksum {expected[:19]}), "
                             f"not on {name} ({checksum[:19]}); apply it to the model it was trained on")


def apply_adapter(model: Any, info: dict[str, Any], adapter_dir: str | Path) -> Any:
    """``model`` (plain transformers, loaded with ``info``) with the adapter on it, after the base check."""
    from peft import PeftModel

    check_base(read_manifest(adapter_dir), info.get("checksum"), repr(info.get("name")))
    return PeftModel.from_pretrained(model, str(adapter_dir))


def merge(adapter_dir: str | Path, out_dir: str | Path, *, base: str | None = None) -> Path:
    """Merge the adapter into its base model and save a plain checkpoint at ``out_dir`` (reused when it
    already holds this adapter's merge). ``base`` names the base model when it has moved; it is checked."""
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    manifest = read_manifest(adapter_dir)
    if not manifest.get("complete"):
        raise WorkbenchError(f"{adapter_dir} is an unfinished checkpoint (step {manifest.get('step')}); resume the "
                             "training first")
    marker = {"adapter": str(adapter_dir.resolve()), "adapter_config_hash": manifest["config_hash"],
              "adapter_step": manifest["step"], "base": manifest["base"]}
    if (out_dir / MERGED_MARKER).exists() and read_json(out_dir / MERGED_MARKER) == json.loads(
            json.dumps(marker, default=str)):
        return out_dir
    model, tokenizer, info = load_base(base or _base_source(manifest), device="cpu",
                                       dtype=manifest["base"].get("dtype", "float32"))
    merged = apply_adapter(model, info, adapter_dir).merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _writing(out_dir, prefix=f".{out_dir.name}-") as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MERGED_MARKER).write_text(json.dumps(marker, indent=2, default=str))
    return out_dir


def _base_source(manifest: dict[str, Any]) -> str:
    """What ``resolve`` needs to load the adapter's base model again: a registry name or a directory."""
    kind, colon, where = str(manifest["base"].get("source", "")).partition(":")
    return where if colon and kind in ("dir", "hf") else manifest["base"]["name"]
