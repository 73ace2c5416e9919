"""``load_dataset``: one entry point for the built-in families, local files in published formats, and the hub.

The built-in families are the JSONL files in ``DATA_DIR`` (made by ``scripts/build_datasets.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.datasets.formats import load_file
from workbench.datasets.hub import load_hub
from workbench.datasets.items import QAItem
from workbench.datasets.records import SUFFIXES
from workbench.datasets.sampling import stratified_sample
from workbench.errors import WorkbenchError, did_you_mean

DATA_DIR: Path = Path(os.environ.get("WORKBENCH_DATA_DIR") or Path(__file__).resolve().parents[2] / "data")
ALL_NAMES: tuple[str, ...] = ("all", "builtin")  # every built-in family, mixed
MIX = "+"  # joins built-in names into one dataset: capitals+elements/symbol


def list_datasets() -> list[str]:
    """The names ``load_dataset`` knows: each built-in family, then ``all`` and ``builtin``."""
    return [*builtin_families(), *ALL_NAMES]


def builtin_families() -> list[str]:
    """The built-in families: the ``*.jsonl`` files in ``DATA_DIR``, sorted."""
    return sorted(path.stem for path in DATA_DIR.glob("*.jsonl"))


def builtin_family(name: str) -> str | None:
    """The built-in family that ``name`` reads (``elements`` for ``elements`` and ``elements/symbol``), or None
    (``all``, an existing file, anything else)."""
    family = name.split("/")[0]
    return family if family in builtin_families() and not Path(name).exists() else None


def mix_parts(name: str) -> list[str] | None:
    """The built-in names (families, parts of one, ``all``) a mix such as ``capitals+elements/symbol`` joins, or None
    for any other name; a mix gives a study more items than one part holds, on parts the models can answer."""
    if MIX not in name or name.startswith("hf:") or Path(name).exists():
        return None
    parts = [part.strip() for part in name.split(MIX)]
    for part in parts:
        if not part or not (part in ALL_NAMES or builtin_family(part)):
            raise WorkbenchError(f"{part!r} in the dataset mix {name!r} is not a built-in dataset; each part of "
                                 f"a mix is one of {', '.join(list_datasets())} or a part such as elements/symbol")
    return parts


def load_dataset(
    name_or_path: str | Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    split: str | None = None,
    format: str | None = None,
) -> list[QAItem]:
    """Items of a built-in family (or part of one: ``elements/symbol``), of ``all`` families, of a local file, or
    of ``hf:NAME[/CONFIG]``; ``limit`` keeps a seeded sample stratified by family; ``split`` is for hub datasets
    only; ``format`` (one of ``formats.FORMATS``) is for files whose name does not say it."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise WorkbenchError(f"limit must be a positive integer or None, not {limit!r}")
    items = _load(name_or_path, split=split, format=format)
    return items if limit is None else stratified_sample(items, limit=limit, seed=seed)


def _subfamily(name: str) -> list[QAItem]:
    """Items of a built-in family whose id starts with ``name`` (``elements/symbol``, ``arithmetic/mul1``)."""
    family = name.split("/")[0]
    items = load_file(DATA_DIR / f"{family}.jsonl", format="workbench")
    chosen = [item for item in items if item.item_id.startswith(name.rstrip("/") + "/")]
    if not chosen:
        subs = sorted({item.item_id.rsplit("/", 1)[0] for item in items})
        raise WorkbenchError(f"no items of {name!r} in the built-in family {family!r}.{did_you_mean(name, subs)} "
                             f"Its parts: {', '.join(subs)}")
    return chosen


def _load(name_or_path: str | Path, *, split: str | None, format: str | None) -> list[QAItem]:
    name = str(name_or_path)
    if isinstance(name_or_path, str) and name.startswith("hf:"):
        if format is not None:
            raise WorkbenchError("format= is for local files; hub datasets have a known format, drop it")
        return load_hub(name.removeprefix("hf:"), split=split)
    if split is not None:
        raise WorkbenchError(f"split= is for hub datasets ('hf:...'); {name!r} has one split, drop split=")
    if isinstance(name_or_path, str) and (parts := mix_parts(name)):
        if format is not None:
            raise WorkbenchError(f"format= is for local files; {name!r} is a mix of built-in datasets, drop it")
        items = {item.item_id: item for part in parts for item in _load(part, split=None, format=None)}
        return list(items.values())  # an item in two parts (all+capitals) counts once
    families = builtin_families()
    if isinstance(name_or_path, str) and (name in families or name in ALL_NAMES):
        if format is not None:
            raise WorkbenchError(f"format= is for local files; {name!r} is a built-in dataset, drop it")
        if not families:
            raise WorkbenchError(f"no built-in datasets in {DATA_DIR}; run scripts/build_datasets.py")
        chosen = families if name in ALL_NAMES else [name]
        return [item for family in chosen for item in load_file(DATA_DIR / f"{family}.jsonl", format="workbench")]
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and builtin_family(name):
        return _subfamily(name)
    if path.is_file() or isinstance(name_or_path, Path) or "/" in name or path.suffix.lower() in SUFFIXES:
        return load_file(path, format=format)
    raise WorkbenchError(
        f"unknown dataset {name!r}; use one of {', '.join(list_datasets())}, a path to a local file, "
        f"or hf:NAME.{did_you_mean(name, list_datasets())}"
    )
