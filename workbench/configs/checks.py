"""Checks of the names that point outside the config, models and datasets (they read the registries and the disk):
each raises ``ValueError`` saying what is wrong and what would be right; the config adds the key."""

from __future__ import annotations

from pathlib import Path

from workbench.configs.registries import models
from workbench.errors import WorkbenchError, did_you_mean


def check_model_name(name: object) -> None:
    """A registry name, a local checkpoint directory, or a Hugging Face id (org/name)."""
    known = models()
    if not isinstance(name, str) or not name:
        raise ValueError("must be a model name")
    if name in known:
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{name} is a directory but holds no config.json (not a checkpoint)")
        return
    if name.count("/") == 1 and not name.startswith((".", "/", "~")) and not path.exists():
        return  # a hub id; whether it can be fetched is known only when it loads
    raise ValueError(f"unknown model {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}; or a "
                     "checkpoint directory that exists, or a Hugging Face id (org/name)")


def check_dataset(name: object) -> None:
    """A built-in name (or part of a family, ``elements/symbol``, or a mix, ``capitals+elements/symbol``),
    ``hf:NAME``, or a file that exists."""
    from workbench.datasets.registry import MIX, builtin_family, list_datasets, load_dataset

    if not isinstance(name, str) or not name:
        raise ValueError("must be a dataset name or file")
    known = list_datasets()
    if name in known or name.startswith("hf:") or Path(name).expanduser().is_file():
        return
    if builtin_family(name) or MIX in name:  # a part or a mix: an unknown part fails here, naming the parts there are
        try:
            load_dataset(name)
        except WorkbenchError as error:
            raise ValueError(str(error)) from None
        return
    if "/" in name or "." in Path(name).name:
        raise ValueError(f"dataset file {name!r} not found (looked for {Path(name).expanduser().resolve()})")
    raise ValueError(f"unknown dataset {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}; or a file "
                     "path, or hf:NAME")
