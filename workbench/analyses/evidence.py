"""The ladder's evidence on disk: every per-item table the claims read, small enough to commit.

Layout (``EVIDENCE``, e.g. ``docs/ladder/evidence``)::

    EVIDENCE/study.json                      the study's evidence config and its hash (what every unit computed)
    EVIDENCE/<model>/seed<S>/unit.json       model, seed, instruct, why a part is missing, wall times, the tables
                                             it holds, the config hash, library versions, the model checksum
    EVIDENCE/<model>/seed<S>/<table>.parquet one per table of ``TABLES`` that the unit has

``write_unit`` adds the tables a unit has gained and never replaces one already written (``overwrite``
does). ``read_evidence`` gives the claims' ``Evidence`` back from these files alone, so every verdict recomputes
without a model or a run store, and seeds written on different machines combine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analyses.claims import Evidence
from workbench.errors import WorkbenchError
from workbench.store.provenance import config_hash, library_versions, write_bytes_atomic, write_json_atomic
from workbench.store.run_store import config_differences

# table file -> Evidence field
TABLES = {"records": "records", "probe_oof": "oof", "patch_effects": "effects", "patch_controls": "patch_controls",
          "finetune_items": "finetune", "crossmodel_effects": "crossmodel",
          "crossmodel_controls": "crossmodel_controls", "tuning_items": "tuning", "tuning_sets": "tuning_sets"}
RECORD_COLUMNS = ("example_id", "item_id", "family", "question", "gold", "answer", "correct", "verbal_confidence",
                  "softmax_expected", "argmax_confidence", "argmax", "gold_logprob", "answer_prob", "entropy")
UNIT = "unit.json"
STUDY = "study.json"


def unit_dir(root: str | Path, model: str, seed: int) -> Path:
    return Path(root) / model / f"seed{seed}"


def slim(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """What is committed of a table: records without token ids or distributions; probe scores of the logistic
    probe at the confidence slot; patching effects without the patched distributions."""
    if name == "records":
        return table[[c for c in RECORD_COLUMNS if c in table.columns]].reset_index(drop=True)
    if name == "probe_oof":
        keep = (table["probe"] == "logistic") & (table["role"] == "confidence_slot")
        return table[keep].reset_index(drop=True)
    return table.drop(columns=[c for c in ("patched_probs",) if c in table.columns]).reset_index(drop=True)


def check_study(root: Path, config: dict[str, Any]) -> None:
    """``root`` holds evidence of ``config`` (or none yet, then it is recorded); else one error with both hashes
    and the fields that differ."""
    path = root / STUDY
    if not path.exists():
        write_json_atomic(path, {"config": config, "config_hash": config_hash(config)})
        return
    stored = json.loads(path.read_text())
    if stored["config_hash"] != config_hash(config):
        raise WorkbenchError(f"{root} holds evidence of another study config ({stored['config_hash'][:12]} there, "
                             f"{config_hash(config)[:12]} here): {config_differences(stored['config'], config)}. "
                             "Write this study's evidence to another folder (--evidence DIR)")


def write_unit(root: str | Path, config: dict[str, Any], ev: Evidence, meta: dict[str, Any], *,
               overwrite: bool = False) -> list[str]:
    """Write one (model, seed)'s tables that are not there yet (all of them with ``overwrite``); returns the
    tables that were already there and differ from these (kept as they were)."""
    root = Path(root)
    check_study(root, config)
    folder = unit_dir(root, ev.model, ev.seed)
    unit = json.loads((folder / UNIT).read_text()) if (folder / UNIT).exists() else {}
    held, differ = set(unit.get("tables", [])), []
    for name, field in TABLES.items():
        table = getattr(ev, field)
        if table is None or table.empty:
            continue
        table, path = slim(name, table), folder / f"{name}.parquet"
        if path.exists() and not overwrite:
            if not pd.read_parquet(path).equals(table):
                differ.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, table.to_parquet(index=False))
        held.add(name)
    times = {t["stage"]: t for t in [*unit.get("wall_times", []), *meta.get("wall_times", [])]}  # newest wins
    write_json_atomic(folder / UNIT, {**unit, **meta, "model": ev.model, "seed": ev.seed, "instruct": ev.instruct,
                                      "finetune_why": ev.finetune_why if "finetune_items" not in held else None,
                                      "tuning_why": ev.tuning_why if "tuning_items" not in held else None,
                                      "wall_times": sorted(times.values(), key=lambda t: t["stage"]),
                                      "tables": sorted(held), "config_hash": config_hash(config),
                                      "versions": library_versions()})
    return differ


def read_unit(folder: Path, expected_hash: str) -> tuple[Evidence, dict[str, Any]]:
    """One unit's ``Evidence`` and its unit.json; a table it lists but lacks is one error naming it."""
    unit = json.loads((folder / UNIT).read_text())
    where = f"model {unit['model']!r}, seed {unit['seed']}"
    if unit["config_hash"] != expected_hash:
        raise WorkbenchError(f"{folder} ({where}) is evidence of another study config ({unit['config_hash'][:12]}, "
                             f"the folder's study.json says {expected_hash[:12]}); move it to its own folder")
    tables = {}
    for name in ["records", *unit["tables"]]:
        path = folder / f"{name}.parquet"
        if not path.exists():
            raise WorkbenchError(f"the evidence table {name!r} of {where} is missing: {path} (re-export it with "
                                 "`workbench replicate` from the run stores, or restore the file)")
        tables[TABLES[name]] = pd.read_parquet(path)
    return Evidence(model=unit["model"], seed=int(unit["seed"]), instruct=bool(unit["instruct"]),
                    finetune_why=unit.get("finetune_why"), tuning_why=unit.get("tuning_why"), **tables), unit


def read_evidence(root: str | Path, models: list[str] | None = None) -> tuple[dict[str, Any], list[Evidence], list[dict]]:
    """(the study's evidence config, every unit's Evidence, every unit's unit.json) under ``root``: the units of
    ``models`` (all when None), models in that order, seeds ascending."""
    root = Path(root)
    if not (root / STUDY).exists():
        raise WorkbenchError(f"{root} holds no evidence ({STUDY} is missing): give the folder that "
                             "`workbench replicate` wrote its evidence to (by default OUT/evidence)")
    study = json.loads((root / STUDY).read_text())
    names = models or sorted(p.name for p in root.iterdir() if p.is_dir())
    evidence, units = [], []
    for model in names:
        for folder in sorted((root / model).glob("seed*/"), key=lambda p: int(p.name[4:])):
            if (folder / UNIT).exists():
                ev, unit = read_unit(folder, study["config_hash"])
                evidence.append(ev)
                units.append(unit)
    if not evidence:
        raise WorkbenchError(f"{root} holds no evidence unit{' of ' + ', '.join(names) if models else ''}")
    return study["config"], evidence, units
