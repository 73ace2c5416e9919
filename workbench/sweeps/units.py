"""Units of work: one stage (collect or an analysis) on one (model, dataset, seed), addressed by a hash.

A unit's address is the hash of what decides its numbers: the stage, the model (name, backend, dtype),
the dataset (and the sha256 of its file), the seed, the stage's parameters, and the addresses of the
units it reads. So a changed collect changes the address of every analysis of its run, and a re-run
finds everything else already done. How a unit runs (batch size, device, device_map, executor) is not
part of the address.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from workbench.store import config_hash
from workbench.configs import STAGE_CONFIGS, StageConfig
from workbench.sweeps.config import ANALYSES, REQUIRES, SET_BY_SWEEP, SweepConfig, SweepModel

UNIT_FORMAT = 1
# stage -> stages it reads when they are in the sweep (beyond the ones it requires)
USES: dict[str, tuple[str, ...]] = {"calibrate": ("probe", "sample"), "steer": ("probe",)}


@dataclass(frozen=True, kw_only=True)
class Unit:
    """One stage on one (model, dataset, seed). ``deps``: stage name -> address of the unit it reads."""

    analysis: str
    model: SweepModel
    dataset: str
    seed: int
    params: StageConfig  # the stage's section; the fields the sweep sets (SET_BY_SWEEP) come from the unit
    deps: Mapping[str, str] = field(default_factory=dict)
    dataset_sha256: str | None = None

    def config(self) -> dict[str, Any]:
        """What the address is the hash of."""
        return {"format": UNIT_FORMAT, "analysis": self.analysis, "model": self.model.content(),
                "dataset": self.dataset, "dataset_sha256": self.dataset_sha256, "seed": self.seed,
                "params": self.hashed_params(), "deps": dict(sorted(self.deps.items()))}

    def hashed_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.content().items() if k not in SET_BY_SWEEP[self.analysis]}

    @cached_property
    def hash(self) -> str:
        return config_hash(self.config())

    @property
    def label(self) -> str:
        return f"{self.analysis} {self.model.short}/{dataset_label(self.dataset)}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to run it elsewhere (another process, a Ray worker): plain JSON."""
        return {"analysis": self.analysis, "model": self.model.to_dict(), "dataset": self.dataset, "seed": self.seed,
                "params": self.params.to_dict(), "deps": dict(self.deps), "dataset_sha256": self.dataset_sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Unit":
        return cls(analysis=data["analysis"], model=SweepModel.from_value(data["model"], "unit.model"),
                   dataset=data["dataset"], seed=int(data["seed"]),
                   params=STAGE_CONFIGS[data["analysis"]].from_dict(data["params"]), deps=dict(data["deps"]),
                   dataset_sha256=data.get("dataset_sha256"))


def dataset_label(dataset: str) -> str:
    from workbench.datasets.registry import MIX

    is_file = "/" in dataset and MIX not in dataset and not dataset.startswith("hf:")
    return Path(dataset).stem if is_file else dataset.replace("/", "_")


def dataset_files(dataset: str) -> list[Path]:
    """The file(s) a local dataset reads: its built-in family's, every family's for ``all``, each part's once
    for a mix, or the file itself."""
    from workbench.datasets.registry import ALL_NAMES, DATA_DIR, builtin_families, builtin_family, mix_parts

    if dataset in ALL_NAMES:
        return [DATA_DIR / f"{family}.jsonl" for family in builtin_families()]
    if parts := mix_parts(dataset):
        return sorted({path for part in parts for path in dataset_files(part)})
    if family := builtin_family(dataset):  # a family or part of one
        return [DATA_DIR / f"{family}.jsonl"]
    return [Path(dataset)]


def dataset_sha256(dataset: str) -> str | None:
    """sha256 of the file(s) a dataset reads (built-in families included); None for hub datasets."""
    if dataset.startswith("hf:"):
        return None
    digest = hashlib.sha256()
    for path in dataset_files(dataset):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def plan_units(config: SweepConfig) -> list[Unit]:
    """Every unit of the sweep, each after the units it reads, units of one model together (so a worker
    keeps one model loaded)."""
    units: list[Unit] = []
    shas = {d: dataset_sha256(d) for d in config.datasets}
    stages = [a for a in ANALYSES if a in config.analyses]  # in stage order: collect first, then those reading it
    for model, dataset, seed in itertools.product(config.models, config.datasets, config.seeds):
        done: dict[str, str] = {}
        for analysis in stages:
            wanted = [*REQUIRES[analysis], *[s for s in USES.get(analysis, ()) if s in config.analyses]]
            unit = Unit(analysis=analysis, model=model, dataset=dataset, seed=seed, params=config.params(analysis),
                        deps={s: done[s] for s in wanted}, dataset_sha256=shas[dataset])
            done[analysis] = unit.hash
            units.append(unit)
    return units

